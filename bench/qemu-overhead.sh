#!/bin/sh
# Emulated against native RUN (issue 6): the same Dockerfiles built with
# `hoist build --no-cache` for linux/amd64 (native) and linux/arm64 (busybox
# under qemu-user), from the multi-arch busybox image of
# tests/lib/mkmultiarch.sh. Cases:
#   touch1  FROM + one `RUN touch /r1` (the smallest RUN with a layer)
#   touch10 FROM + ten such RUNs: (touch10 - touch1) / 9 is the cost of one
#           more RUN, CLI and store start-up cancel out
#   work    FROM + one RUN doing CPU work in busybox: a shell loop, sha256sum
#           and gzip of the busybox binary
#   run     `hoist run IMAGE true` (no build, no layer)
# Each case runs N times, native and emulated alternating so load changes on
# the shared machine hit both; prints a markdown table (median, min-max wall
# ms, median user+sys CPU ms, ratio of medians emulated / native) and the
# qemu path hoist took (from --progress plain).
# Usage: bench/qemu-overhead.sh [HOIST] [N] [IDENTITY]
#   defaults: build/src/cli/hoist, 5, auto. Run as the user whose identity
#   mode you want measured; HOIST_BINFMT=private forces the private
#   binfmt_misc path even where the host has an entry.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
H=$(realpath "${1:-$here/build/src/cli/hoist}"); N=${2:-5}; ID=${3:-auto}
W=$(mktemp -d /tmp/hoist-qemu-bench.XXXXXX); trap 'rm -rf "$W" 2>/dev/null || true' EXIT
S=$W/store
HOIST_BIN=$H HOIST_SRCDIR=$here "$here/tests/lib/mkmultiarch.sh" "$S" ma >/dev/null || {
	st=$?; echo "qemu-overhead: tests/lib/mkmultiarch.sh failed ($st)" >&2; exit $st; }

mkdir -p "$W/ctx"
# Each RUN writes its own file: ten identical empty layers would stack one
# snapshot several times in the overlay, which overlayfs refuses (ELOOP).
printf 'FROM ma:latest\nRUN touch /r1\n' >"$W/touch1"
{ echo 'FROM ma:latest'; for i in 1 2 3 4 5 6 7 8 9 10; do echo "RUN touch /r$i"; done; } >"$W/touch10"
printf '%s\n' 'FROM ma:latest' \
	'RUN i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sha256sum /bin/busybox >/dev/null; gzip -6 -c /bin/busybox >/dev/null' \
	>"$W/work"

# One timed hoist command: appends "wall_ms cpu_ms" to FILE.
timed() { # FILE HOIST-ARGS...
	f=$1; shift
	s=$(date +%s%N)
	/usr/bin/time -f '%U %S' -o "$W/cpu" "$H" --root "$S" "$@" >/dev/null 2>"$W/err" ||
		{ echo "qemu-overhead: failed: $*" >&2; cat "$W/err" >&2; exit 1; }
	e=$(date +%s%N)
	awk -v w=$(((e - s) / 1000)) '{ printf "%.1f %.0f\n", w / 1000, ($1 + $2) * 1000 }' "$W/cpu" >>"$f"
}
# median min max of column C of FILE
stats() { sort -n -k"$2" "$1" | awk -v c="$2" '{ a[NR] = $c } END { printf "%s %s %s", a[int((NR + 1) / 2)], a[1], a[NR] }'; }

# The qemu path, and one warm-up of each platform (unpacks the base layers).
"$H" --root "$S" build --no-cache --identity "$ID" --platform linux/arm64 --progress plain \
	-f "$W/touch1" -t warm "$W/ctx" >"$W/progress" 2>&1
"$H" --root "$S" build --no-cache --identity "$ID" --platform linux/amd64 -q -f "$W/touch1" -t warm "$W/ctx" >/dev/null
path=$(grep -o 'linux/arm64 through [^(]*' "$W/progress" | head -n 1 | sed 's/ *$//')

load0=$(cut -d' ' -f1-3 /proc/loadavg)
i=0
while [ $i -lt "$N" ]; do
	for c in touch1 touch10 work; do
		for p in amd64 arm64; do
			timed "$W/$c.$p" build --no-cache --identity "$ID" --platform linux/$p -q -f "$W/$c" -t "b-$c" "$W/ctx"
		done
	done
	for p in amd64 arm64; do
		timed "$W/run.$p" run --identity "$ID" --platform linux/$p ma:$p true
	done
	i=$((i + 1))
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

echo "$("$H" --version 2>&1 | head -n 1), identity $ID as uid $(id -u), $N runs each, $(nproc) CPUs, kernel $(uname -r)"
echo "qemu path: ${path:-unknown (see --progress plain)}"
echo "load average: $load0 at start, $load1 at end"
echo
echo "| case | native ms: median (min-max) | emulated ms: median (min-max) | CPU ms (user+sys, median) native / emulated | emulated / native, wall | emulated / native, CPU |"
echo "| --- | --- | --- | --- | --- | --- |"
for c in touch1 touch10 work run; do
	# shellcheck disable=SC2046 # split on purpose: median min max of each
	set -- $(stats "$W/$c.amd64" 1) $(stats "$W/$c.arm64" 1)
	cn=$(stats "$W/$c.amd64" 2 | cut -d' ' -f1); ce=$(stats "$W/$c.arm64" 2 | cut -d' ' -f1)
	awk -v c=$c -v a="$1" -v b="$2" -v d="$3" -v e="$4" -v f="$5" -v g="$6" -v cn="$cn" -v ce="$ce" \
		'BEGIN { printf "| %s | %s (%s-%s) | %s (%s-%s) | %s / %s | %.2f | %.2f |\n", c, a, b, d, e, f, g, cn, ce, e / a, (cn > 0 ? ce / cn : 0) }'
done
t1n=$(stats "$W/touch1.amd64" 1 | cut -d' ' -f1); t10n=$(stats "$W/touch10.amd64" 1 | cut -d' ' -f1)
t1e=$(stats "$W/touch1.arm64" 1 | cut -d' ' -f1); t10e=$(stats "$W/touch10.arm64" 1 | cut -d' ' -f1)
c1n=$(stats "$W/touch1.amd64" 2 | cut -d' ' -f1); c10n=$(stats "$W/touch10.amd64" 2 | cut -d' ' -f1)
c1e=$(stats "$W/touch1.arm64" 2 | cut -d' ' -f1); c10e=$(stats "$W/touch10.arm64" 2 | cut -d' ' -f1)
echo
awk -v a="$t1n" -v b="$t10n" -v c="$t1e" -v d="$t10e" -v w="wall" 'BEGIN {
	n = (b - a) / 9; e = (d - c) / 9
	printf "per extra RUN, %s (medians, (touch10 - touch1) / 9): native %.1f ms, emulated %.1f ms, emulation adds %.1f ms\n", w, n, e, e - n }'
awk -v a="$c1n" -v b="$c10n" -v c="$c1e" -v d="$c10e" -v w="CPU" 'BEGIN {
	n = (b - a) / 9; e = (d - c) / 9
	printf "per extra RUN, %s (medians, (touch10 - touch1) / 9): native %.1f ms, emulated %.1f ms, emulation adds %.1f ms\n", w, n, e, e - n }'
wn=$(stats "$W/work.amd64" 1 | cut -d' ' -f1); we=$(stats "$W/work.arm64" 1 | cut -d' ' -f1)
cwn=$(stats "$W/work.amd64" 2 | cut -d' ' -f1); cwe=$(stats "$W/work.arm64" 2 | cut -d' ' -f1)
awk -v a="$t1n" -v b="$wn" -v c="$t1e" -v d="$we" -v ca="$c1n" -v cb="$cwn" -v cc="$c1e" -v cd="$cwe" 'BEGIN {
	printf "the work RUN net of a build'"'"'s fixed cost (work - touch1): wall %.0f ms native, %.0f ms emulated (%.2fx); CPU %.0f / %.0f ms (%.2fx)\n",
		b - a, d - c, (d - c) / (b - a), cb - ca, cd - cc, (cd - cc) / (cb - ca) }'
