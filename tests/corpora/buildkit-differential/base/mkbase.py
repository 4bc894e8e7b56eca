#!/usr/bin/env python3
"""Make base/busybox-rootfs.tar: Debian's static busybox + applet symlinks +
/etc/passwd, /etc/group (root, nobody, app 1000:1000), /home/app owned
1000:1000. Deterministic (GNU tar format, sorted names, numeric owners,
mtime SOURCE_DATE_EPOCH or 1700000000) and needs no root: the owners are
written into the headers, not onto files. With Debian 12's busybox-static
the result is byte for byte the tar `tar --sort=name --numeric-owner` made
from the same tree.
Usage: base/mkbase.py [BUSYBOX_BINARY] [OUT.tar]
       (defaults: /bin/busybox, busybox-rootfs.tar next to this script)
"""
import io
import os
import subprocess
import sys
import tarfile

here = os.path.dirname(os.path.abspath(__file__))
bb = sys.argv[1] if len(sys.argv) > 1 else "/bin/busybox"
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "busybox-rootfs.tar")
mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "1700000000"))

# path (no "./", no trailing "/") -> [type, mode, uid, file data or link target]
tree = {}
for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "tmp", "etc", "root", "home",
          "home/app", "proc", "sys", "dev", "var"):
    tree[d] = [tarfile.DIRTYPE, 0o755, 0, None]
tree["tmp"][1] = 0o1777
tree["root"][1] = 0o700
tree["home/app"][2] = 1000
with open(bb, "rb") as f:
    tree["bin/busybox"] = [tarfile.REGTYPE, 0o755, 0, f.read()]
applets = subprocess.run([bb, "--list-full"], check=True, capture_output=True,
                         text=True).stdout.split()
for a in applets:
    if a == "bin/busybox":
        continue
    parts = a.split("/")
    for i in range(1, len(parts)):
        tree.setdefault("/".join(parts[:i]), [tarfile.DIRTYPE, 0o755, 0, None])
    tree[a] = [tarfile.SYMTYPE, 0o777, 0, "/bin/busybox"]
tree["etc/passwd"] = [tarfile.REGTYPE, 0o644, 0,
                      b"root:x:0:0:root:/root:/bin/sh\n"
                      b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
                      b"app:x:1000:1000:app:/home/app:/bin/sh\n"]
tree["etc/group"] = [tarfile.REGTYPE, 0o644, 0, b"root:x:0:\nnogroup:x:65534:\napp:x:1000:\n"]


def children(d):
    pre = d + "/" if d else ""
    return sorted(p for p in tree if p.startswith(pre) and "/" not in p[len(pre):])


def walk(d):
    for p in children(d):
        yield p
        if tree[p][0] == tarfile.DIRTYPE:
            yield from walk(p)


with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as t:
    def add(name, typ, mode, uid, payload):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = typ, mode, uid, uid, mtime
        ti.uname = ti.gname = ""
        if typ == tarfile.SYMTYPE:
            ti.linkname = payload
        if typ == tarfile.REGTYPE:
            ti.size = len(payload)
            t.addfile(ti, io.BytesIO(payload))
        else:
            t.addfile(ti)
    add("./", tarfile.DIRTYPE, 0o755, 0, None)
    for p in walk(""):
        typ, mode, uid, payload = tree[p]
        add("./" + p + ("/" if typ == tarfile.DIRTYPE else ""), typ, mode, uid, payload)
n = sum(1 for _ in tarfile.open(out))
print(f"{out}: {n} entries, {os.path.getsize(out)} bytes")
