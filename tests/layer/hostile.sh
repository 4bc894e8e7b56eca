#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Hostile layers through every path that unpacks them (issue #21): whiteouts
# that name "..", "." or nothing, or sit under a directory named like one,
# refused by `hoist import`, by `hoist run` and a RUN step (the sandbox's
# root filesystems) and by a build's FROM (snapshots) before anything is
# removed: the other layers' unpacked trees stay. A context file named like
# a whiteout is refused at COPY. Real whiteouts and opaque directories still
# work. As root (root identity mode); busybox base.
set -u
H=${HOIST_BIN:?}
SRC=${HOIST_SRCDIR:?}
. "$SRC/tests/lib/tap.sh"
command -v python3 >/dev/null || skip_all "python3 is not installed"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
[ "$(id -u)" = 0 ] || skip_all "needs root (the root identity mode)"

tmpdir T /tmp/hoist-hostile.XXXXXX
R="$H --root $T/store"
cd "$T" || exit 1
"$SRC/scripts/mkrootfs-busybox.sh" "$T/bb.tar"

# mk OUT SPEC...: a tar of "f:PATH:DATA", "d:PATH", "l:PATH:TARGET"; a
# docker-archive with "-i NAME OUT L1.tar L2.tar ...".
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

# The base's unpacked tree must survive every hostile layer.
check_quiet "load the busybox base" sh -c "python3 mk.py -i hostile/base:1 base.tar bb.tar && $R load -q -i base.tar"
check_quiet "hoist run in the base" $R run hostile/base:1 true
base_tree() { ls -d "$T"/store/rootfs/root/*/bin/busybox 2>/dev/null | wc -l; }
is "$(base_tree)" 1 "the base layer is unpacked under rootfs/root"
mkdir -p "$T/store/rootfs/root/sentinel"

# name:spec... of layers that must be refused, and what the message says.
for c in "dotdot|.wh...|f:.wh...:" "dotdot-sub|etc/.wh...|d:etc f:etc/.wh...:" \
	"dot|etc/.wh..|d:etc f:etc/.wh..:" "bare|.wh.|f:.wh.:" \
	"wh-dir|a/.wh.b/c|d:a d:a/.wh.b f:a/.wh.b/c:x"; do
	name=${c%%|*}
	rest=${c#*|}
	entry=${rest%%|*}
	# shellcheck disable=SC2086
	mk "l-$name.tar" ${rest#*|}
	out=$($R import "l-$name.tar" "hostile/imp-$name" 2>&1)
	is "$?" 1 "import of the '$name' whiteout exits 1"
	case $out in *"entry '$entry': bad whiteout"*) ok "import names the '$name' entry" ;;
	*) nok "import names the '$name' entry: $out" ;; esac

	mk -i "hostile/$name:1" "img-$name.tar" bb.tar "l-$name.tar"
	check_quiet "load the '$name' image (blobs only)" $R load -q -i "img-$name.tar"
	out=$($R run "hostile/$name:1" true 2>&1)
	rc=$?
	[ "$rc" -ne 0 ] && ok "hoist run of the '$name' image fails ($rc)" || nok "hoist run of the '$name' image fails"
	case $out in *"entry '$entry': bad whiteout"*) ok "hoist run names the '$name' entry" ;;
	*) nok "hoist run names the '$name' entry: $out" ;; esac
	is "$(base_tree)" 1 "the base's tree is still there after '$name' (hoist run)"
	check "the sentinel is still there after '$name'" test -d "$T/store/rootfs/root/sentinel"

	mkdir -p "ctx-$name"
	printf 'FROM hostile/%s:1\nRUN true\n' "$name" >"ctx-$name/Dockerfile"
	out=$($R build -q -t "hostile/out-$name" "ctx-$name" 2>&1)
	is "$?" 1 "a build FROM the '$name' image exits 1"
	case $out in *"entry '$entry': bad whiteout"*) ok "the build names the '$name' entry" ;;
	*) nok "the build names the '$name' entry: $out" ;; esac
	is "$(base_tree)" 1 "the base's tree is still there after '$name' (build)"
done

# A context file named like a whiteout: COPY refuses it, RUN never sees it.
mkdir -p ctx-copy
: >ctx-copy/.wh...
printf 'FROM hostile/base:1\nCOPY . /x/\nRUN true\n' >ctx-copy/Dockerfile
out=$($R build -q -t hostile/copy ctx-copy 2>&1)
is "$?" 1 "COPY of a context file '.wh...' exits 1"
case $out in *"'x/.wh...': a name beginning with '.wh.' is a whiteout"*) ok "it names the file" ;;
*) nok "it names the file: $out" ;; esac
is "$(base_tree)" 1 "the base's tree is still there after COPY"

# Real whiteouts and opaque directories keep working.
mk good.tar d:etc f:etc/.wh.group: d:usr d:usr/.wh..wh..opq f:usr/new:x f:.wh..wh.plnk:
mk -i hostile/good:1 img-good.tar bb.tar good.tar
check_quiet "load an image with real whiteouts" $R load -q -i img-good.tar
check_quiet "a whiteout deletes a lower file" $R run hostile/good:1 sh -c '! test -e /etc/group && test -e /etc/passwd'
check_quiet "an opaque directory hides the lower content" $R run hostile/good:1 sh -c 'test "$(ls /usr)" = new'
check_quiet "AUFS metadata is ignored" $R run hostile/good:1 sh -c '! test -e /.wh..wh.plnk && ! test -e /.wh.plnk'
check_quiet "import of the same layer" $R import good.tar hostile/good-imp
finish
