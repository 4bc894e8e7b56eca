#!/usr/bin/env python3
"""Fail when a meson test run skipped anything.

CI and `make check` treat a skip as a failure (DEVELOPERS.md): every test
needs its components installed or started by the test setup. Tests already
turn their own skips into failures when HOIST_TEST_NO_SKIP is set; this is
the backstop for a whole test that exited 77 or a TAP subtest marked SKIP.
Usage: check-no-skips.py BUILDDIR/meson-logs/testlog.json
"""
import json
import re
import sys

skipped = []
with open(sys.argv[1]) as f:
    for line in f:
        t = json.loads(line)
        name = t.get("name", "?")
        if t.get("result") == "SKIP":
            skipped.append(f"{name}: skipped")
            continue
        # meson writes a test's output as "stdout" (1.0 and later); the
        # older "stdo" is read too, so the check never reads nothing.
        for out in (t.get("stdout") or t.get("stdo") or "").splitlines():
            if re.match(r"^(not )?ok\b.*#\s*SKIP", out, re.I):
                skipped.append(f"{name}: {out.strip()}")
for s in skipped:
    print(f"check-no-skips: {s}", file=sys.stderr)
if skipped:
    print(f"check-no-skips: {len(skipped)} skip(s); a skip counts as a failure here", file=sys.stderr)
    sys.exit(1)
print("check-no-skips: nothing skipped")
