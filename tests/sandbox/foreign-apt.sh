#!/bin/sh
# An arm64 apt build by an unprivileged user through the private
# binfmt_misc path (issue 6). The Debian bookworm arm64 minbase comes from
# tests/lib/debian-arm64-base.sh (mmdebstrap, cached in fixtures/cache/).
# As hoistsub (subuid mode) and then hoistnosub (single-uid mode), each in a
# store it owns: `hoist import --platform linux/arm64` of the tar, `hoist
# build --platform linux/arm64` of FROM it + RUN apt-get install hello, and
# then: the progress names the private binfmt_misc entry, `hoist run
# --platform linux/arm64 IMAGE hello` greets, the config says arm64,
# /usr/bin/hello is an aarch64 ELF, and the host's binfmt_misc reads the same
# as before.
#
# A host entry with F that accepts arm64 ELF files would make hoist take
# path 1 (docs/multiarch.md) and the test would prove nothing about the
# private one. It is not ours to remove (a concurrent test or the bench may
# be using it), so the test waits up to a minute for a transient one to go
# and otherwise fails, naming it. Needs root (test users), the network
# (apt's mirror) and qemu-user-static; emulated apt takes minutes. TAP.
set -u
H=${HOIST_BIN:?}; SRC=${HOIST_SRCDIR:?}; FIX=${HOIST_FIXTURES:?}
. "$SRC/tests/lib/tap.sh"
BM=/proc/sys/fs/binfmt_misc
"$SRC/tests/sandbox/users.sh" || skip_all "needs root to create the test users hoistsub/hoistnosub"
[ -x /usr/bin/qemu-aarch64-static ] && [ -f /usr/lib/binfmt.d/qemu-aarch64.conf ] ||
	skip_all "qemu-user-static is not installed (apt-get install qemu-user-static)"
base=$("$SRC/tests/lib/debian-arm64-base.sh" "$FIX/cache"); st=$?
[ $st -eq 77 ] && skip_all "cannot make the arm64 Debian base (see the message above)"
[ $st -eq 0 ] || { echo "Bail out! could not make the arm64 Debian base image"; exit 1; }
chmod a+r "$base"; chmod a+rx "$FIX/cache"

# The host's binfmt_misc as a string: mounted?, status, every entry. Taken
# after the fixture exists (making it may register an entry on old kernels).
host_state() {
	if grep -q " $BM binfmt_misc " /proc/mounts; then
		echo mounted
		for f in "$BM"/*; do echo "== $f"; cat "$f" 2>/dev/null; done
	else
		echo unmounted
	fi
}
# Enabled host entries with F whose magic is an aarch64 ELF header
# (e_machine 0xb7 at offset 18): what path 1 would take.
global_arm64() {
	grep -q " $BM binfmt_misc " /proc/mounts || return 1
	for f in "$BM"/*; do
		case ${f##*/} in register | status) continue ;; esac
		grep -qx enabled "$f" 2>/dev/null && grep -q '^flags: .*F' "$f" &&
			grep -q '^magic 7f454c46.*b700$' "$f" && echo "${f##*/}"
	done | grep .
}
# A host that registers qemu at boot (systemd-binfmt) has such an entry:
# disable it for the duration (the test is not parallel) and enable it again
# on exit, so the private path is what gets tested and the host's table ends
# as it began. (Another test may register one for a few seconds: wait first.)
i=0
while e=$(global_arm64) && [ $i -lt 20 ]; do
	[ $i -eq 0 ] && echo "# a host binfmt_misc entry with F for arm64 ($e): waiting up to 20 s for it to go"
	i=$((i+1)); sleep 1
done
DISABLED=
trap 'for x in $DISABLED; do echo 1 >"$BM/$x"; done' EXIT
if e=$(global_arm64); then
	for x in $e; do echo 0 >"$BM/$x" && DISABLED="$DISABLED $x"; done
	echo "# disabled the host's $e for this test; enabled again on exit"
fi
if e=$(global_arm64); then
	nok "no enabled host binfmt_misc entry with F for arm64 (could not disable '$e')"
	echo "1..$n"; exit 1
fi
ok "no enabled host binfmt_misc entry with F for arm64"
before=$(host_state)

W=$(mktemp -d /tmp/hoist-foreign-apt-test.XXXXXX)
chmod 755 "$W"
trap 'rm -rf "$W"; for x in $DISABLED; do echo 1 >"$BM/$x"; done' EXIT
as() {
	m=$1; shift
	case $m in
	subuid) runuser -u hoistsub -- env -i PATH=/usr/bin:/bin HOME="$W/subuid" "$@" ;;
	single) runuser -u hoistnosub -- env -i PATH=/usr/bin:/bin HOME="$W/single" "$@" ;;
	esac
}
mkdir -p "$W/ctx"
printf '%s\n' 'FROM deb64' \
	'RUN apt-get update -q && apt-get install -y -q --no-install-recommends hello' >"$W/ctx/Dockerfile"
chmod -R a+rX "$W/ctx"

for m in subuid single; do
	D="$W/$m"; S="$D/store"; mkdir -p "$D"
	case $m in subuid) chown hoistsub: "$D" ;; single) chown hoistnosub: "$D" ;; esac
	as $m "$H" --root "$S" import --platform linux/arm64 "$base" deb64 >/dev/null 2>"$D/err"
	st=$?
	check "$m: import the arm64 Debian base" [ $st -eq 0 ]
	[ $st -eq 0 ] || { sed 's/^/# /' "$D/err"; continue; }
	t0=$(date +%s)
	as $m "$H" --root "$S" build --identity $m --platform linux/arm64 --progress plain \
		-t deb64-hello "$W/ctx" >"$D/log" 2>&1
	st=$?
	check "$m: build FROM arm64 + RUN apt-get install hello ($(($(date +%s) - t0)) s)" [ $st -eq 0 ]
	[ $st -eq 0 ] || tail -n 30 "$D/log" | sed 's/^/# /'
	check "$m: progress names the private binfmt_misc path" \
		grep -q "linux/arm64 through a private binfmt_misc entry 'qemu-aarch64'" "$D/log"
	grep -q "host's binfmt_misc entry" "$D/log" && echo "# $(grep "host's binfmt_misc entry" "$D/log" | head -n 1)"
	[ $st -eq 0 ] || continue
	out=$(as $m "$H" --root "$S" run --identity $m --platform linux/arm64 deb64-hello hello 2>"$D/err")
	check "$m: hoist run --platform linux/arm64 deb64-hello hello ($out)" [ "$out" = "Hello, world!" ]
	[ "$out" = "Hello, world!" ] || sed 's/^/# /' "$D/err"
	arch=$(as $m "$H" --root "$S" inspect deb64-hello |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["Config"]["architecture"])')
	check "$m: the image config says arm64 ($arch)" [ "$arch" = arm64 ]
	# ELF header: EI_CLASS 2 (64-bit) at 4, EI_DATA 1 (LE) at 5, e_machine
	# 0x00b7 (EM_AARCH64) at 18. cat runs emulated too, so it proves no more
	# than the bytes; the layer is read natively below.
	elf=$(as $m "$H" --root "$S" run --identity $m --platform linux/arm64 deb64-hello cat /usr/bin/hello |
		od -An -tx1 -N20 | tr -d ' \n')
	check "$m: /usr/bin/hello is an aarch64 ELF ($elf)" \
		sh -c "echo '$elf' | grep -q '^7f454c460201.\{24\}b700$'"
	# The same from the RUN layer itself, read natively from the store.
	as $m "$H" --root "$S" save -o "$D/img.tar" deb64-hello 2>"$D/err"
	layer_elf=
	if [ -s "$D/img.tar" ]; then
		mkdir -p "$D/img" && tar -xf "$D/img.tar" -C "$D/img"
		# The newest layer is the last in the manifest.
		l=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["Layers"][-1])' "$D/img/manifest.json")
		layer_elf=$(tar -xOf "$D/img/$l" --wildcards '*usr/bin/hello' 2>/dev/null | od -An -tx1 -N20 | tr -d ' \n')
		rm -rf "$D/img" "$D/img.tar"
	fi
	check "$m: /usr/bin/hello in the RUN layer is an aarch64 ELF ($layer_elf)" \
		sh -c "echo '$layer_elf' | grep -q '^7f454c460201.\{24\}b700$'"
	check "$m: host binfmt_misc unchanged" [ "$(host_state)" = "$before" ]
done
check "host binfmt_misc as before the test" [ "$(host_state)" = "$before" ]
echo "1..$n"
[ $failed -eq 0 ]
