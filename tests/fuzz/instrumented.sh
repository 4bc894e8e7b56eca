#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# A fuzz build must instrument the code under test, not only the harnesses:
# every object of every static library under src/ must carry libFuzzer's
# coverage counters (the __sancov_cntrs / __sancov_guards sections clang's
# -fsanitize=fuzzer-no-link emits) and ASan's checks (__asan_report_*), or
# libFuzzer runs blind and a memory error in the library goes unreported
# (issue 21: 18 edges on the tar reader in 585,000 inputs).
#
# In a -Dfuzzing=true build (HOIST_FUZZ_BUILD is its build directory) it
# checks that build's libraries. In a normal build it sets up a fuzz build
# of this source tree in a temporary directory, checks that meson gives
# every src/ file the flags (compile_commands.json), compiles one module
# (util: every other module's objects get the same command line; compiling
# them all would take minutes) and checks its objects.
# Either way it first checks that the check itself fails on an object
# compiled without instrumentation.
. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"

for t in clang objdump meson ninja; do
	command -v "$t" >/dev/null 2>&1 || skip_all "no $t (make deps installs it)"
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hoist-fuzz-instr.XXXXXX") || bail "mktemp failed"
at_exit 'rm -rf "$tmp"'

# instrumented A...: every object in the archives A has a coverage section
# and an ASan check; prints the ones that do not and returns 1.
instrumented() {
	local a o bad=0 nobj=0
	for a in "$@"; do
		# meson makes thin archives (members are paths to the objects)
		if [ "$(head -c 7 "$a")" = '!<thin>' ]; then
			objs=$(ar t "$a") || return 1
		else
			mkdir -p "$tmp/x" && rm -rf "$tmp/x"/* && (cd "$tmp/x" && ar x "$a") || return 1
			objs=$(ls "$tmp/x"/*.o)
		fi
		for o in $objs; do
			[ -e "$o" ] || { echo "# $a: member $o not found"; bad=1; continue; }
			nobj=$((nobj + 1))
			if ! objdump -h "$o" | grep -Eq '__sancov_(cntrs|guards)'; then
				echo "# $a: $(basename "$o"): no coverage instrumentation (__sancov_cntrs)"
				bad=1
			elif ! nm -u "$o" | grep -q '__asan_'; then
				echo "# $a: $(basename "$o"): no ASan instrumentation (__asan_*)"
				bad=1
			fi
		done
	done
	[ "$nobj" -gt 0 ] || { echo "# $*: no objects"; return 1; }
	echo "# $nobj objects checked"
	return "$bad"
}

# The check must be able to fail: a plain object (no sanitizers) and one
# with ASan but no coverage are refused; one compiled as the fuzz build
# compiles is accepted.
printf 'int f(int *p);\nint f(int *p) { return p[1] ? 1 : 2; }\n' >"$tmp/probe.c"
clang -c -o "$tmp/plain.o" "$tmp/probe.c" && ar rcT "$tmp/plain.a" "$tmp/plain.o" ||
	bail "clang cannot compile a probe"
clang -fsanitize=address -c -o "$tmp/asan.o" "$tmp/probe.c" && ar rc "$tmp/asan.a" "$tmp/asan.o"
clang -fsanitize=fuzzer-no-link,address,undefined -c -o "$tmp/fuzz.o" "$tmp/probe.c" &&
	ar rcT "$tmp/fuzz.a" "$tmp/fuzz.o" && ar rc "$tmp/fuzz-full.a" "$tmp/fuzz.o"
if instrumented "$tmp/plain.a" >/dev/null; then nok "an uninstrumented object is refused"; else ok "an uninstrumented object is refused"; fi
if instrumented "$tmp/asan.a" >/dev/null; then nok "an object with ASan but no coverage is refused"; else ok "an object with ASan but no coverage is refused"; fi
if instrumented "$tmp/fuzz.a" "$tmp/fuzz-full.a" >/dev/null; then ok "an object built with fuzzer-no-link is accepted (thin and full archives)"; else nok "an object built with fuzzer-no-link is accepted (thin and full archives)"; fi

if [ -n "${HOIST_FUZZ_BUILD:-}" ]; then
	# This is a fuzz build: check every module it built.
	libs=$(find "$HOIST_FUZZ_BUILD" -name "libhoist-*.a" -not -path "*/tests/*" | sort)
	[ -n "$libs" ] || bail "no libhoist-*.a under $HOIST_FUZZ_BUILD/src"
	nlibs=$(echo "$libs" | wc -l)
	nmods=$(find "$HOIST_SRCDIR/src" -name meson.build -exec grep -l static_library {} + | wc -l)
	check "a library for each module ($nlibs libraries, $nmods modules)" [ "$nlibs" -ge "$nmods" ]
	# shellcheck disable=SC2086
	check "every object of the fuzz build's libraries is instrumented" instrumented $libs
	finish
fi

# A normal build: make a fuzz build of this tree and look at it.
t0=$(date +%s)
if ! CC=clang meson setup "$tmp/b" "$HOIST_SRCDIR" -Dfuzzing=true -Db_lundef=false \
	>"$tmp/setup.log" 2>&1; then
	diag_file "$tmp/setup.log"
	bail "meson setup -Dfuzzing=true failed"
fi
ok "meson setup -Dfuzzing=true with clang"
t1=$(date +%s)
# Every C file under src/ gets the instrumentation flags.
missing=$(python3 - "$tmp/b/compile_commands.json" "$HOIST_SRCDIR" <<'EOF'
import json, os, sys
cmds = json.load(open(sys.argv[1]))
src = os.path.realpath(os.path.join(sys.argv[2], "src"))
n = 0
for c in cmds:
    f = os.path.realpath(os.path.join(c["directory"], c["file"]))
    if not f.startswith(src + os.sep):
        continue
    n += 1
    if "-fsanitize=fuzzer-no-link,address,undefined" not in c["command"]:
        print(os.path.relpath(f, src))
if n < 50:
    print("only %d files under src/ in compile_commands.json" % n)
EOF
)
is "$missing" "" "every file under src/ is compiled with -fsanitize=fuzzer-no-link,address,undefined"
if ninja -C "$tmp/b" src/util/libhoist-util.a >"$tmp/ninja.log" 2>&1; then
	ok "util compiles in the fuzz build"
	diag "setup $((t1 - t0)) s, compile $(($(date +%s) - t1)) s"
	check "every object of util is instrumented" instrumented "$tmp/b/src/util/libhoist-util.a"
else
	nok "util compiles in the fuzz build"
	tail -n 20 "$tmp/ninja.log" | diag
fi
finish
