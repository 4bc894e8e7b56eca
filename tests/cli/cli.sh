#!/bin/sh
# The CLI contract: --help, --version, exit status 0 / 1 / 2, and that every
# command listed in `hoist --help` answers `hoist CMD --help` with status 0.
set -u
. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
H=${HOIST_BIN:?}

out=$("$H" --help); st=$?
check "hoist --help exits 0" [ $st -eq 0 ]
check "hoist --help lists commands" sh -c 'echo "$1" | grep -q "^Commands:"' _ "$out"
"$H" --version | grep -Eq '^hoist version [0-9]+\.[0-9]+\.[0-9]+'; check "hoist --version" [ $? -eq 0 ]
"$H" >/dev/null 2>&1; check "no command exits 2" [ $? -eq 2 ]
"$H" no-such-command >/dev/null 2>&1; check "unknown command exits 2" [ $? -eq 2 ]
"$H" --no-such-option >/dev/null 2>&1; check "unknown global option exits 2" [ $? -eq 2 ]
for c in $(echo "$out" | sed -n '/^Commands:/,/^$/p' | awk 'NR>1 && NF {print $1}'); do
	"$H" "$c" --help >/dev/null 2>&1; check "hoist $c --help exits 0" [ $? -eq 0 ]
	"$H" "$c" --no-such-flag >/dev/null 2>&1; check "hoist $c with an unknown flag exits 2" [ $? -eq 2 ]
done
finish
