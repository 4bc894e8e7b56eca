#!/usr/bin/env python3
"""Normalize a built image into a per-layer, timestamp-free record.

Adapted from the BuildKit differential corpus's normalize.py
(tests/corpora/buildkit-differential/normalize.py), which records the
merged filesystem against a base. This one keeps every layer apart, since
the apt differential compares what each RUN wrote:

  config  Env Cmd Entrypoint WorkingDir User Labels ... os architecture
  layers  one object per layer, path -> entry, for every tar entry:
            type   file dir symlink hardlink char block fifo whiteout opaque
            mode   octal string with the setuid/setgid/sticky bits (not for
                   symlinks, whiteouts, opaque markers)
            uid gid
            size sha256          files (and hard links: their group's)
            link                 symlink target, or for a hard link the
                                 smallest path of its group in the layer
            xattrs {name: hex}   all of them (security.capability included)
          `.wh.NAME` is recorded as NAME of type whiteout,
          `.wh..wh..opq` as the directory's path + "/" of type opaque.

Names are bytes: a path or link target that is not UTF-8 keeps its other
bytes as \\xNN (and a backslash as \\\\), so two names differ in the record
exactly when their bytes do.

Hard links do not depend on tar order: the paths of one link group (in one
layer) are sorted, the first is the "file", the others "hardlink" to it.

Input: a `docker save` tar or an OCI image layout (directory or tar).
Usage: normalize.py INPUT [-o OUT.json] [--ref NAME]
Only the Python standard library is used (gzip layers; zstd is not).
"""
import argparse
import hashlib
import json
import os
import sys
import tarfile

CONFIG_KEYS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts",
               "Volumes", "StopSignal", "Healthcheck", "OnBuild", "Shell"]


def show(b):
    """Bytes as a printable name: UTF-8 where valid, \\xNN elsewhere."""
    out = []
    i = 0
    while i < len(b):
        for j in (4, 3, 2, 1):
            try:
                s = b[i:i + j].decode("utf-8")
            except UnicodeDecodeError:
                continue
            if len(s) == 1:
                out.append("\\\\" if s == "\\" else s)
                i += j
                break
        else:
            out.append("\\x%02x" % b[i])
            i += 1
    return "".join(out)


def raw(s):
    # tarfile decodes with the encoding and errors we give it; get the bytes back
    return s.encode("utf-8", "surrogateescape")


def norm_path(b):
    parts = [x for x in b.split(b"/") if x not in (b"", b".")]
    return b"/" + b"/".join(parts)


class DockerArchive:
    def __init__(self, path, ref=None):
        self.tf = tarfile.open(path, "r:")
        man = json.load(self.tf.extractfile("manifest.json"))
        pick = man[0]
        if ref:
            pick = next((m for m in man if ref in (m.get("RepoTags") or [])), None)
            if pick is None:
                raise SystemExit("ref %r not in docker archive" % ref)
        self.config = json.load(self.tf.extractfile(pick["Config"]))
        self.layer_names = pick["Layers"]

    def layers(self):
        for n in self.layer_names:
            yield self.tf.extractfile(n)


class OCILayout:
    INDEXES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")

    def __init__(self, path, ref=None):
        if os.path.isdir(path):
            self.root, self.tf = path, None
        else:
            self.root = None
            self.tf = tarfile.open(path, "r:")
            self.names = {m.name.lstrip("./"): m for m in self.tf.getmembers()}
        desc = self.pick(json.loads(self.read("index.json")), ref)
        while desc["mediaType"] in self.INDEXES:
            desc = self.pick(json.loads(self.blob(desc["digest"])), None)
        manifest = json.loads(self.blob(desc["digest"]))
        self.config = json.loads(self.blob(manifest["config"]["digest"]))
        self.layer_digests = [l["digest"] for l in manifest["layers"]]

    def open(self, rel):
        if self.root is not None:
            return open(os.path.join(self.root, rel), "rb")
        return self.tf.extractfile(self.names[rel])

    def read(self, rel):
        with self.open(rel) as f:
            return f.read()

    def blob(self, digest):
        return self.read("blobs/%s/%s" % tuple(digest.split(":", 1)))

    @staticmethod
    def pick(index, ref):
        ms = index.get("manifests") or []
        if not ms:
            raise SystemExit("OCI index has no manifests")
        if ref:
            for m in ms:
                ann = m.get("annotations") or {}
                if ref in (ann.get("org.opencontainers.image.ref.name"), ann.get("io.containerd.image.name")):
                    return m
            raise SystemExit("ref %r not found in OCI index" % ref)
        return ms[0]

    def layers(self):
        for d in self.layer_digests:
            yield self.open("blobs/%s/%s" % tuple(d.split(":", 1)))


def open_image(path, ref=None):
    if os.path.isdir(path):
        return OCILayout(path, ref)
    with tarfile.open(path, "r:") as tf:
        names = {n.lstrip("./") for n in tf.getnames()}
    if "index.json" in names:
        return OCILayout(path, ref)
    if "manifest.json" in names:
        return DockerArchive(path, ref)
    raise SystemExit("%s: neither a docker-save tar nor an OCI layout" % path)


def xattrs_of(m):
    out = {}
    for k, v in (m.pax_headers or {}).items():
        if k.startswith("SCHILY.xattr."):
            # tarfile decodes PAX values as UTF-8 with surrogateescape
            # (binary capability blobs included): back to the bytes
            out[k[len("SCHILY.xattr."):]] = raw(v).hex() if isinstance(v, str) else v.hex()
    return out


def layer_record(fileobj):
    entries = {}
    groups = {}  # target path -> [paths] for hard links
    with tarfile.open(fileobj=fileobj, mode="r|*", encoding="utf-8", errors="surrogateescape") as tf:
        for m in tf:
            p = norm_path(raw(m.name))
            if p == b"/":
                continue
            d, _, base = p.rpartition(b"/")
            d = d or b"/"
            if base == b".wh..wh..opq":
                entries[d.rstrip(b"/") + b"/"] = {"type": "opaque"}
                continue
            if base.startswith(b".wh."):
                entries[(d.rstrip(b"/") + b"/" + base[4:])] = {"type": "whiteout"}
                continue
            e = {"uid": m.uid, "gid": m.gid}
            if m.isreg():
                h = hashlib.sha256()
                size = 0
                f = tf.extractfile(m)
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    h.update(b)
                    size += len(b)
                e.update(type="file", mode="%04o" % (m.mode & 0o7777), size=size, sha256=h.hexdigest())
            elif m.islnk():
                t = norm_path(raw(m.linkname))
                if t not in entries or entries[t]["type"] != "file":
                    raise SystemExit("hard link %s -> %s: target is not an earlier file of the layer"
                                     % (show(p), show(t)))
                groups.setdefault(t, [t]).append(p)
                e = None
            elif m.isdir():
                e.update(type="dir", mode="%04o" % (m.mode & 0o7777))
            elif m.issym():
                e.update(type="symlink", link=show(raw(m.linkname)))
            elif m.ischr() or m.isblk():
                e.update(type="char" if m.ischr() else "block", mode="%04o" % (m.mode & 0o7777),
                         dev="%d,%d" % (m.devmajor, m.devminor))
            elif m.isfifo():
                e.update(type="fifo", mode="%04o" % (m.mode & 0o7777))
            else:
                raise SystemExit("unsupported tar entry type %r for %s" % (m.type, show(p)))
            if e is not None:
                x = xattrs_of(m)
                if x:
                    e["xattrs"] = x
                entries[p] = e
    for t, paths in groups.items():
        paths.sort()
        first = entries[t]
        for p in paths:
            e = dict(first)
            if p != paths[0]:
                e["type"] = "hardlink"
                e["link"] = show(paths[0])
            entries[p] = e
    return {show(p): entries[p] for p in sorted(entries)}


def record(image_path, ref=None):
    img = open_image(image_path, ref)
    cfg = img.config
    c = cfg.get("config") or {}
    conf = {k: c.get(k) for k in CONFIG_KEYS}
    conf["os"] = cfg.get("os")
    conf["architecture"] = cfg.get("architecture")
    return {
        "config": conf,
        "history": [{"empty_layer": bool(h.get("empty_layer", False)),
                     "created_by": h.get("created_by", "")}
                    for h in (cfg.get("history") or [])],
        "layers": [layer_record(lo) for lo in img.layers()],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--ref")
    ap.add_argument("-o", "--output", default="-")
    a = ap.parse_args()
    text = json.dumps(record(a.input, a.ref), indent=0, sort_keys=True, ensure_ascii=False) + "\n"
    if a.output == "-":
        sys.stdout.write(text)
    else:
        with open(a.output, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
