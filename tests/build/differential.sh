#!/bin/bash
# The BuildKit differential corpus: build every case with hoist and compare
# with what real BuildKit recorded: every case must agree. History texts
# (created_by) are compared too unless COMPARE_FLAGS says otherwise
# (COMPARE_FLAGS= turns that off).
set -uo pipefail
: "${HOIST_BIN:?}"
. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
need_corpora buildkit-differential/cases
src=$HOIST_CORPORA/buildkit-differential
command -v python3 >/dev/null || skip_all "no python3"
[ -f "$src/base/busybox-rootfs.tar" ] || [ -x /bin/busybox ] ||
  skip_all "needs /bin/busybox (busybox-static) to make the base rootfs"
tmpdir tmp
# The corpus may be checked out read-only; BuildKit saw 0644/0755.
cp -r "$src" "$tmp/c"; chmod -R u+w "$tmp/c"; cd "$tmp/c"
# The base rootfs is not stored (a GPL binary): made from the host's busybox.
[ -f base/busybox-rootfs.tar ] || python3 base/mkbase.py /bin/busybox base/busybox-rootfs.tar >/dev/null ||
  bail "cannot make the base rootfs"
H="$HOIST_BIN --root $tmp/root"
$H import base/busybox-rootfs.tar bb >/dev/null || bail "import failed"
for d in $(ls -d cases/*/ | sort); do
  d=${d%/}; name=$(basename "$d"); nn=${name%%-*}
  args=()
  if [ -f "$d/build-args" ]; then
    while IFS= read -r l || [ -n "$l" ]; do [ -n "$l" ] && args+=(--build-arg "$l"); done < "$d/build-args"
  fi
  [ -f "$d/target" ] && args+=(--target "$(cat "$d/target")")
  ctx=$d; [ -d "$d/context" ] && ctx=$d/context
  out=$tmp/out/$name; mkdir -p "$tmp/out"
  if $H build -q -f "$d/Dockerfile" -t "diff/$nn" "${args[@]}" --output "type=oci,dest=$out" "$ctx" >"$out.log" 2>&1; then
    python3 normalize.py "$out" -o "$out.json"
  else
    python3 -c 'import json,sys; json.dump({"error": True, "message": sys.argv[2]}, open(sys.argv[1], "w"))' "$out.json" "$(tail -n 1 "$out.log")"
  fi
  if python3 compare.py "$d/expected.json" "$out.json" ${COMPARE_FLAGS---created-by} >"$out.cmp" 2>&1; then ok "$name"
  else nok "$name"; diag_file "$out.cmp" "$out.log"; fi
done
finish
