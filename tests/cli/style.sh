#!/bin/sh
# House rules checked as a test (STYLE.md 9 and 13): no unsafe string calls
# in the sources, and every C file formatted by the repository's .clang-format.
set -u
. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
cd "$HOIST_SRCDIR"
files=$(git ls-files 'src/*.c' 'src/*.h' 'include/*.h' 2>/dev/null || find src include -name '*.[ch]')
bad=$(grep -nE '\b(sprintf|vsprintf|strcpy|strcat|atoi|atol|strtok|gets|system)[[:space:]]*\(' $files | grep -v '^\S*:\s*\*' || true)
if [ -z "$bad" ]; then ok "no unsafe string calls"; else
	nok "unsafe string calls:"; diag "$bad"; fi
if command -v clang-format >/dev/null 2>&1; then
	# One clang-format process for every file: per-file runs take minutes
	# under a loaded CI machine.
	unformatted=$(clang-format --dry-run $files 2>&1 | sed -n 's/^\([^:]*\.[ch]\):[0-9]*:[0-9]*: .*/\1/p' | sort -u)
	if [ -z "$unformatted" ]; then ok "every C file is clang-formatted"
	else nok "not clang-formatted (run make format):"; diag "$unformatted"; fi
else
	skip_all "clang-format is not installed"
fi
finish
