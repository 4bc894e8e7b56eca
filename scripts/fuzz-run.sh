#!/bin/sh
# Run one libFuzzer campaign of a fuzz build (make fuzz) and print the line
# docs/fuzzing.md's table records: target, minutes, execs, final cov:,
# findings. The working corpus is BUILD/fuzz-corpus/TARGET (grows across
# runs); the seeds in fixtures/fuzz/TARGET are read only. A crash, leak or
# sanitizer report leaves crash-*/leak-*/timeout-* files in
# BUILD/fuzz-artifacts/TARGET/ and the log in BUILD/fuzz-logs/TARGET.log.
# It runs at nice 19 with a 2 GiB RSS limit; -fork is not used. UBSan halts
# on the first report (UBSAN_OPTIONS), so undefined behaviour is a finding.
# FUZZ_USER=nobody runs the fuzzer as that user (setpriv, when run as root):
# for fuzz-unpack, which writes files, so that an escape from its temporary
# directory could not reach the host's files.
# Usage: scripts/fuzz-run.sh TARGET SECONDS [BUILD_DIR] [libFuzzer options...]
set -u
target=${1:?target (e.g. tar)}
secs=${2:?seconds}
build=${3:-build-fuzz}
[ $# -ge 3 ] && shift 3 || shift $#
src=$(cd "$(dirname "$0")/.." && pwd)
bin=$build/tests/fuzz/fuzz-$target
[ -x "$bin" ] || { echo "fuzz-run: no $bin (make fuzz builds it)" >&2; exit 1; }
corpus=$build/fuzz-corpus/$target
art=$build/fuzz-artifacts/$target
log=$build/fuzz-logs/$target.log
mkdir -p "$corpus" "$art" "$(dirname "$log")"
as=
if [ -n "${FUZZ_USER:-}" ] && [ "$(id -u)" = 0 ]; then
	chown -R "$FUZZ_USER" "$corpus" "$art"
	as="setpriv --reuid=$(id -u "$FUZZ_USER") --regid=$(id -g "$FUZZ_USER") --clear-groups"
fi
start=$(date +%s)
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
	nice -n 19 $as "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=25 \
	-max_len=262144 -print_final_stats=1 -artifact_prefix="$art/" "$@" \
	"$corpus" "$src/fixtures/fuzz/$target" >"$log" 2>&1
st=$?
mins=$(( ($(date +%s) - start + 30) / 60 ))
cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
execs=$(grep -E '^stat::number_of_executed_units' "$log" | grep -Eo '[0-9]+$')
found=$(ls "$art" 2>/dev/null | wc -l)
reports=$(grep -Ec 'runtime error|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' "$log")
echo "$target: ${mins} min, ${execs:-?} execs, cov ${cov:-?}, exit $st, $reports sanitizer reports, $found artifacts ($art)"
