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
