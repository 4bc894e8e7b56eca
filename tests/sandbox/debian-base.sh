#!/bin/sh
# Print the path of a Debian bookworm minbase rootfs tarball, making it with
# mmdebstrap from the configured apt mirror on first use. The tarball is
# cached under fixtures/cache/, keyed by month and mirror, because making it
# takes about a minute and needs the network.
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
if [ ! -s "$out" ]; then
	mkdir -p "$cache"
	tmp="$cache/tmp-$$-debian.tar" # mmdebstrap picks the format from the extension
	mmdebstrap --quiet --variant=minbase --mode=root bookworm "$tmp" "$mirror" >&2 || { rm -f "$tmp"; exit 1; }
	mv "$tmp" "$out"
fi
echo "$out"
