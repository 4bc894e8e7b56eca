#!/bin/sh
# Sandbox start-up overhead per RUN: `hoist run IMAGE /bin/true` (namespaces,
# overlay, proc/dev/sys, pivot_root, init, exec, teardown) against a plain
# fork+exec of the same binary, N times each; prints the median per call in
# ms. Usage: bench/sandbox-startup.sh [HOIST] [N] [IDENTITY]
# Run it as the user whose identity mode you want to measure.
set -eu
H=${1:-build/src/cli/hoist}; N=${2:-50}; ID=${3:-auto}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/mkrootfs-busybox.sh" "$W/bb.tar"
"$H" --root "$W/store" import "$W/bb.tar" bench-bb >/dev/null
"$H" --root "$W/store" run --identity "$ID" bench-bb /bin/true # unpack the layer once

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { # run "$@" N times, one wall-clock figure per run in ms
	i=0
	while [ $i -lt "$N" ]; do
		s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N)
		echo $(((e - s) / 1000))
		i=$((i + 1))
	done | median | awk '{printf "%.2f", $1 / 1000}'
}
plain=$(ms /bin/busybox true)
hoistrun=$(ms "$H" --root "$W/store" run --identity "$ID" bench-bb /bin/true)
none=$(ms "$H" --root "$W/store" run --identity "$ID" --network none bench-bb /bin/true)
echo "identity:               $("$H" --root "$W/store" run --identity "$ID" --progress plain bench-bb /bin/true 2>&1 | sed -n 's/.*identity mode \([a-z]*\).*/\1/p')"
echo "plain fork+exec:        $plain ms"
echo "hoist run (host net):   $hoistrun ms"
echo "hoist run (--net none): $none ms"
echo "overhead (host net):    $(echo "$hoistrun $plain" | awk '{printf "%.2f", $1 - $2}') ms"
