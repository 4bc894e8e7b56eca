#!/bin/sh
# Print the path of a Debian bookworm arm64 minbase rootfs tarball, making it
# with `mmdebstrap --arch=arm64` on first use and caching it under CACHE_DIR
# (fixtures/cache/). Making it runs arm64 maintainer scripts under
# qemu-user-static, which mmdebstrap can only reach through a global
# binfmt_misc entry: when none is registered, this registers Debian's
# qemu-aarch64 entry for the duration and removes it again, so the host's
# table reads the same afterwards. That needs root, and it must not overlap
# a test that watches the table: callers are meson tests with
# is_parallel: false. Takes 5-20 minutes (emulated dpkg), once per month.
# Usage: debian-arm64-base.sh CACHE_DIR      exit 77: cannot be made here
set -eu
cache=${1:?cache dir}
BM=/proc/sys/fs/binfmt_misc
mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
	awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit} /^deb / && $2 ~ /\/debian\/?$/ {print $2; exit}')
mirror=${mirror:-http://deb.debian.org/debian}
out="$cache/debian-bookworm-minbase-arm64-$(date +%Y%m).tar"
if [ -s "$out" ]; then echo "$out"; exit 0; fi

command -v mmdebstrap >/dev/null 2>&1 || { echo "mmdebstrap not installed (apt-get install mmdebstrap)" >&2; exit 77; }
conf=/usr/lib/binfmt.d/qemu-aarch64.conf
[ -x /usr/bin/qemu-aarch64-static ] && [ -f "$conf" ] ||
	{ echo "qemu-user-static not installed (apt-get install qemu-user-static)" >&2; exit 77; }
[ "$(id -u)" = 0 ] || { echo "making the arm64 base needs root (a global binfmt entry)" >&2; exit 77; }

mounted=; registered=
cleanup() {
	[ -n "$registered" ] && echo -1 >"$BM/qemu-aarch64" 2>/dev/null
	[ -n "$mounted" ] && umount "$BM" 2>/dev/null
	rm -f "$cache/tmp-$$-arm64.tar"
}
trap cleanup EXIT INT TERM
if ! grep -q " $BM binfmt_misc " /proc/mounts; then
	mount -t binfmt_misc binfmt_misc "$BM"
	mounted=1
fi
if [ ! -e "$BM/qemu-aarch64" ]; then
	cat "$conf" >"$BM/register"
	registered=1
fi
mkdir -p "$cache"
tmp="$cache/tmp-$$-arm64.tar" # mmdebstrap picks the format from the extension
mmdebstrap --quiet --arch=arm64 --variant=minbase --mode=root bookworm "$tmp" "$mirror" >&2
mv "$tmp" "$out"
echo "$out"
