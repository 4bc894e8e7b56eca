#!/bin/sh
# 'hoist dockerfile dump': output, exit codes and FILE:LINE error text.
set -u
: "${HOIST_BIN:?HOIST_BIN is not set}"
. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
need_corpora buildkit-parser/testfiles/health

tmpdir tmp

"$HOIST_BIN" dockerfile dump "$HOIST_CORPORA/buildkit-parser/testfiles/health/Dockerfile" >"$tmp/out"
is "$?" 0 "dump exits 0"
if cmp -s "$tmp/out" "$HOIST_CORPORA/buildkit-parser/testfiles/health/result"; then
	ok "dump output equals BuildKit's result"
else
	nok "dump output equals BuildKit's result"
fi

printf 'FROM a\nRUN b\n' | "$HOIST_BIN" dockerfile dump - >"$tmp/out"
is "$?" 0 "dump - reads stdin"
is "$(cat "$tmp/out")" "$(printf '(from "a")\n(run "b")')" "stdin dump output"

printf 'FROM a\nENV x\n' >"$tmp/Dockerfile"
"$HOIST_BIN" dockerfile dump "$tmp/Dockerfile" >"$tmp/out" 2>"$tmp/err"
is "$?" 1 "parse error exits 1"
is "$(cat "$tmp/err")" "hoist: $tmp/Dockerfile:2: ENV must have two arguments" "error is FILE:LINE: message"

printf 'RUN a \\\n\n b\n' >"$tmp/Dockerfile"
"$HOIST_BIN" dockerfile dump "$tmp/Dockerfile" >"$tmp/out" 2>"$tmp/err"
is "$?" 0 "warning still exits 0"
is "$(cat "$tmp/err")" "$tmp/Dockerfile:3: warning: empty continuation line found in: RUN a  b" "warning is FILE:LINE: warning: ..."

printf 'FROM a\nCOPY <<EOF /x\nhi\nEOF\n' >"$tmp/Dockerfile"
"$HOIST_BIN" dockerfile dump --json "$tmp/Dockerfile" >"$tmp/out"
is "$?" 0 "dump --json exits 0"
if grep -q '"content": "hi\\n"' "$tmp/out" && grep -q '"instructions"' "$tmp/out"; then
	ok "JSON tree has heredoc content"
else
	nok "JSON tree has heredoc content"
fi

"$HOIST_BIN" dockerfile dump "$tmp/missing" 2>"$tmp/err"
is "$?" 1 "missing file exits 1"

"$HOIST_BIN" dockerfile dump >/dev/null 2>&1
is "$?" 2 "missing FILE is a usage error"
"$HOIST_BIN" dockerfile dump --bogus x >/dev/null 2>&1
is "$?" 2 "unknown option is a usage error"
"$HOIST_BIN" dockerfile frobnicate >/dev/null 2>&1
is "$?" 2 "unknown subcommand is a usage error"
"$HOIST_BIN" dockerfile >/dev/null 2>&1
is "$?" 2 "no subcommand is a usage error"
"$HOIST_BIN" dockerfile --help | grep -q 'dump' && ok "dockerfile --help lists dump" || nok "dockerfile --help lists dump"
"$HOIST_BIN" dockerfile dump --help | grep -q -- '--json' && ok "dump --help documents --json" || nok "dump --help documents --json"

finish
