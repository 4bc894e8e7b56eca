#!/usr/bin/env python3
"""Print where a `make check` run spent its time.

CI has 90 minutes for the whole of .ci/run and aims at 30
(docs/architecture.md, "CI time"), so every run prints this at the end:
the test suite's wall time, the slowest tests with their start offset
(is_parallel: false tests run alone, so their durations add up), the
fixtures made in the background (meson-logs/fixtures.log, from
scripts/prefetch-fixtures.sh) and the load average, which says how far
the figures can be trusted on a shared machine.
Usage: ci-times.py BUILDDIR/meson-logs [N]   (N slowest tests, default 15)
"""
import json
import os
import sys

logs = sys.argv[1]
top = int(sys.argv[2]) if len(sys.argv) > 2 else 15
tests = []
try:
    with open(os.path.join(logs, "testlog.json")) as f:
        for line in f:
            t = json.loads(line)
            tests.append((t.get("name", "?"), t.get("result", "?"),
                          t.get("starttime", 0.0), t.get("duration", 0.0)))
except OSError as e:
    print(f"ci-times: no test log ({e.strerror})")
if tests:
    t0 = min(t[2] for t in tests)
    end = max(t[2] + t[3] for t in tests)
    total = sum(t[3] for t in tests)
    print(f"ci-times: {len(tests)} tests in {end - t0:.0f} s wall "
          f"({total:.0f} s summed)")
    for name, result, start, dur in sorted(tests, key=lambda t: -t[3])[:top]:
        print(f"ci-times: {dur:7.1f} s  from {start - t0:6.0f} s  {result:4} {name}")
try:
    with open(os.path.join(logs, "fixtures.log")) as f:
        for line in f:
            if line.startswith("fixture "):
                print(f"ci-times: {line.rstrip()} (from the compile's start)")
except OSError:
    pass
try:
    with open("/proc/loadavg") as f:
        print(f"ci-times: load average now {' '.join(f.read().split()[:3])}")
except OSError:
    pass
