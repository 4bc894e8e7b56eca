#!/bin/bash
# End to end: hoist import a busybox rootfs, hoist save it as docker-archive
# and OCI archive, and hand it to skopeo, umoci and podman; hoist load what
# hoist save and skopeo wrote. TAP output. Needs /bin/busybox (Debian's
# busybox-static); skopeo, umoci and podman checks need those tools.
set -u
H=${HOIST_BIN:?}
HERE=$(cd "$(dirname "$0")" && pwd)
MKBB=${HOIST_SRCDIR:?}/scripts/mkrootfs-busybox.sh
. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
need_corpora oci-image-spec/schema
SCHEMA=$HOIST_CORPORA/oci-image-spec/schema
tmpdir T /tmp/hoist-exchange-XXXXXX
PODMAN_IMG=localhost/hoist-e2e-test:$$
at_exit '[ -n "${podman_loaded:-}" ] && podman rmi -f "$PODMAN_IMG" >/dev/null 2>&1'
export HOIST_ROOT=$T/root
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	skip_or_fail "$1 is not installed"
	return 1
}
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

if [ ! -x /bin/busybox ] || [ ! -x "$MKBB" ]; then
	skip_all "needs /bin/busybox (busybox-static) and $MKBB"
fi
cd "$T" || exit 1
SOURCE_DATE_EPOCH=1700000000 "$MKBB" bb.tar

# ---- import ------------------------------------------------------------------
D1=$(SOURCE_DATE_EPOCH=1700000000 "$H" import bb.tar busybox:e2e)
check_quiet "hoist import prints a digest" grep -Eq '^sha256:[0-9a-f]{64}$' <<<"$D1"
D2=$(SOURCE_DATE_EPOCH=1700000000 "$H" import bb.tar busybox:e2e2)
check_quiet "import is reproducible with SOURCE_DATE_EPOCH" test "$D1" = "$D2"
gzip -c bb.tar >bb.tar.gz
D3=$(SOURCE_DATE_EPOCH=1700000000 "$H" import --platform linux/arm64 bb.tar.gz busybox:arm)
check_quiet "import of a gzip'd rootfs for another platform" test -n "$D3" -a "$D3" != "$D1"

python3 - "$T/evil.tar" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], 'w') as t:
    ti = tarfile.TarInfo('../evil'); ti.size = 2
    t.addfile(ti, io.BytesIO(b'x\n'))
EOF
out=$("$H" import evil.tar evil:1 2>&1); rc=$?
check_quiet "import rejects '../evil' with exit 1 and a clear message" \
	test $rc -eq 1 -a -n "$(grep "entry '../evil': path escapes the root" <<<"$out")"

# ---- save ----------------------------------------------------------------------
check_quiet "hoist save (docker format)" "$H" save -o docker.tar busybox:e2e
check_quiet "hoist save --format oci" "$H" save --format oci -o oci.tar busybox:e2e
check_quiet "hoist save --format oci-dir" "$H" save --format oci-dir -o layout busybox:e2e
check_quiet "hoist save to stdout" bash -c "'$H' save busybox:e2e > stdout.tar && cmp stdout.tar docker.tar"
mkdir -p ocix && tar -C ocix -xf oci.tar
check_quiet "the oci archive is the oci-dir layout" diff -r ocix layout
check_quiet "docker archive has manifest.json" tar -xf docker.tar manifest.json
check_quiet "manifest.json names busybox:e2e" test "$(json manifest.json "d[0]['RepoTags'][0]")" = busybox:e2e
check_quiet "index.json names the tag as skopeo expects" \
	test "$(json layout/index.json "d['manifests'][0]['annotations']['org.opencontainers.image.ref.name']")" = e2e
check_quiet "index.json has the full name as BuildKit writes it" \
	test "$(json layout/index.json "d['manifests'][0]['annotations']['io.containerd.image.name']")" = docker.io/library/busybox:e2e
check_quiet "index.json points at the imported manifest" \
	test "$(json layout/index.json "d['manifests'][0]['digest']")" = "$D1"

# ---- digests of the layer ---------------------------------------------------------
M=layout/blobs/sha256/${D1#sha256:}
LD=$(json "$M" "d['layers'][0]['digest']")
CD=$(json "$M" "d['config']['digest']")
DIFF=$(json "layout/blobs/sha256/${CD#sha256:}" "d['rootfs']['diff_ids'][0]")
L=layout/blobs/sha256/${LD#sha256:}
check_quiet "layer digest is sha256 of the blob" test "sha256:$(sha256sum <"$L" | cut -d' ' -f1)" = "$LD"
check_quiet "diffID is sha256 of gzip -dc of the blob" test "sha256:$(gzip -dc <"$L" | sha256sum | cut -d' ' -f1)" = "$DIFF"
check_quiet "layer media type is OCI tar+gzip" test "$(json "$M" "d['layers'][0]['mediaType']")" = application/vnd.oci.image.layer.v1.tar+gzip
check_quiet "layer tar has no uname/gname and no atime/ctime" \
	bash -c "gzip -dc < '$L' | tar -tvf - | awk '{print \$2}' | grep -qv '^[0-9]*/[0-9]*\$' && exit 1; ! gzip -dc < '$L' | grep -aq 'atime='"
check_quiet "config is minimal like docker import" \
	test "$(json "layout/blobs/sha256/${CD#sha256:}" "sorted(d.keys())")" = "['architecture', 'config', 'created', 'history', 'os', 'rootfs']"

# ---- schemas -------------------------------------------------------------------------
if python3 -c 'import jsonschema, referencing' 2>/dev/null; then
	check_quiet "documents validate against the OCI schemas" python3 "$HERE/validate-layout.py" "$SCHEMA" layout
else
	skip "python3-jsonschema is not installed"
fi

# ---- skopeo -------------------------------------------------------------------------
if need skopeo; then
	check_quiet "skopeo inspect oci-archive:" skopeo inspect oci-archive:oci.tar:e2e
	check_quiet "skopeo inspect docker-archive:" skopeo inspect docker-archive:docker.tar
	check_quiet "skopeo inspect oci:DIR:tag" skopeo inspect oci:layout:e2e
	check_quiet "skopeo inspect oci-archive: of the docker archive (Docker 25 layout)" skopeo inspect oci-archive:docker.tar:e2e
	check_quiet "skopeo copy oci:DIR:tag oci:OTHER:tag" skopeo copy -q oci:layout:e2e oci:other:e2e
	check_quiet "skopeo's copy has the same manifest digest" \
		test "$(json other/index.json "d['manifests'][0]['digest']")" = "$D1"
	check_quiet "skopeo copy docker-archive: -> oci:" skopeo copy -q docker-archive:docker.tar oci:fromdocker:x
fi

# ---- umoci ---------------------------------------------------------------------------
if need umoci; then
	check_quiet "umoci unpack --rootless" umoci unpack --rootless --image layout:e2e bundle
	check_quiet "busybox is there, executable" test -x bundle/rootfs/bin/busybox
	check_quiet "bin/sh is a symlink to /bin/busybox" test "$(readlink bundle/rootfs/bin/sh)" = /bin/busybox
	check_quiet "etc/passwd content" grep -q '^root:x:0:0:root:/root:/bin/sh$' bundle/rootfs/etc/passwd
	check_quiet "tmp keeps mode 1777" test "$(stat -c %a bundle/rootfs/tmp)" = 1777
	check_quiet "file mtimes are the rootfs'" test "$(stat -c %Y bundle/rootfs/etc/passwd)" = 1700000000
	check_quiet "the unpacked tree runs" bundle/rootfs/bin/busybox true
fi

# ---- podman --------------------------------------------------------------------------
if need podman; then
	"$H" tag busybox:e2e "$PODMAN_IMG" >/dev/null 2>&1 || "$H" import bb.tar "$PODMAN_IMG" >/dev/null
	"$H" save -o podman.tar "$PODMAN_IMG"
	if [ "$(id -u)" != 0 ]; then
		skip "podman load runs as root in this test"
	else
		check_quiet "podman load" podman load -i podman.tar
		podman_loaded=1
		check_quiet "podman image inspect" podman image inspect "$PODMAN_IMG"
		# On these machines crun fails on the hybrid cgroup setup, and both
		# runtimes fail to raise RLIMIT_NOFILE/NPROC to podman's defaults
		# (no CAP_SYS_RESOURCE): use runc and limits below the hard ones.
		out=$(timeout 120 podman run --rm --network=host --runtime /usr/sbin/runc \
			--ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
			"$PODMAN_IMG" /bin/busybox echo hi 2>&1)
		check_quiet "podman run prints hi" test "$out" = hi
	fi
fi

# ---- load ----------------------------------------------------------------------------
for f in docker.tar oci.tar layout; do
	out=$(HOIST_ROOT=$T/root-$f "$H" load -i "$f" 2>&1)
	check_quiet "hoist load -i $f" test "$out" = "Loaded image: busybox:e2e"
	HOIST_ROOT=$T/root-$f "$H" save --format oci-dir -o "again-$f" busybox:e2e
	check_quiet "round trip through $f keeps the digest" \
		test "$(json "again-$f/index.json" "d['manifests'][0]['digest']")" = "$D1"
done
if command -v skopeo >/dev/null 2>&1; then
	skopeo copy -q oci:layout:e2e docker-archive:skopeo.tar:foo/bar:v1
	out=$(HOIST_ROOT=$T/root-sk "$H" load -i skopeo.tar 2>&1)
	check_quiet "hoist load of skopeo's docker-archive" test "$out" = "Loaded image: foo/bar:v1"
	HOIST_ROOT=$T/root-sk "$H" save --format oci-dir -o sk-layout foo/bar:v1
	check_quiet "skopeo's docker-archive image is complete" umoci unpack --rootless --image sk-layout:v1 sk-bundle
	check_quiet "and has the same files" diff -r bundle/rootfs sk-bundle/rootfs
	skopeo copy -q oci:layout:e2e oci-archive:skopeo-oci.tar:v2
	out=$(HOIST_ROOT=$T/root-sk2 "$H" load -i skopeo-oci.tar 2>&1)
	check_quiet "hoist load of skopeo's oci-archive (tag only: loaded by ID)" grep -q '^Loaded image ID: sha256:' <<<"$out"
fi
head -c 100000 docker.tar >trunc.tar
out=$(HOIST_ROOT=$T/root-bad "$H" load -i trunc.tar 2>&1); rc=$?
check_quiet "hoist load of a truncated archive fails with exit 1" test $rc -eq 1
python3 - "$T/trav.tar" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], 'w') as t:
    ti = tarfile.TarInfo('../../manifest.json'); ti.size = 2
    t.addfile(ti, io.BytesIO(b'[]'))
EOF
out=$(HOIST_ROOT=$T/root-bad "$H" load -i trav.tar 2>&1); rc=$?
check_quiet "hoist load rejects path traversal" test $rc -eq 1 -a -n "$(grep escapes <<<"$out")"

finish
