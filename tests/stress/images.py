#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Images around the hostile layers of corpus.py, for tests/stress/hostile.sh.

Usage: images.py CORPUS REGISTRY(host:port) ARCHIVES_DIR

For each case: ARCHIVES_DIR/FILE.tar, a docker-archive holding the layer,
and REGISTRY/stress/cNNN:1, pushed with plain HTTP requests (no client that
would check the layer first). Then image-level cases, as archives and in
the registry: 1001 layers (past HOIST_LIMIT_IMAGE_LAYERS), a descriptor size
of 2^63-1, and descriptor sizes one byte short of and past the blob. Prints
the image-level names, one "NAME ARCHIVE" a line.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.request

CORPUS, REG, ARCH = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(ARCH, exist_ok=True)


def sha(b):
    return 'sha256:' + hashlib.sha256(b).hexdigest()


def diff_id(blob):
    if blob[:2] == b'\x1f\x8b':
        try:
            return sha(gzip.decompress(blob))
        except Exception:
            return sha(blob)
    return sha(blob)


def req(method, url, body=None, headers=None):
    r = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(r) as resp:
        return resp.headers


def push_blob(name, b):
    loc = req('POST', 'http://%s/v2/%s/blobs/uploads/' % (REG, name))['Location']
    if loc.startswith('/'):
        loc = 'http://' + REG + loc
    sep = '&' if '?' in loc else '?'
    req('PUT', loc + sep + 'digest=' + sha(b), b,
        {'Content-Type': 'application/octet-stream'})


def config(ids):
    return json.dumps({'architecture': 'amd64', 'os': 'linux', 'config': {},
                       'rootfs': {'type': 'layers', 'diff_ids': ids}}).encode()


def manifest(cfg, layers, sizes=None):
    return json.dumps({
        'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
        'config': {'mediaType': 'application/vnd.oci.image.config.v1+json',
                   'digest': sha(cfg), 'size': len(cfg)},
        'layers': [{'mediaType': 'application/vnd.oci.image.layer.v1.tar' +
                    ('+gzip' if b[:2] == b'\x1f\x8b' else ''),
                    'digest': sha(b), 'size': (sizes[i] if sizes else len(b))}
                   for i, b in enumerate(layers)]}).encode()


def push_image(name, layers, sizes=None, cfg=None):
    cfg = cfg or config([diff_id(b) for b in layers])
    for b in set(layers):
        push_blob(name, b)
    push_blob(name, cfg)
    req('PUT', 'http://%s/v2/%s/manifests/1' % (REG, name), manifest(cfg, layers, sizes),
        {'Content-Type': 'application/vnd.oci.image.manifest.v1+json'})


def docker_archive(out, tag, layers):
    cfg = config([diff_id(b) for b in layers])
    names = ['l%d/layer.tar' % i for i in range(len(layers))]
    man = json.dumps([{'Config': 'config.json', 'RepoTags': [tag], 'Layers': names}]).encode()
    with tarfile.open(out, 'w') as t:
        for n, b in [('config.json', cfg), ('manifest.json', man)] + list(zip(names, layers)):
            i = tarfile.TarInfo(n)
            i.size = len(b)
            t.addfile(i, io.BytesIO(b))


def oci_archive(out, tag, layers, sizes):
    cfg = config([diff_id(b) for b in layers])
    man = manifest(cfg, layers, sizes)
    idx = json.dumps({'schemaVersion': 2, 'manifests': [{
        'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'digest': sha(man),
        'size': len(man), 'annotations': {'org.opencontainers.image.ref.name': '1',
                                          'io.containerd.image.name': tag}}]}).encode()
    files = [('oci-layout', b'{"imageLayoutVersion":"1.0.0"}'), ('index.json', idx)]
    for b in [cfg, man] + layers:
        files.append(('blobs/sha256/' + sha(b)[7:], b))
    with tarfile.open(out, 'w') as t:
        for n, b in dict(files).items():
            i = tarfile.TarInfo(n)
            i.size = len(b)
            t.addfile(i, io.BytesIO(b))


for line in open(os.path.join(CORPUS, 'cases')):
    f = line.split()[0]
    n = f.split('-')[0]
    blob = open(os.path.join(CORPUS, f), 'rb').read()
    docker_archive(os.path.join(ARCH, f + '.tar'), 'stress/c%s:1' % n, [blob])
    push_image('stress/c' + n, [blob])

empty = b'\0' * 1024
small = gzip.compress(b'\0' * 1024, mtime=0)
# one blob named 1001 times: the count is what the limit is about
many = [small] * 1001
docker_archive(os.path.join(ARCH, 'img-manylayers.tar'), 'stress/manylayers:1', many)
push_image('stress/manylayers', many)
print('manylayers img-manylayers.tar')
for name, size in [('hugesize', (1 << 63) - 1), ('shortsize', len(small) - 1),
                   ('longsize', len(small) + 1), ('zerosize', 0)]:
    oci_archive(os.path.join(ARCH, 'img-%s.tar' % name), 'stress/%s:1' % name, [small], [size])
    try:
        push_image('stress/' + name, [small], [size])
        print('%s img-%s.tar' % (name, name))
    except Exception as e:  # the registry itself refused it: load only
        print('%s img-%s.tar noregistry' % (name, name))
        print('images.py: %s: %s' % (name, e), file=sys.stderr)
