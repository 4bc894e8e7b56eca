#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A generated corpus of hostile layers for tests/stress/hostile.sh (issue #21).

Usage: corpus.py OUTDIR CANARY [SEED]

Writes OUTDIR/NNN-CLASS-NAME.layer (a layer blob as a registry or archive
would carry it: a tar, gzip'd or not) and OUTDIR/cases (one "FILE CLASS" a
line). CANARY is a host directory that every escape aims at: a case that
got out would create, change or delete something there. The classes are
those of the issue: traversal, absolute paths, symlink and hard-link
escapes, whiteouts, devices, long names, sparse files, bombs, bad
checksums, truncation, PAX lies. Variants are made by combining a few
forms with a few targets, and, for the byte-level classes, by flipping or
cutting bytes at offsets drawn from SEED, so the count is what the script
makes, not a list kept by hand.
"""
import gzip
import io
import os
import random
import sys
import tarfile
import zlib

OUT, CAN = sys.argv[1], sys.argv[2].rstrip('/')
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 21)
os.makedirs(OUT, exist_ok=True)
cases = []


def ti(kind, name, data=b'', link='', mode=0o644, dev=(0, 0)):
    t = tarfile.TarInfo(name)
    t.mtime = 1700000000
    t.mode = mode
    if kind == 'f':
        t.size = len(data)
    elif kind == 'd':
        t.type = tarfile.DIRTYPE
        t.mode = 0o755
    elif kind == 'l':
        t.type = tarfile.SYMTYPE
        t.linkname = link
    elif kind == 'h':
        t.type = tarfile.LNKTYPE
        t.linkname = link
    elif kind in 'cb':
        t.type = tarfile.CHRTYPE if kind == 'c' else tarfile.BLKTYPE
        t.devmajor, t.devminor = dev
    elif kind == 'p':
        t.type = tarfile.FIFOTYPE
    return t, (data if kind == 'f' else None)


def tar(entries, fmt=tarfile.PAX_FORMAT):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode='w', format=fmt) as t:
        for e in entries:
            info, data = ti(*e) if isinstance(e, tuple) else e
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return b.getvalue()


def gz(b):
    return gzip.compress(b, compresslevel=1, mtime=0)


def add(cls, name, blob, compress=None):
    if compress is None:
        compress = rng.random() < 0.5
    if compress:
        blob = gz(blob)
    f = '%03d-%s-%s.layer' % (len(cases), cls, name)
    with open(os.path.join(OUT, f), 'wb') as fh:
        fh.write(blob)
    cases.append((f, cls))


rel_up = '../' * 12
targets = {'abs': CAN + '/pwned', 'up': rel_up + CAN.lstrip('/') + '/pwned'}
innocent = [('f', 'ok.txt', b'fine\n')]

# traversal: paths that climb, in file names, directory names, link names
for i, p in enumerate(['../pwned', '../../../../pwned', 'a/../../pwned', './../pwned',
                       'a/b/../../../pwned', targets['up'], 'a/./../../' + targets['up']]):
    for kind in 'fd':
        add('traversal', '%d%s' % (i, kind), tar(innocent + [(kind, p, b'x')] if kind == 'f'
                                                 else innocent + [('d', p)]))
# absolute paths
for i, p in enumerate([targets['abs'], '/' + targets['abs'], CAN + '/sub/../pwned',
                       CAN + '/host-file', '/etc/hoist-stress-pwned']):
    add('absolute', str(i), tar([('f', p, b'x')]))
    add('absolute', '%dd' % i, tar([('d', p)]))
# symlink escapes: a link out, then an entry through it
for i, t in enumerate([CAN, rel_up + CAN.lstrip('/'), '/', '..', '../..', '/proc/self/root' + CAN]):
    add('symlink', '%d-file' % i, tar([('l', 'esc', '', t), ('f', 'esc/pwned', b'x')]))
    add('symlink', '%d-dir' % i, tar([('l', 'esc', '', t), ('d', 'esc/pwned')]))
    add('symlink', '%d-chain' % i, tar([('l', 'a', '', 'b'), ('l', 'b', '', t),
                                       ('f', 'a/pwned', b'x')]))
    add('symlink', '%d-hard' % i, tar([('l', 'esc', '', t), ('h', 'h', '', 'esc/host-file')]))
# hard-link escapes: to a host file, then written through
for i, t in enumerate([CAN + '/host-file', rel_up + CAN.lstrip('/') + '/host-file',
                       '../host-file', '/etc/passwd']):
    add('hardlink', '%d' % i, tar([('h', 'h', '', t)]))
    add('hardlink', '%d-write' % i, tar([('h', 'h', '', t), ('f', 'h', b'overwritten\n')]))
# whiteouts
for i, p in enumerate(['.wh..', '.wh...', '.wh.', 'etc/.wh..', 'a/.wh.b/c', '.wh..wh...',
                       '.wh.' + rel_up + 'x', 'x/.wh..wh..opq/y']):
    add('whiteout', str(i), tar([('d', 'etc'), ('d', 'a'), ('f', p, b'')]))
add('whiteout', 'opq-on-file', tar([('f', 'ok.txt', b'x'), ('f', 'ok.txt/.wh..wh..opq', b'')]))
# devices (refused or made only where allowed; never a host device opened)
for i, (k, dev) in enumerate([('c', (1, 1)), ('c', (1, 3)), ('b', (8, 0)), ('b', (7, 0)),
                              ('c', (0, 0)), ('p', (0, 0))]):
    add('device', str(i), tar([(k, 'dev%d' % i, b'', '', 0o666, dev)]))
    add('device', '%d-over' % i, tar([('l', 'esc', '', CAN), (k, 'esc/dev', b'', '', 0o666, dev)]))
# long names
for i, p in enumerate(['a' * 300, 'd/' * 2100 + 'f', ('x' * 200 + '/') * 25 + 'f',
                       'n' * 5000]):
    add('longname', str(i), tar([('f', p, b'x')]))
add('longname', 'link', tar([('l', 'l', '', 'z' * 5000)]))
add('longname', 'deepdirs', tar([('d', 'q/' * (i + 1)) for i in range(600)]))


def hdr(name, size, typ=b'0', fix=None):
    t = tarfile.TarInfo(name)
    t.size = size
    t.mode = 0o644
    t.mtime = 1700000000
    b = bytearray(t.tobuf(format=tarfile.USTAR_FORMAT))
    b[156:157] = typ
    if fix:
        fix(b)
    b[148:156] = b' ' * 8
    b[148:156] = ('%06o\0 ' % sum(b[:512])).encode()
    return bytes(b)


def pax(recs):
    out = b''
    for k, v in recs:
        r = ' %s=%s\n' % (k, v)
        n = len(r) + 1
        n = len(str(n + len(str(n)))) + len(r)
        out += (str(n) + r).encode()
    return out


def pax_entry(recs, name='f', size=1, data=b'x', lie=None):
    r = pax(recs)
    if lie is not None:
        r = (str(lie) + r[r.index(b' '):].decode()).encode()
    return (hdr('PaxHeaders/' + name, len(r), b'x') + r + b'\0' * ((-len(r)) % 512) +
            hdr(name, size) + data + b'\0' * ((-len(data)) % 512) + b'\0' * 1024)


# sparse: GNU 'S' and PAX GNU.sparse.* declaring huge sizes
for i, real in enumerate([1 << 40, 1 << 33, (1 << 62)]):
    def fix(b, real=real):
        b[483:495] = b'\x80' + real.to_bytes(11, 'big')
    add('sparse', 'gnu%d' % i, hdr('big', 0, b'S', fix) + b'\0' * 1024)
    add('sparse', 'pax%d' % i, pax_entry([('GNU.sparse.major', '1'), ('GNU.sparse.minor', '0'),
                                          ('GNU.sparse.name', 'big'),
                                          ('GNU.sparse.realsize', str(real))], 'big', 512,
                                         b'\0' * 512))
    add('sparse', 'pax0x%d' % i, pax_entry([('GNU.sparse.size', str(real)),
                                            ('GNU.sparse.numblocks', '1'),
                                            ('GNU.sparse.offset', '0'),
                                            ('GNU.sparse.numbytes', '1')]))
# bombs: a run of zeros far past the stress run's HOIST_LIMIT_LAYER_SIZE (64M)
# and the ratio rule's threshold (HOIST_LIMIT_LAYER_RATIO_FROM, 16M)
for i, size in enumerate([96 << 20, 200 << 20]):
    z = zlib.compressobj(1, zlib.DEFLATED, 31)
    head = hdr('zeros', size)
    chunk = b'\0' * (1 << 20)
    out = [z.compress(head)]
    for _ in range(size >> 20):
        out.append(z.compress(chunk))
    out.append(z.compress(b'\0' * 1024))
    out.append(z.flush())
    add('bomb', str(i), b''.join(out), compress=False)
add('bomb', 'entries', tar([('f', 'e%d' % i, b'') for i in range(3000)]))
# bad checksums: tar header checksums, gzip CRC and ISIZE
good = tar(innocent + [('f', 'b.txt', b'y' * 3000)])
for i in range(4):
    b = bytearray(good)
    off = rng.choice([148, 150, 100, 0, 512 + 148]) if i else 148
    b[off] ^= 0x11
    add('checksum', 'tar%d' % i, bytes(b), compress=False)
g = gz(good)
for i, off in enumerate([-8, -7, -4, -1]):
    b = bytearray(g)
    b[off] ^= 0x5a
    add('checksum', 'gz%d' % i, bytes(b), compress=False)
# truncation: at entry boundaries (no end blocks), mid-header, mid-data,
# a gzip stream cut short, and nothing at all
for i, cut in enumerate([0, 1, 511, 512, 1024, 1536, len(good) - 1024, len(good) - 512,
                         len(good) - 1, rng.randrange(1, len(good))]):
    add('truncated', 'tar%d' % i, good[:cut], compress=False)
for i, cut in enumerate([10, len(g) // 2, len(g) - 9, len(g) - 1]):
    add('truncated', 'gz%d' % i, g[:cut], compress=False)
# PAX lies: a record's length, a size past the data, paths and links out
add('pax', 'lenlie-short', pax_entry([('path', 'f')], lie=3))
add('pax', 'lenlie-long', pax_entry([('path', 'f')], lie=900))
add('pax', 'lenlie-zero', pax_entry([('path', 'f')], lie=0))
add('pax', 'size-past', pax_entry([('size', '99999999')]))
add('pax', 'size-neg', pax_entry([('size', '-5')]))
add('pax', 'path-up', pax_entry([('path', targets['up'])]))
add('pax', 'path-abs', pax_entry([('path', targets['abs'])]))
add('pax', 'linkpath', tar([('l', 'l', b'', targets['abs']), ('f', 'l/pwned', b'x')]))
add('pax', 'nothing-after', hdr('PaxHeaders/f', len(pax([('path', 'f')])), b'x') +
    pax([('path', 'f')]).ljust(512, b'\0') + b'\0' * 1024, compress=False)
add('pax', 'binary-junk', pax_entry([('path', 'f\x00\x01\xff'), ('uid', 'x' * 40)]))
# random bytes flipped in an otherwise good layer
for i in range(8):
    b = bytearray(good)
    for _ in range(rng.randrange(1, 6)):
        b[rng.randrange(0, len(b))] = rng.randrange(0, 256)
    add('fuzzed', str(i), bytes(b))

with open(os.path.join(OUT, 'cases'), 'w') as fh:
    for f, cls in cases:
        fh.write('%s %s\n' % (f, cls))
print(len(cases))
