#!/bin/sh
# Make the Debian rootfs fixtures that tests need, both at once (and the
# apt differential's .debs after the amd64 base), and log
# how long each took. `make check` runs this in the background before the
# compile, so that on a cold CI run (fixtures/cache/ empty, as in every
# fresh clone) the 10-15 minutes of emulated dpkg for the arm64 base overlap
# the compile and the tests that leave a core idle, instead of running
# inside an is_parallel: false test that holds up the whole suite. The
# fixture scripts lock their cache, so a test that needs a tar before it is
# done waits for this run rather than starting a second one.
#
# The arm64 base is made only through a private binfmt_misc here
# (HOIST_ARM64_BASE_PRIVATE_ONLY): on a kernel without one, the script would
# register a global entry, which tests running meanwhile watch, so it is
# left to the test, which runs alone. A failure here is only logged: the
# test calling the script tries again and reports.
# Usage: prefetch-fixtures.sh CACHE_DIR   (lines "fixture NAME: ...")
set -u
cache=${1:?cache dir}
src=$(cd "$(dirname "$0")/.." && pwd)
t0=$(date +%s)
one() {
	name=$1; shift
	"$@" "$cache" >/dev/null
	st=$?
	echo "fixture $name: exit $st after $(($(date +%s) - t0)) s"
}
# The apt differential's .debs are chosen against the amd64 base's dpkg
# status, so they follow it (about 30 s of downloads).
{
	one debian-base "$src/tests/sandbox/debian-base.sh"
	base=$("$src/tests/sandbox/debian-base.sh" "$cache") &&
		one apt-debs sh -c 'exec "$1" "$3" "$2"' _ "$src/tests/lib/apt-debs.sh" "$base"
} &
# The multi-arch busybox .debs (three architectures' package indexes: minutes
# on a cold, loaded machine) for build-multiarch, registry-airgap and others.
one multiarch-debs "$src/tests/lib/mkmultiarch.sh" --fetch &
one debian-arm64-base env HOIST_ARM64_BASE_PRIVATE_ONLY=1 "$src/tests/lib/debian-arm64-base.sh"
wait
