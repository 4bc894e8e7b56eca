#!/bin/bash
# Rebuild cases/*/expected.json with Docker BuildKit (docker CLI 20.10+, DOCKER_BUILDKIT=1).
# Usage: ./build-expected.sh [CASE_DIR_NAME...]    (default: all cases, in sorted order)
# Needs DOCKER_HOST (or the default socket) pointing at a running dockerd; no network needed.
# Each case NN-name is built as image diff/NN; the base image is `bb` (imported from
# base/busybox-rootfs.tar). Builds use --network=host (works without a bridge network).
set -uo pipefail
cd "$(dirname "$0")"
DOCKER=${DOCKER:-docker}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
[ -f base/busybox-rootfs.tar ] || python3 base/mkbase.py
$DOCKER image inspect bb >/dev/null 2>&1 || $DOCKER import base/busybox-rootfs.tar bb >/dev/null
if [ $# -gt 0 ]; then CASES=("$@"); else CASES=($(ls cases)); fi
fail=0
for n in "${CASES[@]}"; do
  d=cases/${n%/}; n=$(basename "$d"); nn=${n%%-*}
  args=(--network=host)
  if [ -f "$d/build-args" ]; then
    while IFS= read -r l || [ -n "$l" ]; do [ -n "$l" ] && args+=(--build-arg "$l"); done < "$d/build-args"
  fi
  [ -f "$d/target" ] && args+=(--target "$(cat "$d/target")")
  ctx=$d; [ -d "$d/context" ] && ctx=$d/context
  if DOCKER_BUILDKIT=1 $DOCKER build --progress=plain "${args[@]}" -f "$d/Dockerfile" -t "diff/$nn" "$ctx" > "$TMP/log" 2>&1; then
    $DOCKER save "diff/$nn" -o "$TMP/img.tar"
    python3 normalize.py --base base/busybox-rootfs.tar "$TMP/img.tar" -o "$d/expected.json"
    rm -f "$TMP/img.tar"
    if [ -f "$d/expect-error" ]; then echo "UNEXPECTED SUCCESS $n"; fail=1; else echo "ok    $n"; fi
  else
    # keep the final error line (the one Docker prints last), without the machine-specific bits
    msg=$(grep -v '^\s*$' "$TMP/log" | tail -n 1)
    python3 - "$d/expected.json" "$msg" <<'PY'
import json, sys
json.dump({"error": True, "message": sys.argv[2]}, open(sys.argv[1], "w"), indent=1, sort_keys=True)
open(sys.argv[1], "a").write("\n")
PY
    if [ -f "$d/expect-error" ]; then echo "error $n (expected): $msg"; else echo "FAIL  $n: $msg"; fail=1; fi
  fi
done
exit $fail
