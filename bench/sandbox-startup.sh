#!/bin/sh
# Sandbox start-up overhead per RUN (issue 5: target < 10 ms over a plain
# fork+exec) and snapshot time against the base's size (target: flat).
#
#  1. the CLI: `hoist run IMAGE /bin/true` against fork+exec, N times each;
#  2. the library alone: bench/sbench.c calls hoist_sandbox_run() N times
#     on a prepared root filesystem (want_layer=false), no CLI start-up, in
#     one process, as a build runs its RUNs (in subuid mode the first run
#     makes the user namespace, the others join it);
#  3. snapshot: a RUN that writes 10 files, with and without making the
#     layer, in a base of 5,000 and of 50,000 files.
# Prints min and median in ms (the machine is shared: trust the minimum),
# and for the library also the CPU time of the run's whole process tree
# (compare that when the machine is loaded).
# Usage: bench/sandbox-startup.sh [BUILDDIR] [N] [IDENTITY]
# Run it as the user whose identity mode you want to measure.
set -eu
B=${1:-build}; N=${2:-50}; ID=${3:-auto}
H=$B/src/cli/hoist
W=$(mktemp -d); trap 'rm -rf "$W" 2>/dev/null || true' EXIT
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/mkrootfs-busybox.sh" "$W/bb.tar" >/dev/null
D=$("$H" --root "$W/store" import "$W/bb.tar" bench-bb)
"$H" --root "$W/store" run --identity "$ID" bench-bb /bin/true # unpack the layer once

stats() { sort -n | awk '{a[NR]=$1} END {printf "%.2f %.2f", a[1]/1000, a[int((NR+1)/2)]/1000}'; }
ms() { # run "$@" N times: min and median wall-clock ms
	i=0
	while [ $i -lt "$N" ]; do
		s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N)
		echo $(((e - s) / 1000))
		i=$((i + 1))
	done | stats
}
echo "== CLI (min median, ms)"
echo "plain fork+exec:        $(ms /bin/busybox true)"
echo "hoist run (host net):   $(ms "$H" --root "$W/store" run --identity "$ID" bench-bb /bin/true)"
echo "hoist run (--net none): $(ms "$H" --root "$W/store" run --identity "$ID" --network none bench-bb /bin/true)"

L=$B/src
cc -O2 -std=gnu17 -D_GNU_SOURCE -I"$here/include" -I"$B" -o "$W/sbench" "$here/bench/sbench.c" \
	"$L/sandbox/libhoist-sandbox.a" "$L/layer/libhoist-layer.a" "$L/oci/libhoist-oci.a" \
	"$L/store/libhoist-store.a" "$L/util/libhoist-util.a" \
	"$B/libhoist-archive-dl.a" -ldl -ljansson -lz -lpthread $(pkg-config --libs libzstd 2>/dev/null)
echo "== library (wall min median, CPU min median, ms)"
"$W/sbench" "$W/store" "$D" "$N" "$ID"

echo "== snapshot of a RUN writing 10 files (wall min median, CPU min median, ms)"
for files in 5000 50000; do
	r=$W/base$files; mkdir -p "$r/x"; tar -xf "$W/bb.tar" -C "$r/x"
	mkdir -p "$r/x/data"
	i=0; while [ $i -lt $((files / 1000)) ]; do
		mkdir -p "$r/x/data/d$i"; (cd "$r/x/data/d$i" && seq 1000 | xargs touch); i=$((i + 1))
	done
	tar -cf "$r/base.tar" -C "$r/x" .
	d=$("$H" --root "$W/store" import "$r/base.tar" "base$files")
	echo "-- base of $files files"
	"$W/sbench" "$W/store" "$d" "$N" "$ID" snap | grep -v '^#'
done
