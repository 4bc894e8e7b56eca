#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Stress (issue #21): a full disk under every command that writes the store
# or an output. The store and an output directory are small tmpfs mounts in
# a private mount namespace (unshare -m, as root); import, load, build (COPY
# and RUN), pull and save each meet ENOSPC, HOIST_STRESS_DISK_ROUNDS times
# with sizes drawn at random (default 6). Each must exit 1 with a message that
# says what it was doing, leave nothing in ROOT/tmp and no F.tmp-* beside an
# output, keep `cache verify` sound, and keep the images that were there.
set -u
. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
H=${HOIST_BIN:?}; SRC=$HOIST_SRCDIR
ROUNDS=${HOIST_STRESS_DISK_ROUNDS:-6}
[ "$(id -u)" = 0 ] || skip_all "needs root (tmpfs mounts in a private mount namespace)"
command -v unshare >/dev/null || skip_all "unshare (util-linux) not installed"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
# the rest in a private mount namespace: the mounts die with it
[ -n "${HOIST_FULLDISK_INNER:-}" ] ||
	HOIST_FULLDISK_INNER=1 exec unshare -m --propagation private sh "$0" "$@"
tmpdir T /tmp/hoist-fulldisk.XXXXXX
at_exit 'umount "$T/store" "$T/out" 2>/dev/null'
export HOIST_ROOT="$T/store"
mkdir -p "$HOIST_ROOT" "$T/out" "$T/ctx"
"$SRC/scripts/mkrootfs-busybox.sh" "$T/bb.tar" || bail "cannot make the busybox rootfs"
head -c $((12 << 20)) /dev/urandom >"$T/ctx/big"
mkdir -p "$T/rootfs"; head -c $((12 << 20)) /dev/urandom >"$T/rootfs/big"
tar -C "$T/rootfs" -cf "$T/big.tar" .
# a docker-archive of the base and a big layer, made with room to spare
"$H" --root "$T/maker" import "$T/big.tar" big >/dev/null || bail "import (maker) failed"
"$H" --root "$T/maker" save -o "$T/big-img.tar" big >/dev/null || bail "save (maker) failed"

tried=0 clean=0
# full DESC PATTERN CMD...: the command must fail, its message matching
# PATTERN (what it was doing, and ENOSPC), cleanly
full() {
	local desc=$1 pat=$2; shift 2
	tried=$((tried + 1))
	"$@" >"$T/o" 2>"$T/e"; rc=$?
	left=$(find "$HOIST_ROOT/tmp" -mindepth 1 -maxdepth 1 ! -name 'lease-*' ! -name '*.lock' 2>/dev/null | wc -l)
	part=$(find "$T/out" -name '*.tmp-*' | wc -l)
	"$H" cache verify >"$T/v" 2>&1; vr=$?
	"$H" images 2>/dev/null | grep -q 'bb'; kept=$?
	if [ $rc -eq 1 ] && grep -qiE "$pat" "$T/e" && [ "$left" -eq 0 ] && [ "$part" -eq 0 ] &&
		[ $vr -eq 0 ] && [ $kept -eq 0 ]; then
		clean=$((clean + 1))
		ok "$desc: fails cleanly ($(head -n 1 "$T/e" | cut -c1-150))"
	else
		nok "$desc: exit $rc, $left left in tmp, $part partial outputs, verify $vr, base kept $kept"
		diag_file "$T/e" "$T/v"
	fi
}

for i in $(seq 1 "$ROUNDS"); do
	umount "$HOIST_ROOT" 2>/dev/null; umount "$T/out" 2>/dev/null
	# 4..9 MiB: room for the base (~1.5 MiB) and its tree, not for 12 MiB more
	size=$((4 + $(od -An -N1 -tu1 /dev/urandom) % 6))M
	mount -t tmpfs -o size=$size tmpfs "$HOIST_ROOT" || bail "cannot mount a tmpfs"
	mount -t tmpfs -o size=256k tmpfs "$T/out" || bail "cannot mount a tmpfs"
	"$H" import "$T/bb.tar" bb >/dev/null 2>"$T/e" || { diag_file "$T/e"; bail "round $i: import of the base failed on $size"; }
	case $((i % 5)) in
	1) full "round $i ($size): import" "entry 'big'.*No space left" "$H" import "$T/big.tar" big ;;
	2) full "round $i ($size): load" "big-img.tar.*No space left" "$H" load -q -i "$T/big-img.tar" ;;
	3) printf 'FROM bb\nCOPY big /big\n' >"$T/ctx/Dockerfile"
	   full "round $i ($size): build, COPY" "Dockerfile:2: COPY: .*entry 'big'.*No space left" "$H" build -q "$T/ctx" ;;
	4) printf 'FROM bb\nRUN dd if=/dev/zero of=/z bs=1M count=32\n' >"$T/ctx/Dockerfile"
	   full "round $i ($size): build, RUN (the command's own failure)" \
		"Dockerfile:2: RUN .*(exited with status|No space left)" "$H" build -q --network none "$T/ctx" ;;
	0) full "round $i ($size): save -o on a full output" \
		"'$T/out/bb.tar'.*No space left" "$H" save -o "$T/out/bb.tar" bb ;;
	esac
done
diag "full disk: $tried commands met ENOSPC, $clean failed cleanly"
is "$clean" "$tried" "every command failed cleanly"
finish
