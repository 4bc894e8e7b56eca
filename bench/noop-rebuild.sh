#!/bin/bash
# hoist's no-op rebuild and one-file-change rebuild on a 20,000-file context
# (about 100 MB), with a COPY-only Dockerfile (no RUN, no base image), timed
# with hyperfine. Usage: bench/noop-rebuild.sh [HOIST_BINARY]
#   N=20000 MB=100 RUNS=10 override the context size and the run count.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
HOIST=$(realpath "${1:-${HOIST:-$here/../build/src/cli/hoist}}")
N=${N:-20000} MB=${MB:-100} RUNS=${RUNS:-10}
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
[ -x "$HOIST" ] || { echo "no hoist binary at $HOIST" >&2; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
python3 "$here/mkcontext.py" "$work/ctx" "$N" "$MB"
# Outside the context, so that it is not part of what COPY sends.
cat > "$work/Dockerfile" <<'DF'
FROM scratch
COPY . /ctx/
ENV APP=/ctx
CMD ["/ctx"]
DF
build="$HOIST --root $work/root build -q -f $work/Dockerfile $work/ctx"
export SOURCE_DATE_EPOCH=1700000000
echo "# context: $N files, $(du -sm "$work/ctx" | cut -f1) MB; hoist: $HOIST"
/usr/bin/time -f "first build (cold cache): %e s wall, %M KiB peak" $build >/dev/null
hyperfine --style basic --warmup 1 --runs "$RUNS" -n "no-op rebuild" "$build"
# Each run rewrites one file with new bytes of the same size: the COPY step
# and what follows miss, the stat cache spares the other 19,999 files.
hyperfine --style basic --runs "$RUNS" -n "one-file-change rebuild" \
  --prepare "python3 -c 'import os;p=\"$work/ctx/d000/f00000.dat\";n=os.path.getsize(p);open(p,\"wb\").write(os.urandom(n))'" \
  "$build"
