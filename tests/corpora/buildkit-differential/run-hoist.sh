#!/bin/bash
# Build every case with hoist and compare against expected.json (assumes
# `hoist import TAR NAME` and
# `hoist build -f DOCKERFILE -t NAME [--build-arg K=V] [--target T] --output type=oci,dest=DIR CONTEXT`).
# Usage: ./run-hoist.sh [CASE_DIR_NAME...]     env: HOIST=path/to/hoist  COMPARE_FLAGS=...
set -uo pipefail
cd "$(dirname "$0")"
HOIST=${HOIST:-hoist}
OUTDIR=${OUTDIR:-$(mktemp -d)}
[ -f base/busybox-rootfs.tar ] || python3 base/mkbase.py
$HOIST import base/busybox-rootfs.tar bb
if [ $# -gt 0 ]; then CASES=("$@"); else CASES=($(ls cases)); fi
pass=0; fail=0
for n in "${CASES[@]}"; do
  d=cases/${n%/}; n=$(basename "$d"); nn=${n%%-*}
  args=()
  if [ -f "$d/build-args" ]; then
    while IFS= read -r l || [ -n "$l" ]; do [ -n "$l" ] && args+=(--build-arg "$l"); done < "$d/build-args"
  fi
  [ -f "$d/target" ] && args+=(--target "$(cat "$d/target")")
  ctx=$d; [ -d "$d/context" ] && ctx=$d/context
  rm -rf "$OUTDIR/$n"
  if $HOIST build -f "$d/Dockerfile" -t "diff/$nn" "${args[@]}" --output "type=oci,dest=$OUTDIR/$n" "$ctx" > "$OUTDIR/$n.log" 2>&1; then
    python3 normalize.py "$OUTDIR/$n" -o "$OUTDIR/$n.json"
  else
    python3 -c 'import json,sys; json.dump({"error": True, "message": sys.argv[2]}, open(sys.argv[1], "w"))' \
      "$OUTDIR/$n.json" "$(tail -n 1 "$OUTDIR/$n.log")"
  fi
  if python3 compare.py ${COMPARE_FLAGS:-} "$d/expected.json" "$OUTDIR/$n.json" > "$OUTDIR/$n.cmp"; then
    echo "PASS $n"; pass=$((pass+1))
  else
    echo "FAIL $n"; sed 's/^/     /' "$OUTDIR/$n.cmp"; fail=$((fail+1))
  fi
done
echo "pass=$pass fail=$fail (outputs in $OUTDIR)"
[ $fail -eq 0 ]
