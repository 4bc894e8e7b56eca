#!/bin/sh
# hoist chain on the shape of atom's docker/stock folder: nine
# NN-Dockerfile-<descriptor> steps, each FROM $BASE_IMAGE plus one small RUN,
# from a busybox base. Measures the chain from scratch (empty store but the
# base), a no-change rebuild, and the rebuild after a change in step 5
# (steps 5..9 run, 1..4 are cache hits). Median of N runs (default 3).
# Usage: bench/chain-rebuild.sh [N]   (HOIST_BIN: the hoist binary)
set -eu
N=${1:-3}
SRC=$(cd "$(dirname "$0")/.." && pwd)
H=${HOIST_BIN:-$SRC/build/src/cli/hoist}
[ -x "$H" ] || { echo "chain-rebuild: set HOIST_BIN to a built hoist" >&2; exit 1; }
W=$(mktemp -d /tmp/hoist-chain-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
"$SRC/scripts/mkrootfs-busybox.sh" "$W/bb.tar"

F="$W/docker/stock"
mkdir -p "$W/ctx"
mkdir -p "$F"
i=0
for s in 01-packages 02-python 03-blas 04-python-numpy 05-arrow 10-c-cpp 20-python-arrow 21-python-redis 90-redis; do
	i=$((i + 1))
	printf 'ARG BASE_IMAGE\nFROM $BASE_IMAGE as base\nARG DEBIAN_FRONTEND=noninteractive\nRUN mkdir -p /atom && echo "step %s v1" >> /atom/steps && seq 1 2000 > /atom/%s.txt\n' \
		"$s" "$s" >"$F/${s%%-*}-Dockerfile-${s#*-}"
done
echo 'BLAS_ARGS=TARGET=HASWELL' >"$F/blas-amd64-args"

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run_chain() { # STORE LOG
	HOIST_ROOT=$1 "$H" chain build --base bb -t bench:stock --context "$W/ctx" "$F" >/dev/null 2>"$2"
}

: >"$W/scratch"; : >"$W/nochange"; : >"$W/step5"
for k in $(seq 1 "$N"); do
	S="$W/store.$k"
	sed -i 's/ v2"/ v1"/' "$F/05-Dockerfile-arrow"
	HOIST_ROOT=$S "$H" import "$W/bb.tar" bb >/dev/null
	t0=$(now); run_chain "$S" "$W/log.scratch"; t1=$(now)
	echo "$t1 - $t0" | bc >>"$W/scratch"
	t0=$(now); run_chain "$S" "$W/log.nochange"; t1=$(now)
	echo "$t1 - $t0" | bc >>"$W/nochange"
	sed -i 's/ v1"/ v2"/' "$F/05-Dockerfile-arrow"
	t0=$(now); run_chain "$S" "$W/log.step5"; t1=$(now)
	echo "$t1 - $t0" | bc >>"$W/step5"
	rm -rf "$S"
done
sc=$(median <"$W/scratch"); nc=$(median <"$W/nochange"); s5=$(median <"$W/step5")
echo "hoist chain, atom stock shape (9 steps x 1 RUN), busybox base, median of $N"
echo "  from scratch:              ${sc}s   ($(tail -1 "$W/log.scratch" | sed 's/^\[chain\] //'))"
echo "  rebuild, no change:        ${nc}s   ($(tail -1 "$W/log.nochange" | sed 's/^\[chain\] //'))"
echo "  rebuild after step 5 edit: ${s5}s   ($(tail -1 "$W/log.step5" | sed 's/^\[chain\] //'))"
echo "  step-5 rebuild / scratch:  $(echo "scale=2; $s5 / $sc" | bc)"
