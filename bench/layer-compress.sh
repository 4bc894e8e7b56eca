#!/bin/sh
# Layer compression levers (issue 8): hoist's layer writer (parallel gzip,
# 1 MiB blocks; and zstd) against single-threaded zlib at the same level, on
# the same bytes, with 1 and 2 compression threads; then the peak RSS of
# `hoist import` of a 2 GB layer (a zero/sparse file and a random file).
#
# Usage: bench/layer-compress.sh BUILD_DIR [MB] [RUNS]
# BUILD_DIR is a meson build dir (debugoptimized or release) with
# src/cli/hoist and the layer/store/util static libs built. The machine may be
# shared: every figure printed is the minimum over RUNS runs.
set -eu
B=$(cd "$1" && pwd)
MB=${2:-256}
RUNS=${3:-3}
REPO=$(cd "$(dirname "$0")/.." && pwd)
W=${TMPDIR:-/tmp}/hoist-layer-compress.$$
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT
SRC=$REPO/bench/.cache/debian-bookworm-amd64.tar
if [ ! -f "$SRC" ]; then # no rootfs tar from bench/run: tar /usr instead
	tar -C / -cf "$W/usr.tar" usr/lib usr/share/doc 2>/dev/null || true
	SRC=$W/usr.tar
fi
L=$B/src
cc -O2 -std=gnu17 -D_GNU_SOURCE -I"$REPO/include" -I"$B" -o "$W/zbench" "$REPO/bench/zbench.c" \
	"$L/layer/libhoist-layer.a" "$L/store/libhoist-store.a" "$L/util/libhoist-util.a" \
	-larchive -ljansson -lz -lpthread -lzstd

min() { sort -n | head -1; }

echo "# $MB MiB of $(basename "$SRC") repeated: min wall seconds of $RUNS runs, CPU seconds (all threads)"
for level in 6 1; do
	for t in 1 2; do
		HOIST_COMPRESS_THREADS=$t "$W/zbench" "$W/z" "$SRC" "$MB" "$level" "$RUNS" >"$W/out"
		z=$(awk '$1 == "zlib-1thread" { print $3 }' "$W/out" | min)
		h=$(awk '$1 == "hoist-layer" { print $3 }' "$W/out" | min)
		zc=$(awk '$1 == "zlib-1thread" { print $5 }' "$W/out" | min)
		hc=$(awk '$1 == "hoist-layer" { print $5 }' "$W/out" | min)
		echo "level $level threads $t: zlib ${z}s (cpu ${zc}s) hoist ${h}s (cpu ${hc}s)" \
			"speed ratio $(echo "$z $h" | awk '{ printf "%.2f", $1 / $2 }')"
	done
done

[ -n "${SKIP_RSS:-}" ] && exit 0
echo "# peak RSS of 'hoist import' of one 2 GiB file (KiB, /usr/bin/time -v)"
mkdir -p "$W/rootfs"
truncate -s 2G "$W/rootfs/zero"
( cd "$W/rootfs" && tar -cf "$W/zero.tar" --sparse zero ) && rm -f "$W/rootfs/zero"
head -c 2G /dev/urandom >"$W/rootfs/random"
( cd "$W/rootfs" && tar -cf "$W/random.tar" random ) && rm -f "$W/rootfs/random"
for f in zero random; do
	for c in gzip zstd; do
		rm -rf "$W/store"
		/usr/bin/time -v "$B/src/cli/hoist" --root "$W/store" import --compression $c "$W/$f.tar" "bench/$f:$c" \
			>/dev/null 2>"$W/time"
		echo "$f $c: peak $(awk -F': ' '/Maximum resident/ { print $2 }' "$W/time") KiB," \
			"wall $(awk -F'): ' '/Elapsed/ { print $2 }' "$W/time")"
	done
done
