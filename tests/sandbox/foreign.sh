#!/bin/sh
# Foreign RUN under qemu-user (issue 6): arm64 and armhf busybox images
# (Debian's busybox-static, via tests/lib/mkmultiarch.sh, cached in
# fixtures/cache/debs) run `uname -m` as root through a private binfmt_misc
# (no global entry), as root through a global entry registered here and
# removed again, and as the unprivileged users hoistsub (subuid) and
# hoistnosub (single) through the private path. The host's
# /proc/sys/fs/binfmt_misc (mounted or not, and every entry) must read the
# same afterwards. Needs root (test users, the global registration). TAP.
set -u
H=${HOIST_BIN:?}; SRC=${HOIST_SRCDIR:?}
. "$SRC/tests/lib/tap.sh"
BM=/proc/sys/fs/binfmt_misc
"$SRC/tests/sandbox/users.sh" || skip_all "needs root to create the test users hoistsub/hoistnosub"
[ -x /usr/bin/qemu-aarch64-static ] && [ -f /usr/lib/binfmt.d/qemu-aarch64.conf ] ||
	skip_all "qemu-user-static is not installed (apt-get install qemu-user-static)"

# The host's binfmt_misc as a string: mounted?, status, every entry.
host_state() {
	if grep -q " $BM binfmt_misc " /proc/mounts; then
		echo mounted
		for f in "$BM"/*; do echo "== $f"; cat "$f" 2>/dev/null; done
	else
		echo unmounted
	fi
}
before=$(host_state)

tmpdir W /tmp/hoist-foreign-test.XXXXXX
chmod 755 "$W"
cleanup() {
	# Never leave our global entry behind, whatever failed.
	[ -n "${REGISTERED:-}" ] && echo -1 >"$BM/qemu-aarch64" 2>/dev/null
	[ -n "${MOUNTED:-}" ] && umount "$BM" 2>/dev/null
}
at_exit cleanup
export HOIST_BIN="$H"
"$SRC/tests/lib/mkmultiarch.sh" "$W/ma-store" ma >/dev/null 2>"$W/ma.err"; st=$?
[ $st -eq 77 ] && skip_all "busybox-static .debs neither cached nor downloadable"
[ $st -eq 0 ] || { sed 's/^/# /' "$W/ma.err"; bail "mkmultiarch.sh failed"; }
cache=${HOIST_DEB_CACHE:-$SRC/fixtures/cache/debs}
for a in arm64 armhf; do
	cp "$(ls "$cache"/busybox-static_*_"$a".rootfs-*.tar | sort | tail -n 1)" "$W/$a.tar"
done
chmod 644 "$W"/*.tar

as() {
	m=$1; shift
	case $m in
	root) env -i PATH=/usr/bin:/bin HOME="$W/root" "$@" ;;
	subuid) runuser -u hoistsub -- env -i PATH=/usr/bin:/bin HOME="$W/subuid" "$@" ;;
	single) runuser -u hoistnosub -- env -i PATH=/usr/bin:/bin HOME="$W/single" "$@" ;;
	esac
}

global_aarch64() { [ -f "$BM/qemu-aarch64" ] && grep -q '^flags: .*F' "$BM/qemu-aarch64"; }

for m in root subuid single; do
	D="$W/$m"; S="$D/store"; mkdir -p "$D"
	case $m in subuid) chown hoistsub: "$D" ;; single) chown hoistnosub: "$D" ;; esac
	as $m "$H" --root "$S" import --platform linux/arm64 "$W/arm64.tar" a64 >/dev/null &&
		as $m "$H" --root "$S" import --platform linux/arm/v7 "$W/armhf.tar" ahf >/dev/null
	check "$m: import arm64 and armhf busybox" [ $? -eq 0 ]
	# HOIST_BINFMT=private: the private path even when the host has an entry.
	P="env HOIST_BINFMT=private"
	out=$(as $m $P "$H" --root "$S" run --progress plain a64 uname -m 2>"$D/err")
	check "$m: arm64 uname -m ($out)" [ "$out" = aarch64 ]
	check "$m: private binfmt_misc path reported" grep -q "private binfmt_misc entry 'qemu-aarch64'" "$D/err"
	[ "$out" = aarch64 ] || sed 's/^/# /' "$D/err"
	out=$(as $m $P "$H" --root "$S" run ahf uname -m)
	check "$m: armhf uname -m ($out)" [ "$out" = armv7l ]
	# mmdebstrap's test: an entry named qemu-aarch64 with F, inside.
	out=$(as $m $P "$H" --root "$S" run a64 cat "$BM/qemu-aarch64" | grep '^flags')
	check "$m: the container sees qemu-aarch64 with F ($out)" sh -c "echo '$out' | grep -q F"
	as $m $P "$H" --root "$S" run a64 sh -c 'kill -SEGV $$' 2>"$D/err"; st=$?
	check "$m: emulated SIGSEGV gives 139" [ $st -eq 139 ]
	check "$m: reported as a qemu crash" grep -q "qemu-aarch64 crashed with signal 11" "$D/err"
	out=$(as $m $P "$H" --root "$S" run --platform linux/arm64 a64 sh -c 'exit 3'; echo $?)
	check "$m: exit status under emulation" [ "$out" = 3 ]
	# Without the override: whatever path this host offers, it works.
	out=$(as $m "$H" --root "$S" run a64 uname -m)
	check "$m: arm64 uname -m, automatic path ($out)" [ "$out" = aarch64 ]
	check "$m: host binfmt_misc unchanged" [ "$(host_state)" = "$before" ]
done

# hoist run --platform picks the entry of an index (the multi-arch one).
out=$(HOIST_ROOT="$W/ma-store" "$H" run --platform linux/arm/v7 ma:latest uname -m)
check "index: --platform linux/arm/v7 picks armhf ($out)" [ "$out" = armv7l ]
out=$(HOIST_ROOT="$W/ma-store" "$H" run ma:latest uname -m)
check "index: the host's platform by default ($out)" [ "$out" = x86_64 ]

# Path (1): a global entry with F. Ours, registered and removed again, when
# the host has none; the host's own when it has a usable one.
if ! grep -q " $BM binfmt_misc " /proc/mounts; then
	mount -t binfmt_misc binfmt_misc "$BM" && MOUNTED=1
fi
if [ ! -e "$BM/qemu-aarch64" ]; then
	cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$BM/register" && REGISTERED=1
	check "global: registered qemu-aarch64" global_aarch64
fi
if global_aarch64 && grep -q '^flags: .*P' "$BM/qemu-aarch64"; then
	for m in root subuid single; do
		out=$(as $m "$H" --root "$W/$m/store" run --progress plain a64 uname -m 2>"$W/$m/err")
		check "global, $m: arm64 uname -m ($out)" [ "$out" = aarch64 ]
		check "global, $m: host entry path reported" grep -q "host's binfmt_misc entry 'qemu-aarch64'" "$W/$m/err"
	done
else
	out=$(as root "$H" --root "$W/root/store" run --progress plain a64 uname -m 2>"$W/root/err")
	check "global: an unusable host entry is ignored ($out)" [ "$out" = aarch64 ]
	check "global: and said so" grep -q "ignored host entry 'qemu-aarch64'" "$W/root/err"
fi
if [ -n "${REGISTERED:-}" ]; then echo -1 >"$BM/qemu-aarch64" && REGISTERED=; fi
if [ -n "${MOUNTED:-}" ]; then umount "$BM" && MOUNTED=; fi
check "host binfmt_misc back to its state before the test" [ "$(host_state)" = "$before" ]
finish
