#!/usr/bin/python3
"""A fault-injecting HTTP proxy for the registry tests.

Usage: faultproxy.py PORT UPSTREAM_HOST:PORT FAULTS.json LOG

Forwards every request to the upstream registry (keeping the Host header, so
the registry's Location URLs point back at the proxy) and appends one line per
request to LOG: "METHOD PATH BODY_BYTES STATUS". FAULTS.json is re-read on
every request; when its content changes the "once" counters start over:
  max_body: N          answer 413 to any request whose body is larger than N
  drop_once: METHOD    drop the connection halfway through the body of the
                       first such request that carries a body
  fail_once: METHOD    answer 500 to the first such request (not forwarded)
  lose_reply_once: METHOD  forward the first such request with a body, then
                       drop the connection instead of answering
  corrupt_blobs: true  flip a byte in every blob a GET returns
  garble_once: TEXT    append a newline to the body of the first PUT whose path
                       contains TEXT (still valid JSON, another digest)
  fail_after: TEXT     forward every PUT whose path contains TEXT, then answer
                       500 instead of the registry's reply
  drop_v2: N           close the connection of the first N "GET /v2/" requests
  fail_blob: TEXT      answer 404 to a blob GET whose path contains TEXT
  slow_blobs: N        send blob GET replies at about N bytes a second
  stall_uploads_after: N  forward the first N blob uploads that carry a
                       body; hold every later one (not forwarded) until the
                       faults change or 60 s pass, then drop it: a sync to
                       kill -9 with exactly N blobs in the registry
"""
import time
import http.client
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
UP_HOST, UP_PORT = sys.argv[2].rsplit(':', 1)
FAULTS = sys.argv[3]
LOG = sys.argv[4]
state = {'raw': None, 'used': set(), 'count': {}}
lock = threading.Lock()
HOP = {'connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade',
       'proxy-connection', 'content-length'}


def faults():
    try:
        raw = open(FAULTS).read()
    except OSError:
        raw = '{}'
    with lock:
        if raw != state['raw']:
            state['raw'] = raw
            state['used'] = set()
            state['count'] = {}
    try:
        return json.loads(raw or '{}')
    except ValueError:
        return {}


def once(name):
    with lock:
        if name in state['used']:
            return False
        state['used'].add(name)
        return True


def count(name):
    with lock:
        state['count'][name] = state['count'].get(name, 0) + 1
        return state['count'][name]


def log(line):
    with lock:
        with open(LOG, 'a') as f:
            f.write(line + '\n')


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *a):
        pass

    def read_body(self, limit=None):
        if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
            out = b''
            while True:
                n = int(self.rfile.readline().split(b';')[0], 16)
                if n == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get('Content-Length') or 0)
        if limit is not None:
            n = min(n, limit)
        return self.rfile.read(n) if n else b''

    def reply(self, status, body=b'', headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def handle_any(self):
        f = faults()
        m = self.command
        declared = int(self.headers.get('Content-Length') or 0)
        if f.get('drop_once') == m and declared > 0 and once('drop'):
            self.read_body(limit=declared // 2)
            log('%s %s %d DROP' % (m, self.path, declared // 2))
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        body = self.read_body()
        if (f.get('stall_uploads_after') is not None and '/blobs/uploads/' in self.path
                and body and count('uploads') > int(f['stall_uploads_after'])):
            log('%s %s %d STALL' % (m, self.path, len(body)))
            raw = state['raw']
            for _ in range(600):
                if state['raw'] != raw:
                    break
                time.sleep(0.1)
                faults()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if m == 'GET' and self.path == '/v2/' and count('v2') <= int(f.get('drop_v2', 0)):
            log('%s %s %d DROP' % (m, self.path, len(body)))
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if (f.get('fail_blob') and m == 'GET' and '/blobs/' in self.path
                and f['fail_blob'] in self.path):
            log('%s %s %d 404' % (m, self.path, len(body)))
            self.reply(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"injected"}]}',
                       [('Content-Type', 'application/json')])
            return
        if f.get('max_body') is not None and len(body) > int(f['max_body']):
            log('%s %s %d 413' % (m, self.path, len(body)))
            self.reply(413, b'{"errors":[{"code":"SIZE_INVALID","message":"too large"}]}',
                       [('Content-Type', 'application/json')])
            return
        if f.get('fail_once') == m and once('fail'):
            log('%s %s %d 500' % (m, self.path, len(body)))
            self.reply(500, b'{"errors":[{"code":"UNKNOWN","message":"injected"}]}',
                       [('Content-Type', 'application/json')])
            return
        if (f.get('garble_once') and m == 'PUT' and f['garble_once'] in self.path and body
                and once('garble')):
            body = body + b'\n'
            log('%s %s %d GARBLED' % (m, self.path, len(body)))
        conn = http.client.HTTPConnection(UP_HOST, int(UP_PORT), timeout=60)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        if body or m in ('PUT', 'POST', 'PATCH'):
            hdrs['Content-Length'] = str(len(body))
        conn.request(m, self.path, body=body if body or m != 'GET' else None, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if f.get('lose_reply_once') == m and body and once('lose'):
            log('%s %s %d LOST' % (m, self.path, len(body)))
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if f.get('fail_after') and m == 'PUT' and f['fail_after'] in self.path:
            log('%s %s %d %d FAILED-AFTER' % (m, self.path, len(body), resp.status))
            self.reply(500, b'{"errors":[{"code":"UNKNOWN","message":"injected after"}]}',
                       [('Content-Type', 'application/json')])
            return
        if (f.get('corrupt_blobs') and m == 'GET' and '/blobs/sha256:' in self.path
                and resp.status == 200 and data):
            data = data[:-1] + bytes([data[-1] ^ 0xff])
        log('%s %s %d %d' % (m, self.path, len(body), resp.status))
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        if m == 'HEAD':
            self.send_header('Content-Length', resp.getheader('Content-Length') or '0')
        else:
            self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        if m != 'HEAD':
            rate = int(f.get('slow_blobs', 0))
            if rate and '/blobs/sha256:' in self.path:
                try:
                    for i in range(0, len(data), max(rate // 10, 1)):
                        self.wfile.write(data[i:i + max(rate // 10, 1)])
                        self.wfile.flush()
                        time.sleep(0.1)
                except OSError:
                    log('%s %s 0 CLIENT-GONE' % (m, self.path))
                return
            self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(('127.0.0.1', PORT), Handler).serve_forever()
