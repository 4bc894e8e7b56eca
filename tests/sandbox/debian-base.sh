#!/bin/sh
# Print the path of a Debian bookworm minbase rootfs tarball, making it with
# mmdebstrap from the configured apt mirror on first use. The tarball is
# cached under fixtures/cache/, keyed by month and mirror, because making it
# takes about a minute (two under load) and needs the network.
#
# Several callers may ask at once: four tests use it, and `make check`
# starts it in the background before the compile so that a cold CI run
# makes it while other work goes on (docs/architecture.md, "CI time").
# The first caller makes it under a lock (flock on a file in the cache);
# the others wait for that lock and then find the tar.
# Usage: debian-base.sh CACHE_DIR
set -eu
cache=${1:?cache dir}
command -v mmdebstrap >/dev/null 2>&1 || { echo "mmdebstrap not installed (apt-get install mmdebstrap)" >&2; exit 77; }
# The mirror apt is configured with (deb822 or one-line sources).
mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
	awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit} /^deb / && $2 ~ /\/debian\/?$/ {print $2; exit}')
mirror=${mirror:-http://deb.debian.org/debian}
key=$(printf '%s' "$mirror" | sha256sum | cut -c1-12)
out="$cache/debian-bookworm-minbase-$(date +%Y%m)-$key.tar"
if [ -s "$out" ]; then echo "$out"; exit 0; fi

# Not there yet: take the lock and look again. flock -o closes the lock's
# fd in the re-executed script, so nothing mmdebstrap leaves running can
# hold it; flock itself holds it until the script ends.
mkdir -p "$cache"
if [ -z "${HOIST_DEBIAN_BASE_LOCKED:-}" ]; then
	HOIST_DEBIAN_BASE_LOCKED=1 exec flock -o "$cache/.debian-base.lock" sh "$0" "$@"
fi
tmp="$cache/tmp-$$-debian.tar" # mmdebstrap picks the format from the extension
trap 'rm -f "$tmp"' EXIT
trap 'exit 130' INT TERM
mmdebstrap --quiet --variant=minbase --mode=root bookworm "$tmp" "$mirror" >&2 || exit 1
mv "$tmp" "$out"
echo "$out"
