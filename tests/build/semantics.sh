#!/bin/bash
# Stage semantics of `hoist build` that real BuildKit was seen to have: ARG
# values a stage inherits from the stage it starts FROM, ARG against ENV,
# RUN's "|N K=V" history, --target, ONBUILD triggers of a stage used as a
# base. Each case is tests/build/semantics/NAME/: a Dockerfile, optional
# build options (args, one line) and the expected summary of the build:
#
#	rc=EXIT STATUS
#	out: ...                        the RUN output lines starting "out: "
#	Env=[...] OnBuild=[...]         the image config's
#	CREATED_BY                      one line per history entry after the base's
#
# Every expected file is what BuildKit itself gave: Docker 20.10.24 (Debian's
# docker.io, the version of the differential corpus), dockerd started by hand
# as tests/oci/docker-load.sh starts it, the base made with `docker import
# busybox-rootfs.tar bb` (the differential corpus's base), and this script
# run with SEMANTICS_DOCKER=/usr/bin/docker, which builds each case with
#
#	DOCKER_BUILDKIT=1 docker build --no-cache --progress=plain --network=host \
#		-f NAME/Dockerfile -t sem-NAME $(cat NAME/args) EMPTY-CONTEXT
#
# and summarises `docker image inspect` and `docker history --no-trunc`
# instead of hoist's image (SEMANTICS_RECORD=1 also writes the expected
# files). Checked 2026-12-07.
set -uo pipefail
: "${HOIST_BIN:?}" "${HOIST_CORPORA:?}"
. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
cases=$HOIST_SRCDIR/tests/build/semantics
mkbase=$HOIST_CORPORA/buildkit-differential/base/mkbase.py
[ -f "$mkbase" ] || skip_all "no $mkbase"
[ -x /bin/busybox ] || skip_all "busybox-static is not installed"
command -v python3 >/dev/null || skip_all "no python3"
tmpdir T
# the differential corpus's base, made as its records were
base=$T/busybox-rootfs.tar
python3 "$mkbase" /bin/busybox "$base" >/dev/null || bail "cannot make the base rootfs"
mkdir "$T/ctx"
H="$HOIST_BIN --root $T/root"
D=${SEMANTICS_DOCKER:-}
if [ -z "$D" ]; then
	$H import "$base" bb >/dev/null || bail "import failed"
	# Every case RUNs: without a sandbox there is nothing to compare.
	out=$($H run bb true 2>&1) || skip_all "no RUN sandbox here: $out"
fi

# summary NAME: the build of case NAME as the expected files have it.
summary() {
	local name=$1 dir=$cases/$1 args=() rc
	[ -f "$dir/args" ] && read -r -a args <"$dir/args"
	if [ -n "$D" ]; then
		DOCKER_BUILDKIT=1 $D build --no-cache --progress=plain --network=host \
			-f "$dir/Dockerfile" -t "sem-$name" "${args[@]}" "$T/ctx" >"$T/$name.log" 2>&1
		rc=$?
		echo "rc=$rc"
		sed -nE 's/^#[0-9]+ [0-9.]+ (out: .*)/\1/p' "$T/$name.log"
		[ $rc -eq 0 ] || return 0
		$D image inspect -f 'Env={{json .Config.Env}} OnBuild={{json .Config.OnBuild}}' "sem-$name"
		$D history --no-trunc --format '{{.CreatedBy}}' "sem-$name" | tac | tail -n +2
		return 0
	fi
	$H build --no-cache --progress plain -f "$dir/Dockerfile" -t "sem-$name" "${args[@]}" "$T/ctx" \
		>"$T/$name.log" 2>&1
	rc=$?
	echo "rc=$rc"
	grep '^out: ' "$T/$name.log"
	[ $rc -eq 0 ] || return 0
	$H inspect "sem-$name" | python3 -c '
import json, sys
c = json.load(sys.stdin)["Config"]
cfg = c.get("config", {})
js = lambda v: json.dumps(v, separators=(",", ":"))
print("Env=" + js(cfg.get("Env")) + " OnBuild=" + js(cfg.get("OnBuild")))
for h in c.get("history", [])[1:]:
    print(h.get("created_by", ""))'
}

for dir in "$cases"/*/; do
	name=$(basename "$dir")
	summary "$name" >"$T/$name.got"
	if [ -n "${SEMANTICS_RECORD:-}" ]; then
		cp "$T/$name.got" "$dir/expected"
		ok "$name: recorded"
	elif diff -u "$dir/expected" "$T/$name.got" >"$T/$name.diff"; then
		ok "$name"
	else
		nok "$name"
		diag_file "$T/$name.diff"
		tail -n 5 "$T/$name.log" | diag
	fi
done
finish
