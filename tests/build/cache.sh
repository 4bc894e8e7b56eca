#!/bin/bash
# Build cache and bad inputs of `hoist build`.
set -uo pipefail
: "${HOIST_BIN:?}" "${HOIST_CORPORA:?}"
base=$HOIST_CORPORA/buildkit-differential/base/busybox-rootfs.tar
[ -f "$base" ] || { echo "1..0 # SKIP no base rootfs"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
H="$HOIST_BIN --root $tmp/root"
n=0; failed=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }
$H import "$base" bb >/dev/null || { echo "Bail out! import failed"; exit 1; }
ctx=$tmp/ctx; mkdir -p "$ctx/dir"
echo hello > "$ctx/a.txt"; echo b > "$ctx/dir/b.txt"
cat > "$ctx/Dockerfile" <<'DF'
FROM bb
ARG V=1
COPY a.txt /a.txt
ENV V=$V
COPY dir /d/
DF
export SOURCE_DATE_EPOCH=1700000000
b() { $H build --progress plain "$@" "$ctx" 2>"$tmp/err" >"$tmp/out"; }
b; ok $? "first build"; d1=$(tail -1 "$tmp/out")
b; d2=$(tail -1 "$tmp/out"); [ "$d1" = "$d2" ]; ok $? "rebuild gives the same digest"
[ "$(grep -c CACHED "$tmp/err")" = 4 ]; ok $? "rebuild is all CACHED"
b --no-cache; d3=$(tail -1 "$tmp/out"); [ "$d1" = "$d3" ] && ! grep -q CACHED "$tmp/err"; ok $? "--no-cache rebuild is deterministic with SOURCE_DATE_EPOCH"
touch -d '2001-01-01' "$ctx/a.txt"; b; [ "$(tail -1 "$tmp/out")" = "$d1" ] && [ "$(grep -c CACHED "$tmp/err")" = 4 ]; ok $? "touch: all CACHED, same digest"
echo b2 > "$ctx/dir/b.txt"; b; [ "$(grep -c CACHED "$tmp/err")" = 3 ] && grep -q "CACHED .*ENV" "$tmp/err"; ok $? "one byte changed: only the last COPY misses"
chmod 0600 "$ctx/a.txt"; b; [ "$(grep -c CACHED "$tmp/err")" = 1 ]; ok $? "mode change: the COPY and what follows miss"
b --build-arg V=2; [ "$(grep -c CACHED "$tmp/err")" = 2 ] && grep -q "CACHED COPY a.txt" "$tmp/err"; ok $? "build-arg change: ENV and after miss"

# Bad inputs: exit 1, FILE:LINE message, store unchanged.
imgs_before=$($H images 2>&1 | awk '{print $1, $2, $3}')
bad() { # name dockerfile-text [args]
  local name=$1 text=$2; shift 2
  printf '%s\n' "$text" > "$ctx/Dockerfile.bad"
  $H build -f "$ctx/Dockerfile.bad" -t "bad:$name" "$@" "$ctx" >/dev/null 2>"$tmp/err"; local rc=$?
  [ $rc = 1 ] && grep -q "Dockerfile.bad:[0-9]*: " "$tmp/err"; ok $? "bad input: $name (rc=$rc: $(tail -1 "$tmp/err"))"
}
bad missing-file $'FROM bb\nCOPY nosuch.txt /'
bad bad-chown $'FROM bb\nCOPY --chown=nosuchuser a.txt /'
bad escape $'FROM bb\nCOPY ../escape /'
ln -sf /etc/hostname "$ctx/outlink"
bad symlink-escape $'FROM bb\nCOPY outlink /'
bad unknown-stage $'FROM bb\nCOPY --from=nosuchstage /x /'
head -c 600 /dev/urandom > "$ctx/corrupt.tar"; printf 'ustar' | dd of="$ctx/corrupt.tar" bs=1 seek=257 conv=notrunc 2>/dev/null
bad corrupt-tar $'FROM bb\nADD corrupt.tar /x/'
bad before-from $'COPY a.txt /\nFROM bb'
bad unknown-flag $'FROM bb\nCOPY --nope a.txt /'
printf 'FROM bb\n' > "$ctx/Dockerfile.bad"
$H build -f "$ctx/Dockerfile.bad" --target nosuch "$ctx" >/dev/null 2>"$tmp/err"; [ $? = 1 ] && grep -q "nosuch" "$tmp/err"; ok $? "unknown --target"
[ "$($H images 2>&1 | awk '{print $1, $2, $3}')" = "$imgs_before" ]; ok $? "images unchanged after failed builds"
$H cache verify >/dev/null 2>&1; ok $? "cache verify is clean"
echo "1..$n"
exit $failed
