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

# hoist run: the option it does not know, on one line (issue #13)
opts="options: -e/--env, -v/--volume, -w/--workdir, -u/--user, --network, --hostname, --entrypoint, --rm, --identity, --commit, --progress, --platform, -h/--help"
err=$("$H" run -it bb sh 2>&1); st=$?
is "$st $err" "2 hoist run: unknown option '-it' (the command always gets hoist's stdin, stdout and stderr); $opts" "hoist run -it names the option"
err=$("$H" run -e FOO=1 --frobnicate bb 2>&1); st=$?
is "$st $err" "2 hoist run: unknown option '--frobnicate'; $opts" "hoist run --frobnicate names the option"
err=$("$H" run --env 2>&1); st=$?
is "$st $err" "2 hoist run: option '--env' needs a value; $opts" "hoist run --env without a value"

finish
