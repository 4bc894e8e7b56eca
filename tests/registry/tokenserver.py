#!/usr/bin/python3
"""The tests' own Bearer token server for distribution's `auth.token`.

Usage: tokenserver.py PORT KEY.pem CERT.pem LOG

GET /token?service=S&scope=repository:NAME:ACTIONS... answers a JWT signed
with RS256 whose header carries the certificate (x5c), as the registry's
rootcertbundle expects. User "test" with password "testpass" (or
$HOIST_TEST_REGPASS) gets every
action asked for; anonymous callers get "pull" only; a wrong password is
401. One line per request goes to LOG ("user scopes"); with
$HOIST_TEST_TOKEN_LOG set, each token issued goes to that file, one a line
(the secrets test looks for them in what hoist wrote).
"""
import base64
import json
import os
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

PORT = int(sys.argv[1])
KEY = open(sys.argv[2], 'rb').read()
CERT = x509.load_pem_x509_certificate(open(sys.argv[3], 'rb').read())
LOG = sys.argv[4]
X5C = [base64.b64encode(CERT.public_bytes(Encoding.DER)).decode()]


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *a):
        pass

    def send(self, status, body):
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urlparse(self.path)
        if u.path != '/token':
            return self.send(404, b'{}')
        q = parse_qs(u.query)
        user = ''
        auth = self.headers.get('Authorization', '')
        if auth.startswith('Basic '):
            name, _, pw = base64.b64decode(auth[6:]).decode().partition(':')
            if (name, pw) != ('test', os.environ.get('HOIST_TEST_REGPASS', 'testpass')):
                return self.send(401, b'{"details":"bad credentials"}')
            user = name
        access = []
        for scope in q.get('scope', []):
            for one in scope.split(' '):
                parts = one.split(':')
                if len(parts) < 3:
                    continue
                actions = parts[-1].split(',')
                if not user:
                    actions = [a for a in actions if a == 'pull']
                access.append({'type': parts[0], 'name': ':'.join(parts[1:-1]),
                               'actions': actions})
        with open(LOG, 'a') as f:
            f.write('%s %s\n' % (user or '-', ' '.join(q.get('scope', [])) or '-'))
        now = int(time.time())
        claims = {'iss': 'hoist-test-issuer', 'sub': user, 'aud': q.get('service', [''])[0],
                  'exp': now + 300, 'nbf': now - 10, 'iat': now, 'jti': uuid.uuid4().hex,
                  'access': access}
        tok = jwt.encode(claims, KEY, algorithm='RS256', headers={'x5c': X5C})
        if os.environ.get('HOIST_TEST_TOKEN_LOG'):
            with open(os.environ['HOIST_TEST_TOKEN_LOG'], 'a') as f:
                f.write(tok + '\n')
        self.send(200, json.dumps({'token': tok, 'expires_in': 300}).encode())


ThreadingHTTPServer(('127.0.0.1', PORT), Handler).serve_forever()
