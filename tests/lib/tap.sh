# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=sh disable=SC3043
# TAP for the shell tests, as tests/tap.h is for the C ones. Source it first:
#
#	. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
#
# It numbers the checks ($n) and counts the failed ones ($failed); finish
# prints the plan and exits 0, or 1 when a check failed. A test that cannot
# run calls skip_all: the plan "1..0 # SKIP reason" and exit 0 (meson's
# "skipped" for a TAP test; Debian 12's meson 1.0 calls a TAP test that exits
# 77 an ERROR), or exit 1 when HOIST_TEST_NO_SKIP is set, as CI does, so that
# nothing is silently skipped. Plain POSIX sh plus `local` (dash, bash and
# busybox sh have it).

n=0
failed=0

# ok DESC / nok DESC: one passing / failing check.
ok() {
	n=$((n + 1))
	echo "ok $n - $*"
}
nok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $*"
}

# check DESC CMD...: a check that passes when CMD exits 0. CMD's output goes
# where the script's does (TAP ignores lines it does not know).
check() {
	local _tap_desc="$1"
	shift
	if "$@"; then ok "$_tap_desc"; else nok "$_tap_desc"; fi
}

# check_quiet DESC CMD...: check, with CMD's output (stdout and stderr) held
# back, and its first 20 lines shown as diagnostics when CMD fails. CMD runs
# in a subshell: what it sets is lost.
check_quiet() {
	local _tap_desc="$1" _tap_out
	shift
	if _tap_out=$("$@" 2>&1); then
		ok "$_tap_desc"
	else
		nok "$_tap_desc"
		printf '%s\n' "$_tap_out" | sed 's/^/# /' | head -n 20
	fi
}

# ok_if STATUS DESC: a check that passes when STATUS (an exit status, most
# often $?) is 0.
ok_if() {
	if [ "$1" -eq 0 ]; then ok "$2"; else nok "$2"; fi
}

# is GOT WANT DESC: a check that GOT equals WANT; a failure shows both.
is() {
	if [ "$1" = "$2" ]; then ok "$3"; else nok "$3 (got '$1', want '$2')"; fi
}

# skip REASON: one check that cannot run here, reported as skipped whatever
# HOIST_TEST_NO_SKIP says (the caller judged it optional).
skip() {
	n=$((n + 1))
	echo "ok $n - # SKIP $*"
}

# skip_or_fail REASON: one check that cannot run here for want of something
# the test needs: skipped, or failed when HOIST_TEST_NO_SKIP is set.
skip_or_fail() {
	if [ -n "${HOIST_TEST_NO_SKIP:-}" ]; then nok "$*"; else skip "$*"; fi
}

# diag TEXT...: TEXT as TAP diagnostics, "# " before each of its lines;
# without TEXT, what comes on stdin.
diag() {
	if [ $# -eq 0 ]; then
		sed 's/^/# /'
	else
		printf '%s\n' "$*" | sed 's/^/# /'
	fi
}

# diag_file FILE...: the lines of the files as diagnostics.
diag_file() {
	sed 's/^/# /' "$@"
}

# skip_all REASON: the whole test cannot run here: a "1..0 # SKIP" plan and
# exit 0 (skipped), or exit 1 when HOIST_TEST_NO_SKIP is set (tap_skip_all of
# tests/tap.h).
skip_all() {
	if [ -n "${HOIST_TEST_NO_SKIP:-}" ]; then
		echo "Bail out! skipped in CI: $1"
		exit 1
	fi
	echo "1..0 # SKIP $1"
	exit 0
}

# need_corpora PATH...: each PATH must be in the test corpora, $HOIST_CORPORA
# (tests/corpora, or the copy meson was set up with -Dcorpora=DIR); when one
# is not, the test cannot run: skip_all (tap_corpora of tests/tap.h).
need_corpora() {
	local _tap_p
	[ -n "${HOIST_CORPORA:-}" ] || skip_all "HOIST_CORPORA is not set"
	for _tap_p in "$@"; do
		[ -e "$HOIST_CORPORA/$_tap_p" ] || skip_all "no corpus '$HOIST_CORPORA/$_tap_p'"
	done
}

# bail REASON: stop the test here, failed.
bail() {
	echo "Bail out! $*"
	exit 1
}

# finish: the plan, then exit 0 when no check failed, 1 otherwise.
finish() {
	echo "1..$n"
	[ "$failed" -eq 0 ]
	exit $?
}

# at_exit TEXT: run the shell text TEXT when the script exits, before what
# was registered earlier (so a directory registered first is removed last).
# SIGINT and SIGTERM (meson's timeout) exit through it too. The script's
# exit status is kept. A script that sets its own EXIT trap must not use it.
_tap_at_exit=
at_exit() {
	_tap_at_exit="$1
$_tap_at_exit"
	trap _tap_run_at_exit EXIT
	trap 'exit 1' INT TERM
}
_tap_run_at_exit() {
	local _tap_st=$?
	eval "$_tap_at_exit"
	exit "$_tap_st"
}

# tmpdir VAR [TEMPLATE]: set VAR to a new directory (mktemp -d TEMPLATE),
# removed on exit unless KEEP is set (to look at what a failing test left).
tmpdir() {
	local _tap_dir
	_tap_dir=$(mktemp -d ${2:+"$2"}) || bail "cannot make a temporary directory"
	eval "$1=\$_tap_dir"
	at_exit "[ -n \"\${KEEP:-}\" ] || rm -rf \"\$$1\""
}
