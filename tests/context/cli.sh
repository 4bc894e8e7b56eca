#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# 'hoist context ls' end to end: output, the ignore file choice, exit codes.
set -u

HOIST=${HOIST_BIN:?HOIST_BIN is not set}
. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
tmpdir tmp "${TMPDIR:-/tmp}/hoist-cli-context.XXXXXX"

# expect_out DESCRIPTION EXPECTED-OUTPUT ARGS...
expect_out() {
	desc=$1 want=$2
	shift 2
	got=$("$HOIST" context ls "$@" 2>"$tmp/stderr")
	rc=$?
	if [ $rc -eq 0 ] && [ "$got" = "$want" ]; then
		ok "$desc"
	else
		nok "$desc"
		echo "# rc=$rc"
		printf '%s\n' "$got" | sed 's/^/# got:  /'
		printf '%s\n' "$want" | sed 's/^/# want: /'
		sed 's/^/# stderr: /' "$tmp/stderr"
	fi
}

c=$tmp/ctx
mkdir -p "$c/src/lib" "$c/logs" "$c/node_modules/x" "$c/empty" "$c/build"
echo main >"$c/src/main.c"
echo lib >"$c/src/lib/lib.c"
echo log >"$c/debug.log"
echo keep >"$c/keep.log"
echo a >"$c/logs/a.log"
echo js >"$c/node_modules/x/index.js"
echo readme >"$c/README.md"
ln -s src "$c/srclink"
echo "FROM scratch" >"$c/Dockerfile"
echo "FROM scratch" >"$c/build/app.Dockerfile"
printf '# comment\n**/*.log\n!keep.log\nnode_modules\n.dockerignore\n' >"$c/.dockerignore"

expect_out "ls applies .dockerignore; empty dirs end in /" "Dockerfile
README.md
build/app.Dockerfile
empty/
keep.log
logs/
src/lib/lib.c
src/main.c
srclink" "$c"

expect_out "--all lists every directory" "Dockerfile
README.md
build/
build/app.Dockerfile
empty/
keep.log
logs/
src/
src/lib/
src/lib/lib.c
src/main.c
srclink" -a "$c"

printf 'src\n!src/lib\n' >"$c/build/app.Dockerfile.dockerignore"
expect_out "-f picks <Dockerfile>.dockerignore" ".dockerignore
Dockerfile
README.md
build/app.Dockerfile
build/app.Dockerfile.dockerignore
debug.log
empty/
keep.log
logs/a.log
node_modules/x/index.js
src/lib/lib.c
srclink" -f "$c/build/app.Dockerfile" "$c"

printf '*\n!README.md\n' >"$c/Dockerfile.dockerignore"
expect_out "without -f, DIR/Dockerfile.dockerignore is used first" "README.md" "$c"
rm "$c/Dockerfile.dockerignore"

"$HOIST" context ls --help >"$tmp/out" 2>&1
ok_if $? "context ls --help exits 0"
grep -q "Usage: hoist context ls" "$tmp/out"
ok_if $? "context ls --help prints usage"
"$HOIST" context --help >"$tmp/out" 2>&1
ok_if $? "context --help exits 0"
grep -q "ls" "$tmp/out"
ok_if $? "context --help lists ls"

"$HOIST" context ls >/dev/null 2>&1
[ $? -eq 2 ]
ok_if $? "missing DIR is a usage error (2)"
"$HOIST" context ls --bogus "$c" >/dev/null 2>&1
[ $? -eq 2 ]
ok_if $? "unknown option is a usage error (2)"
"$HOIST" context frob >/dev/null 2>&1
[ $? -eq 2 ]
ok_if $? "unknown subcommand is a usage error (2)"
"$HOIST" context >/dev/null 2>&1
[ $? -eq 2 ]
ok_if $? "no subcommand is a usage error (2)"

"$HOIST" context ls "$tmp/nope" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "nope" "$tmp/err"
ok_if $? "a missing directory fails (1) and names it"

printf 'a\n[b\n' >"$c/.dockerignore"
"$HOIST" context ls "$c" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q ".dockerignore:2:" "$tmp/err"
ok_if $? "a bad pattern fails (1) with file:line"

finish
