#!/bin/sh
# Make a root filesystem tarball from Debian's static busybox: /bin/busybox,
# its applet symlinks, /etc/passwd and /etc/group. Works without root (owners
# are written as 0:0 by tar), deterministic (sorted, fixed mtime).
# Usage: scripts/mkrootfs-busybox.sh OUT.tar [BUSYBOX_BINARY]
set -eu
out=$1
bb=${2:-/bin/busybox}
[ -x "$bb" ] || { echo "mkrootfs-busybox: '$bb' not found (apt-get install busybox-static)" >&2; exit 1; }
r=$(mktemp -d)
trap 'rm -rf "$r"' EXIT
mkdir -p "$r/bin" "$r/sbin" "$r/usr/bin" "$r/usr/sbin" "$r/etc" "$r/root" "$r/tmp" \
	"$r/proc" "$r/sys" "$r/dev" "$r/var"
chmod 1777 "$r/tmp"
chmod 0700 "$r/root"
install -m 0755 "$bb" "$r/bin/busybox"
# The applet list comes from the host's busybox, the same Debian build config.
for a in $(/bin/busybox --list-full); do
	[ "$a" = bin/busybox ] && continue
	mkdir -p "$r/$(dirname "$a")"
	ln -sf /bin/busybox "$r/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
chmod 0644 "$r/etc/passwd" "$r/etc/group"
tar -C "$r" --sort=name --numeric-owner --owner=0 --group=0 \
	--mtime=@"${SOURCE_DATE_EPOCH:-1700000000}" -cf "$out" .
