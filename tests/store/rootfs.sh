#!/bin/sh
# The layers unpacked for RUN (ROOT/rootfs/<mode>/<diffid>) are sealed when
# unpacked (issue #21, finding 9): a file changed there afterwards is found
# by `cache verify`, which discards the tree, and never reaches a later build
# (--no-cache included), which unpacks the layer again; `cache prune` removes
# trees no image needs. Needs root (RUN in root mode).
set -u
. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
H=${HOIST_BIN:?}
[ "$(id -u)" = 0 ] || skip_all "needs root (RUN in root mode)"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
tmpdir T /tmp/hoist-rootfs-test.XXXXXX
export HOIST_ROOT="$T/store"
"$HOIST_SRCDIR/scripts/mkrootfs-busybox.sh" "$T/bb.tar" || bail "cannot make the busybox rootfs"
"$H" import "$T/bb.tar" bb >/dev/null || bail "import failed"
mkdir -p "$T/ctx"
printf 'FROM bb\nRUN ! grep -q TAMPERED /etc/group && echo clean >/seen\n' >"$T/ctx/Dockerfile"

"$H" build --progress quiet -t one "$T/ctx" >/dev/null 2>"$T/err"
check "a RUN on the base builds" [ $? -eq 0 ]
[ -s "$T/err" ] && diag "$(cat "$T/err")"
tree=$(ls -d "$HOIST_ROOT"/rootfs/root/*/ 2>/dev/null | head -1)
tree=${tree%/}
{ [ -n "$tree" ] && [ -f "$tree/etc/group" ]; }; ok_if $? "the base layer is unpacked under rootfs/root"
check "... with its seal beside it" [ -s "$tree.seal" ]
check_quiet "cache verify is sound" "$H" cache verify
ino=$(stat -c %i "$tree")
"$H" build --no-cache --progress quiet -t one "$T/ctx" >/dev/null 2>&1
check "an untouched tree passes its seal: the next build uses it as it is" [ "$(stat -c %i "$tree")" = "$ino" ]

echo TAMPERED >>"$tree/etc/group"
out=$("$H" cache verify 2>&1); st=$?
check "cache verify fails on a file changed in an unpacked layer" [ $st -eq 1 ]
check "... names the tree" sh -c "printf '%s' \"\$1\" | grep -q \"unpacked layer 'rootfs/root/$(basename "$tree")' differs\"" _ "$out"
check "... and discards it" [ ! -e "$tree" ]
check_quiet "the next verify is sound" "$H" cache verify

"$H" build --no-cache --progress quiet -t two "$T/ctx" >/dev/null 2>&1
check "the next build unpacks the layer again" [ -f "$tree/etc/group" ]
echo TAMPERED >>"$tree/etc/group"
touch -d @0 "$tree/etc/group" # mtime put back: the ctime still tells
"$H" build --no-cache --progress quiet -t three "$T/ctx" >/dev/null 2>"$T/err"; st=$?
check "a --no-cache build never sees a changed file in an unpacked layer" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(cat "$T/err")"
check "... it unpacked the layer again" sh -c "! grep -q TAMPERED '$tree/etc/group'"

"$H" rmi one two three bb >/dev/null
"$H" cache prune --all >"$T/out" 2>&1
{ [ ! -e "$tree" ] && [ ! -e "$tree.seal" ]; }; ok_if $? "cache prune removes the trees no image needs"
check "... and says so" grep -q 'unpacked layer tree' "$T/out"
finish
