#!/bin/sh
# A real air gap: a network namespace with only `lo`, the internal registry
# and hoist both inside it. `FROM debian:bookworm` builds through the user's
# registries.conf (the default file locations, not a test variable), a name
# the mirror lacks fails with the source named, an unconfigured registry
# fails fast instead of hanging, and --offline makes no connection at all.
# Needs root for `ip netns`. TAP output.
if [ -z "${HOIST_AIRGAP_INNER:-}" ]; then
	. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
	[ "$(id -u)" = 0 ] || skip_all "needs root for ip netns"
	command -v ip >/dev/null 2>&1 || skip_all "iproute2 is not installed"
	ns=hoist-airgap-$$
	ip netns add "$ns" 2>/dev/null || skip_all "cannot create a network namespace"
	trap 'ip netns del "$ns" 2>/dev/null' EXIT
	trap 'exit 1' INT TERM
	ip netns exec "$ns" env HOIST_AIRGAP_INNER=1 sh "$0"
	exit $?
fi

. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
need strace
ip link set lo up

# The gap itself: nothing but loopback.
check "only lo in this namespace" [ "$(ip -o link show | grep -vc ': lo:')" = 0 ]
check "no route out" sh -c '! ip route get 1.1.1.1 >/dev/null 2>&1'

RP=$(free_port)
start_registry "$T/reg" plain "$RP" || skip_all "docker-registry did not start"
R=127.0.0.1:$RP
"$HOIST_SRCDIR/scripts/mkrootfs-busybox.sh" "$T/bb.tar"
HOIST_ROOT="$T/seed" "$H" import "$T/bb.tar" "$R/mirror/library/debian:bookworm" >/dev/null
BB=$(HOIST_ROOT="$T/seed" "$H" push --progress quiet "$R/mirror/library/debian:bookworm" 2>&1)
check "the internal registry holds mirror/library/debian:bookworm" [ -n "$BB" ]

# The user's registries.conf, found where podman looks for it.
unset HOIST_REGISTRIES_CONF
export XDG_CONFIG_HOME="$T/config"
mkdir -p "$XDG_CONFIG_HOME/containers/registries.conf.d"
cat >"$XDG_CONFIG_HOME/containers/registries.conf" <<EOF
unqualified-search-registries = ["docker.io"]

[[registry]]
prefix = "docker.io/library"
location = "$R/mirror/library"
EOF
export HOIST_ROOT="$T/store"
mkdir -p "$T/ctx"
printf 'FROM debian:bookworm\nRUN echo air-gapped > /built\n' >"$T/ctx/Dockerfile"
"$H" build --progress plain -t internal/app:1 "$T/ctx" >/dev/null 2>"$T/err"; st=$?
check "FROM debian:bookworm builds inside the air gap" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(tail -5 "$T/err")"
is "$("$H" run --pull never internal/app:1 cat /built 2>&1)" air-gapped "its RUN step ran"
"$H" images --digests >"$T/images"
check "debian:bookworm is in the store with the mirror's digest" grep -q "$BB" "$T/images"

# A name the internal registry lacks: the rewritten source is named.
printf 'FROM alpine:3\n' >"$T/ctx/Dockerfile"
t0=$(date +%s)
"$H" build --progress plain "$T/ctx" >/dev/null 2>"$T/err"; st=$?
t1=$(date +%s)
check "FROM alpine:3 fails ($((t1 - t0)) s)" [ $st -eq 1 ]
check "... naming the internal location it looked at" \
	grep -q "$R/mirror/library/alpine.*404" "$T/err"

# A registry registries.conf does not redirect: a quick failure, no hang.
printf 'FROM quay.io/hoist/none:1\n' >"$T/ctx/Dockerfile"
t0=$(date +%s)
"$H" build --progress plain "$T/ctx" >/dev/null 2>"$T/err"; st=$?
t1=$(date +%s)
check "an unconfigured registry fails" [ $st -eq 1 ] && grep -q "quay.io" "$T/err"
check "... within seconds, not a timeout ($((t1 - t0)) s)" [ $((t1 - t0)) -lt 20 ]

# --offline: the same build fails at once, and nothing is connected to.
printf 'FROM debian:trixie\n' >"$T/ctx/Dockerfile"
# (LeakSanitizer cannot run under ptrace.)
ASAN_OPTIONS=detect_leaks=0 strace -f -qq -e trace=connect -o "$T/strace" \
	"$H" build --offline --progress plain "$T/ctx" >/dev/null 2>"$T/err"; st=$?
check "--offline: a missing base is an error" [ $st -eq 1 ]
check "... naming it and the source" \
	grep -q "'docker.io/library/debian:trixie' would be pulled from $R/mirror/library/debian:trixie" "$T/err"
check "... with no connect() to any inet address" sh -c "! grep -q AF_INET '$T/strace'"
printf 'FROM debian:bookworm\nRUN true\n' >"$T/ctx/Dockerfile"
HOIST_OFFLINE=1 "$H" build --progress plain "$T/ctx" >/dev/null 2>"$T/err"
check "HOIST_OFFLINE=1: a base in the store still builds" [ $? -eq 0 ]

finish
