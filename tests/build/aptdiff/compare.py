#!/usr/bin/env python3
"""Compare two per-layer image records (normalize.py), minus the exclusions.

Adapted from the BuildKit differential corpus's compare.py
(tests/corpora/buildkit-differential/compare.py): layer by layer instead
of one merged tree, and with an exclusion file.

Usage: compare.py [--exclude FILE] [--mode MODE] EXPECTED.json ACTUAL.json
Prints one line per difference; exit 0 when there is none, 1 otherwise.

The exclusion file (tests/build/aptdiff/exclude) has one rule per line:

    MODES  FIELDS  PATTERN  REASON...

MODES   `all` or a comma list of identity modes (root, subuid, single) the
        rule applies to (--mode names the one being compared);
FIELDS  `entry` (the path is not compared at all: present on one side only,
        or different, is fine) or a comma list of entry fields left out
        (content = size and sha256; uid, gid, mode, xattrs, link, type);
PATTERN a shell pattern matched against the record's path (fnmatch: `*`
        crosses `/`);
REASON  why: required, so that every exclusion is explained.
Blank lines and lines starting with `#` are comments. A rule that matches
nothing is reported with --unused (to keep the file honest).
"""
import argparse
import fnmatch
import json
import sys

FIELD_SETS = {"content": ("size", "sha256")}


def load_rules(path, mode):
    rules = []
    if not path:
        return rules
    with open(path, encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 3)
            if len(parts) < 4:
                raise SystemExit("%s:%d: want MODES FIELDS PATTERN REASON" % (path, no))
            modes, fields, pattern, _reason = parts
            if modes != "all" and mode not in modes.split(","):
                continue
            fs = set()
            for x in fields.split(","):
                fs.update(FIELD_SETS.get(x, (x,)))
            rules.append({"line": no, "fields": fs, "pattern": pattern, "used": False})
    return rules


def ignored(rules, path):
    out = set()
    for r in rules:
        if fnmatch.fnmatchcase(path, r["pattern"]):
            r["used"] = True
            out |= r["fields"]
    return out


def compare(exp, act, rules):
    out = []
    ce, ca = exp.get("config", {}), act.get("config", {})
    for k in sorted(set(ce) | set(ca)):
        if ce.get(k) != ca.get(k):
            out.append("config.%s: expected %s, got %s" % (k, json.dumps(ce.get(k)), json.dumps(ca.get(k))))
    fe = "".join("e" if h["empty_layer"] else "L" for h in exp.get("history", []))
    fa = "".join("e" if h["empty_layer"] else "L" for h in act.get("history", []))
    if fe != fa:
        out.append("history empty_layer flags: expected %s, got %s" % (fe, fa))
    le, la = exp.get("layers", []), act.get("layers", [])
    if len(le) != len(la):
        out.append("layers: expected %d, got %d" % (len(le), len(la)))
    for i, (a, b) in enumerate(zip(le, la)):
        for p in sorted(set(a) | set(b)):
            ign = ignored(rules, p)
            if "entry" in ign:
                continue
            x, y = a.get(p), b.get(p)
            if x is None:
                out.append("layer %d %s: unexpected %s" % (i, p, json.dumps(y, sort_keys=True, ensure_ascii=False)))
            elif y is None:
                out.append("layer %d %s: missing (expected %s)" % (i, p, json.dumps(x, sort_keys=True, ensure_ascii=False)))
            else:
                diffs = ["%s %s != %s" % (k, json.dumps(x.get(k), ensure_ascii=False), json.dumps(y.get(k), ensure_ascii=False))
                         for k in sorted(set(x) | set(y)) if k not in ign and x.get(k) != y.get(k)]
                if diffs:
                    out.append("layer %d %s: %s" % (i, p, "; ".join(diffs)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("expected")
    ap.add_argument("actual")
    ap.add_argument("--exclude")
    ap.add_argument("--mode", default="")
    ap.add_argument("--unused", action="store_true", help="list exclusion rules that matched nothing")
    a = ap.parse_args()
    with open(a.expected, encoding="utf-8") as f:
        exp = json.load(f)
    with open(a.actual, encoding="utf-8") as f:
        act = json.load(f)
    rules = load_rules(a.exclude, a.mode)
    diffs = compare(exp, act, rules)
    for d in diffs:
        print(d)
    if a.unused:
        for r in rules:
            if not r["used"]:
                print("unused exclusion: line %d (%s)" % (r["line"], r["pattern"]))
    if diffs:
        print("%d difference(s)" % len(diffs))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
