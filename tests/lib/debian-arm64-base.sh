#!/bin/sh
# Print the path of a Debian bookworm arm64 minbase rootfs tarball, making it
# with `mmdebstrap --arch=arm64` on first use and caching it under CACHE_DIR
# (fixtures/cache/). Making it runs arm64 maintainer scripts under
# qemu-user-static, which mmdebstrap reaches through a binfmt_misc entry
# named qemu-aarch64 with the F flag.
#
# That entry is private: mmdebstrap runs in root mode inside a user
# namespace with the identity mapping (0 0 4294967295, written by us as
# real root, so no /etc/subuid entry is needed) and its own mount
# namespace, where binfmt_misc is mounted afresh (Linux >= 6.7 gives each
# user namespace its own instance) and Debian's rule registered. The host's
# table is never touched, so this may overlap tests that watch it
# (sandbox-foreign, sandbox-foreign-apt). mknod is EPERM there; mmdebstrap
# notices and bind-mounts the devices instead, so the tar has no /dev nodes
# (hoist makes its own /dev). On older kernels it falls back to a global
# entry registered for the duration and removed again; callers are meson
# tests with is_parallel: false for that case.
#
# Takes 5-20 minutes (emulated dpkg), once per month (the name carries
# the month, so the mirror's updates are picked up). That is the longest
# single step of a cold CI run, so `make check` starts this script in the
# background before the compile (docs/architecture.md, "CI time") and the
# two tests that need the tar (sandbox-foreign-apt, minimize-arm64-qemu)
# find it made, or wait for it: the maker holds a lock (flock on a file in
# the cache) and a second caller waits for that lock, then finds the tar.
# The background run sets HOIST_ARM64_BASE_PRIVATE_ONLY=1: without a
# private binfmt_misc it exits 77 rather than register the global entry
# while other tests run, and the test makes it later, alone.
# Usage: debian-arm64-base.sh CACHE_DIR   prints the tar's path
#        exit 77: cannot be made here (no mmdebstrap, no qemu, not root)
set -eu
cache=${1:?cache dir}
BM=/proc/sys/fs/binfmt_misc
mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
	awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit} /^deb / && $2 ~ /\/debian\/?$/ {print $2; exit}')
mirror=${mirror:-http://deb.debian.org/debian}
out="$cache/debian-bookworm-minbase-arm64-$(date +%Y%m).tar"
if [ -s "$out" ]; then echo "$out"; exit 0; fi

command -v mmdebstrap >/dev/null 2>&1 || { echo "mmdebstrap not installed (apt-get install mmdebstrap)" >&2; exit 77; }
command -v arch-test >/dev/null 2>&1 || { echo "arch-test not installed (mmdebstrap recommends it)" >&2; exit 77; }
conf=/usr/lib/binfmt.d/qemu-aarch64.conf
[ -x /usr/bin/qemu-aarch64-static ] && [ -f "$conf" ] ||
	{ echo "qemu-user-static not installed (apt-get install qemu-user-static)" >&2; exit 77; }
[ "$(id -u)" = 0 ] || { echo "making the arm64 base needs root (it writes a user namespace's maps)" >&2; exit 77; }

# Not there yet: take the lock and look again. flock -o closes the lock's
# fd in the re-executed script, so nothing mmdebstrap leaves running can
# hold it; flock itself holds it until the script ends.
mkdir -p "$cache"
if [ -z "${HOIST_ARM64_BASE_LOCKED:-}" ]; then
	HOIST_ARM64_BASE_LOCKED=1 exec flock -o "$cache/.debian-arm64-base.lock" sh "$0" "$@"
fi
tmp="$cache/tmp-$$-arm64.tar" # mmdebstrap picks the format from the extension
fifo="$cache/tmp-$$-go"
pid=; mounted=; registered=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	[ -n "$registered" ] && echo -1 >"$BM/qemu-aarch64" 2>/dev/null
	[ -n "$mounted" ] && umount "$BM" 2>/dev/null
	rm -f "$tmp" "$fifo"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Run "$@" as root in a new user namespace mapping every id to itself, with
# a private mount namespace. unshare(1) would map through newuidmap, which
# wants /etc/subuid lines for root; real root may write the maps directly,
# so the child waits on a fifo until they are written.
in_userns() {
	mkfifo -m 600 "$fifo"
	unshare --user --mount --propagation private \
		sh -c 'read _ <"$0" && exec "$@"' "$fifo" "$@" &
	pid=$!
	me=$(readlink /proc/self/ns/user)
	i=0
	while [ "$(readlink "/proc/$pid/ns/user" 2>/dev/null)" = "$me" ]; do
		i=$((i + 1)); [ $i -lt 200 ] || return 1
		sleep 0.05
	done
	echo '0 0 4294967295' >"/proc/$pid/uid_map" &&
		echo '0 0 4294967295' >"/proc/$pid/gid_map" &&
		echo go >"$fifo" || return 1
	st=0; wait "$pid" || st=$?
	pid=; rm -f "$fifo"
	return $st
}

# Inside: mount the private binfmt_misc, register qemu-aarch64 (with F, so
# no qemu is needed in the chroot), then mmdebstrap.
inner='set -e
mount -t binfmt_misc binfmt_misc '"$BM"'
cat "$0" >'"$BM"'/register
shift; exec "$@"'
# No Translation-* indexes: apt-get update in the tests fetches less.
set -- mmdebstrap --quiet --arch=arm64 --variant=minbase --mode=root \
	--aptopt='Acquire::Languages "none"' bookworm "$tmp" "$mirror"

# Does this kernel give a user namespace its own binfmt_misc (>= 6.7)?
if in_userns sh -c "$inner" "$conf" x sh -c "arch-test arm64 >/dev/null" >&2; then
	in_userns sh -c "$inner" "$conf" x "$@" >&2
elif [ -n "${HOIST_ARM64_BASE_PRIVATE_ONLY:-}" ]; then
	echo "no private binfmt_misc (Linux < 6.7?): left for the tests to make" >&2
	exit 77
else
	echo "no private binfmt_misc (Linux < 6.7?): registering qemu-aarch64 globally for the duration" >&2
	if ! grep -q " $BM binfmt_misc " /proc/mounts; then
		mount -t binfmt_misc binfmt_misc "$BM"
		mounted=1
	fi
	if [ ! -e "$BM/qemu-aarch64" ]; then
		cat "$conf" >"$BM/register"
		registered=1
	fi
	"$@" >&2
fi
mv "$tmp" "$out"
chmod 644 "$out"
echo "$out"
