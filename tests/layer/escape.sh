#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Layers whose entries go through a symlink, from the CLI: `hoist import`
# refuses one within a tar; a docker-archive whose upper layer goes through
# a lower layer's symlink loads (loading stores blobs only), and a build FROM
# it fails at the FROM line, naming the layer and the entry, even though it
# reads no file of the base, and tags nothing. The legitimate neighbours (a
# symlink to a directory inside, an upper layer replacing the symlink with a
# directory) build.
set -u
H=${HOIST_BIN:?}
. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
command -v python3 >/dev/null || skip_all "python3 is not installed"

tmpdir T /tmp/hoist-escape.XXXXXX
R="$H --root $T/store"
cd "$T" || exit 1

# mk OUT SPEC...: a tar of entries "f:PATH:DATA", "d:PATH", "l:PATH:TARGET",
# "h:PATH:TARGET"; a docker-archive with "-i NAME L1.tar L2.tar ...".
cat >mk.py <<'PY'
import hashlib, io, json, sys, tarfile
def entry(t, spec):
    kind, path, *rest = spec.split(":", 2)
    ti = tarfile.TarInfo(path)
    ti.mtime = 1700000000
    data = None
    if kind == "f":
        data = rest[0].encode(); ti.size = len(data); ti.mode = 0o644
    elif kind == "d":
        ti.type = tarfile.DIRTYPE; ti.mode = 0o755
    elif kind == "l":
        ti.type = tarfile.SYMTYPE; ti.linkname = rest[0]; ti.mode = 0o777
    elif kind == "h":
        ti.type = tarfile.LNKTYPE; ti.linkname = rest[0]
    t.addfile(ti, io.BytesIO(data) if data is not None else None)
if sys.argv[1] == "-i":
    name, out, layers = sys.argv[2], sys.argv[3], sys.argv[4:]
    ids = ["sha256:" + hashlib.sha256(open(l, "rb").read()).hexdigest() for l in layers]
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": ids}}).encode()
    man = json.dumps([{"Config": "config.json", "RepoTags": [name],
                       "Layers": layers}]).encode()
    with tarfile.open(out, "w") as t:
        for n, b in [("config.json", cfg), ("manifest.json", man)] + \
                    [(l, open(l, "rb").read()) for l in layers]:
            ti = tarfile.TarInfo(n); ti.size = len(b); t.addfile(ti, io.BytesIO(b))
else:
    with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
        for s in sys.argv[2:]:
            entry(t, s)
PY
mk() { python3 mk.py "$@"; }

mk base.tar d:etc f:etc/passwd:root d:usr d:usr/bin f:usr/bin/tool:x l:bin:usr/bin l:a:/etc \
	l:up:../../..
check_quiet "import a base with symlinks" $R import base.tar esc/base

# One tar: refused by import, nothing tagged.
mk evil1.tar l:a:/etc f:a/passwd:evil
out=$($R import evil1.tar esc/evil1 2>&1)
rc=$?
is "$rc" 1 "import of 'a -> /etc' then 'a/passwd' exits 1"
case $out in *"'evil1.tar': entry 'a/passwd': path goes through the symlink 'a'"*) ok "it names the entry and the symlink" ;;
*) nok "it names the entry and the symlink: $out" ;; esac
check "nothing is tagged" sh -c "! $R images 2>/dev/null | grep -q evil1"

# Two layers: the upper one goes through the lower one's symlinks.
for c in "passwd:f:a/passwd:evil" "up:d:up/x" "wh:f:a/.wh.passwd:" "hl:h:h:a/passwd"; do
	name=${c%%:*}
	mk "up-$name.tar" "${c#*:}"
	mk -i "esc/$name:1" "img-$name.tar" base.tar "up-$name.tar"
	check_quiet "load the '$name' image" $R load -q -i "img-$name.tar"
	mkdir -p "ctx-$name"
	echo data >"ctx-$name/other"
	printf 'FROM esc/%s:1\nENV A=b\nCOPY other /other\n' "$name" >"ctx-$name/Dockerfile"
	out=$($R build -q -t "esc/out-$name" "ctx-$name" 2>&1)
	rc=$?
	is "$rc" 1 "build FROM the '$name' image exits 1"
	case $out in *"Dockerfile:1: base image 'esc/$name:1': layer 2 ('sha256:"*"'): entry '"*"goes through the symlink '/"*"' (from layer 1)"*)
		ok "the '$name' error is at FROM, names the layer and the entry" ;;
	*) nok "the '$name' error is at FROM, names the layer and the entry: $out" ;; esac
	check "nothing tagged for '$name'" sh -c "! $R images 2>/dev/null | grep -q out-$name"
done
# Metadata alone: the base is checked at FROM all the same.
mkdir ctx-meta
printf 'FROM esc/passwd:1\nLABEL x=y\n' >ctx-meta/Dockerfile
out=$($R build -q -t esc/out-meta ctx-meta 2>&1)
is "$?" 1 "a FROM-and-LABEL build of it fails too"
case $out in *"Dockerfile:1: "*"entry 'a/passwd'"*) ok "at its FROM line" ;; *) nok "at its FROM line: $out" ;; esac

# The legitimate neighbours.
mk up-ok.tar d:a f:a/passwd:mine f:usr/bin/more:z
mk -i esc/ok:1 img-ok.tar base.tar up-ok.tar
check_quiet "load the 'ok' image" $R load -q -i img-ok.tar
mkdir ctx-ok
printf 'FROM esc/ok:1\nCOPY --from=esc/ok:1 /a/passwd /copied\nCOPY --from=esc/ok:1 /bin/tool /tool\n' >ctx-ok/Dockerfile
check_quiet "a directory over the lower symlink, a symlink used by name: build" \
	$R build -q -t esc/out-ok ctx-ok
cat >top.py <<'PY'
import gzip, io, json, sys, tarfile
d = sys.argv[1]
blob = lambda dg: open(d + "/blobs/sha256/" + dg.split(":")[1], "rb").read()
idx = json.loads(open(d + "/index.json").read())
man = json.loads(blob(idx["manifests"][0]["digest"]))
for l in man["layers"][-2:]:
    t = tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(l["digest"]))))
    for m in t.getmembers():
        if m.isfile():
            print(m.name, t.extractfile(m).read().decode())
PY
$R save --format oci-dir -o out esc/out-ok >/dev/null 2>&1
is "$(python3 top.py out 2>&1 | tr '\n' ' ')" "copied mine tool x " \
	"COPY --from read the upper layer's a/passwd and /bin/tool through the symlink"
finish
