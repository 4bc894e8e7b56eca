#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Make the seed corpora of fuzz-oci and fuzz-gzip from inputs already in
the repository (run from the source root; the output is committed):

  fixtures/fuzz/oci/   the real image layouts and the spec's examples of
                       tests/corpora/oci-image-spec (Apache-2.0, see its
                       LICENSES), as index -> manifest -> config chains in
                       fuzz_oci.c's format ("--" lines between documents,
                       "@K"/"#K" for document K's digest and size);
  fixtures/fuzz/gzip/  the tar seeds of fixtures/fuzz/tar, gzip'd (-n: no
                       name or time in the header).
"""
import glob
import gzip
import json
import os

OCI = "tests/corpora/oci-image-spec"


def blob(layout, digest):
    with open(os.path.join(layout, "blobs", *digest.split(":")), "rb") as f:
        return f.read()


def refer(doc, digest, size, k):
    doc = doc.replace(digest.encode(), b"@%d" % k)
    return doc.replace(b'"size": %d' % size, b'"size": #%d' % k).replace(
        b'"size":%d' % size, b'"size":#%d' % k)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


for layout in sorted(glob.glob(OCI + "/real-layouts/*/")):
    name = os.path.basename(layout.rstrip("/"))
    with open(layout + "index.json", "rb") as f:
        index = f.read()
    md = json.loads(index)["manifests"][0]
    manifest = blob(layout, md["digest"])
    cd = json.loads(manifest)["config"]
    config = blob(layout, cd["digest"])
    m = refer(manifest, cd["digest"], cd["size"], 1)
    write("fixtures/fuzz/oci/manifest-" + name, m + b"\n--\n" + config)
    i = refer(index, md["digest"], md["size"], 1)
    m = refer(manifest, cd["digest"], cd["size"], 2)
    write("fixtures/fuzz/oci/index-" + name, i + b"\n--\n" + m + b"\n--\n" + config)

for ex in sorted(glob.glob(OCI + "/examples/*.json")):
    with open(ex, "rb") as f:
        write("fixtures/fuzz/oci/example-" + os.path.basename(ex)[:-5], f.read())

for t in sorted(glob.glob("fixtures/fuzz/tar/*.tar")):
    with open(t, "rb") as f:
        data = f.read()
    write("fixtures/fuzz/gzip/" + os.path.basename(t) + ".gz", gzip.compress(data, mtime=0))

# fixtures/fuzz/import/: the smallest whole archives `hoist import` takes,
# made here: an OCI layout tar and a docker-archive tar of one image with
# one one-file layer (the busybox-musl-amd64 config above, its diff_ids
# replaced), and the OCI layout with a nested index.
import hashlib
import io
import tarfile


def tar_bytes(files):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            if data is None:
                ti = tarfile.TarInfo(name)
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                t.addfile(ti)
                continue
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    return out.getvalue()


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canon(o):
    return json.dumps(o, sort_keys=True, separators=(",", ":")).encode()


layer_tar = tar_bytes([("etc/", None), ("etc/hostname", b"fuzz\n")])
layer_gz = gzip.compress(layer_tar, mtime=0)
config = json.loads(blob(OCI + "/real-layouts/busybox-musl-amd64/", json.loads(
    blob(OCI + "/real-layouts/busybox-musl-amd64/", json.loads(open(
        OCI + "/real-layouts/busybox-musl-amd64/index.json").read())["manifests"][0]["digest"]))
    ["config"]["digest"]))
config["rootfs"] = {"type": "layers", "diff_ids": [sha(layer_tar)]}
config_b = canon(config)
manifest = canon({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                             "digest": sha(config_b), "size": len(config_b)},
                  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                              "digest": sha(layer_gz), "size": len(layer_gz)}]})
mdesc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest),
         "size": len(manifest), "platform": {"architecture": "amd64", "os": "linux"},
         "annotations": {"io.containerd.image.name": "example.com/fuzz/img:1",
                         "org.opencontainers.image.ref.name": "1"}}
blobs = [("blobs/sha256/" + sha(b)[7:], b) for b in (layer_gz, config_b, manifest)]
layout = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("blobs/", None),
          ("blobs/sha256/", None)]
write("fixtures/fuzz/import/oci-layout.tar",
      tar_bytes(layout + blobs + [("index.json", canon({"schemaVersion": 2,
                                                          "manifests": [mdesc]}))]))
inner = canon({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": [dict(mdesc, annotations={})]})
outer = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha(inner),
         "size": len(inner), "annotations": mdesc["annotations"]}
write("fixtures/fuzz/import/oci-nested-index.tar",
      tar_bytes(layout + blobs + [("blobs/sha256/" + sha(inner)[7:], inner),
                                  ("index.json", canon({"schemaVersion": 2,
                                                        "manifests": [outer]}))]))
docker_manifest = json.dumps([{"Config": sha(config_b)[7:] + ".json",
                               "RepoTags": ["example.com/fuzz/img:1"],
                               "Layers": ["l1/layer.tar"]}]).encode()
write("fixtures/fuzz/import/docker-archive.tar",
      tar_bytes([(sha(config_b)[7:] + ".json", config_b), ("l1/", None),
                 ("l1/layer.tar", layer_tar), ("manifest.json", docker_manifest),
                 ("repositories", b'{"example.com/fuzz/img":{"1":"' +
                  hashlib.sha256(layer_tar).hexdigest().encode() + b'"}}')]))

# fixtures/fuzz/unpack/: the tar seeds, plus the hostile layers of issue 21
# (a whiteout naming "..", an opaque marker on the root, a symlink then a
# file through it, a hard link out of the root).


def tar_entries(entries):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, arg in entries:
            ti = tarfile.TarInfo(name)
            ti.mode = 0o755 if kind == "dir" else 0o644
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, arg
                t.addfile(ti)
            elif kind == "link":
                ti.type, ti.linkname = tarfile.LNKTYPE, arg
                t.addfile(ti)
            else:
                ti.size = len(arg)
                t.addfile(ti, io.BytesIO(arg))
    return out.getvalue()


for t in sorted(glob.glob("fixtures/fuzz/tar/*")):
    with open(t, "rb") as f:
        write("fixtures/fuzz/unpack/" + os.path.basename(t), f.read())
hostile = {
    "whiteout-dotdot.tar": [("a/", "dir", None), ("a/.wh..", "file", b"")],
    "whiteout-dotdot-root.tar": [(".wh..", "file", b"")],
    "whiteout-dotdotdot.tar": [("a/", "dir", None), ("a/.wh...", "file", b"")],
    "opaque-root.tar": [(".wh..wh..opq", "file", b""), ("f", "file", b"x")],
    "symlink-then-file.tar": [("l", "sym", ".."), ("l/escaped", "file", b"x")],
    "symlink-abs-then-dir.tar": [("l", "sym", "/tmp"), ("l/d/", "dir", None)],
    "hardlink-out.tar": [("h", "link", "../sentinel")],
    "replace-dir-with-symlink.tar": [("d/", "dir", None), ("d/f", "file", b"x"),
                                     ("d", "sym", ".."), ("d/g", "file", b"y")],
    "whiteout-through-symlink.tar": [("l", "sym", ".."), ("l/.wh.sentinel", "file", b"")],
}
for name, entries in hostile.items():
    write("fixtures/fuzz/unpack/" + name, tar_entries(entries))
