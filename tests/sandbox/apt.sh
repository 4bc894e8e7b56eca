#!/bin/sh
# apt-get install of 'hello' from a Debian bookworm minbase image (made by
# mmdebstrap from the configured mirror, cached in fixtures/cache/) in the
# three identity modes, committed as an image; then `hoist run IMAGE hello`
# prints the greeting. Needs the network (apt's mirror) and root (to create
# the test users). TAP output.
set -u
H=${HOIST_BIN:?}; SRC=${HOIST_SRCDIR:?}; FIX=${HOIST_FIXTURES:?}
. "$SRC/tests/lib/tap.sh"
"$SRC/tests/sandbox/users.sh" || skip_all "needs root to create the test users hoistsub/hoistnosub"
base=$("$SRC/tests/sandbox/debian-base.sh" "$FIX/cache"); st=$?
[ $st -eq 77 ] && skip_all "mmdebstrap is not installed"
[ $st -eq 0 ] || bail "could not make the Debian base image"
chmod a+r "$base"; chmod a+rx "$FIX/cache"

tmpdir W /tmp/hoist-apt-test.XXXXXX
chmod 755 "$W"
as() {
	m=$1; shift
	case $m in
	root) env -i PATH=/usr/bin:/bin HOME="$W/root" "$@" ;;
	subuid) runuser -u hoistsub -- env -i PATH=/usr/bin:/bin HOME="$W/subuid" "$@" ;;
	single) runuser -u hoistnosub -- env -i PATH=/usr/bin:/bin HOME="$W/single" "$@" ;;
	esac
}
for m in root subuid single; do
	D="$W/$m"; S="$D/store"; mkdir -p "$D"
	case $m in subuid) chown hoistsub: "$D" ;; single) chown hoistnosub: "$D" ;; esac
	as $m "$H" --root "$S" import "$base" deb >/dev/null
	check "$m: import the Debian base" [ $? -eq 0 ]
	as $m "$H" --root "$S" run --identity $m --progress plain --commit deb-hello deb sh -c \
		'apt-get update -q && apt-get install -y -q --no-install-recommends hello' >"$D/log" 2>&1
	st=$?
	check "$m: apt-get install hello" [ $st -eq 0 ]
	[ $st -eq 0 ] || tail -n 20 "$D/log" | sed 's/^/# /'
	out=$(as $m "$H" --root "$S" run --identity $m deb-hello hello)
	check "$m: hoist run deb-hello hello ($out)" [ "$out" = "Hello, world!" ]
	out=$(as $m "$H" --root "$S" run --identity $m deb-hello sh -c 'stat -c %U /var/cache/apt/archives/partial 2>/dev/null || echo none')
	[ $m = subuid -o $m = root ] && check "$m: _apt owns its partial dir" [ "$out" = _apt ]
done

# The image hoist made in the subuid mode runs in podman with the same output.
# On these machines podman needs runc (crun fails on the hybrid cgroup setup)
# and limits below the hard ones (no CAP_SYS_RESOURCE to raise them).
if command -v podman >/dev/null 2>&1; then
	S="$W/subuid/store"
	as subuid "$H" --root "$S" save -o "$W/subuid/deb-hello.tar" deb-hello
	check "podman load of the subuid-built image" sh -c "podman load -i '$W/subuid/deb-hello.tar' >/dev/null 2>&1"
	out=$(timeout 120 podman run --rm --network=host --runtime /usr/sbin/runc \
		--ulimit nofile=1024:1024 --ulimit nproc=4096:4096 docker.io/library/deb-hello:latest hello 2>&1)
	check "podman run deb-hello hello ($out)" [ "$out" = "Hello, world!" ]
	podman rmi -f docker.io/library/deb-hello:latest >/dev/null 2>&1
elif [ -n "${HOIST_TEST_NO_SKIP:-}" ]; then
	nok "podman is not installed"
fi
finish
