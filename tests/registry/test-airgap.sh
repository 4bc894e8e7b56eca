#!/bin/sh
# A real air gap. On the connected side a bundle is made from a loopback
# "public" registry (a multi-platform index) and carried as one file into a
# network namespace with only `lo`, where the internal registry (Bearer
# token auth, its token server beside it) and hoist run. The bundle is
# synced in, and `FROM debian:bookworm` builds through the user's
# registries.conf (the default file locations, not a test variable), for
# the host platform and for linux/amd64 + linux/arm64 (arm64 under
# qemu-user), digests identical to the public ones; every connect() goes to
# the internal registry or its token server. A name the mirror lacks fails
# with the source named, an unconfigured registry fails fast instead of
# hanging, and --offline makes no connection at all (strace). Needs root
# for `ip netns`. TAP output.
if [ -z "${HOIST_AIRGAP_INNER:-}" ]; then
	# The connected side (no TAP lines here: the plan is the inner run's).
	. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"
	[ "$(id -u)" = 0 ] || skip_all "needs root for ip netns"
	command -v ip >/dev/null 2>&1 || skip_all "iproute2 is not installed"
	# The bundle: the multi-arch base (busybox-static for amd64, arm64 and
	# armhf; its .debs may have to be downloaded once) pushed to a loopback
	# "public" registry as library/debian:bookworm, synced from there into
	# one file by a fresh store. What fails here leaves HOIST_AIRGAP_BUNDLE
	# unset, and the inner run reports it.
	PUBP=$(free_port)
	if HOIST_ROOT="$T/ma" "$HOIST_SRCDIR/tests/lib/mkmultiarch.sh" "$T/ma" bb \
		>/dev/null 2>"$T/ma.err" &&
		start_registry "$T/pub" plain "$PUBP" &&
		PUBD=$(HOIST_ROOT="$T/ma" "$H" push --progress quiet bb:latest \
			"127.0.0.1:$PUBP/library/debian:bookworm" 2>>"$T/ma.err") &&
		HOIST_ROOT="$T/conn" "$H" sync "127.0.0.1:$PUBP/library/debian:bookworm" \
			--to "oci-archive:$T/bundle.tar" >/dev/null 2>>"$T/ma.err"; then
		export HOIST_AIRGAP_BUNDLE="$T/bundle.tar" HOIST_AIRGAP_DIGEST="$PUBD"
	else
		export HOIST_AIRGAP_WHY="$(tail -3 "$T/ma.err")"
	fi
	ns=hoist-airgap-$$
	ip netns add "$ns" 2>/dev/null || skip_all "cannot create a network namespace"
	at_exit 'ip netns del "$ns" 2>/dev/null'
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

$PY -c 'import jwt, cryptography' 2>/dev/null || skip_all "python3-jwt and python3-cryptography are needed"
RP=$(free_port); TP=$(free_port)
start_registry "$T/reg" token "$RP" "$TP" || skip_all "docker-registry (token auth) did not start"
R=127.0.0.1:$RP
echo testpass | "$H" login -u test --password-stdin "$R" >/dev/null 2>"$T/err"
check "login to the internal registry (token auth)" [ $? -eq 0 ]
# debian:bookworm in the internal registry: the bundle carried across the
# gap, synced in from a fresh store, else a single busybox image.
if [ -n "${HOIST_AIRGAP_BUNDLE:-}" ]; then
	HOIST_ROOT="$T/gap" "$H" sync "oci-archive:$HOIST_AIRGAP_BUNDLE" --to "docker://$R/mirror" \
		>"$T/out" 2>"$T/err"; st=$?
	check "the bundle synced into the internal registry" [ $st -eq 0 ]
	BB=$HOIST_AIRGAP_DIGEST
	check "... as mirror/library/debian:bookworm, with the public digest" \
		grep -q "^$BB .* -> $R/mirror/library/debian:bookworm\$" "$T/out"
	[ $st -eq 0 ] || diag "$(cat "$T/err")"
else
	skip_or_fail "no bundle from the connected side: ${HOIST_AIRGAP_WHY:-}"
	"$HOIST_SRCDIR/scripts/mkrootfs-busybox.sh" "$T/bb.tar"
	HOIST_ROOT="$T/seed" "$H" import "$T/bb.tar" "$R/mirror/library/debian:bookworm" >/dev/null
	BB=$(HOIST_ROOT="$T/seed" "$H" push --progress quiet "$R/mirror/library/debian:bookworm" 2>"$T/err")
	check "the internal registry holds mirror/library/debian:bookworm" [ -n "$BB" ]
	[ -n "$BB" ] || diag "$(cat "$T/err")"
fi
check "... and its token server issued tokens for it" grep -q "mirror/library/debian" "$T/reg/token.log"

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
check "debian:bookworm is in the store with the public registry's digest" grep -q "$BB" "$T/images"

# A multi-platform build from the same FROM, in a fresh store: the
# registries.conf rewrite serves both platforms of the internal index.
mkdir -p "$T/mctx"
printf 'FROM debian:bookworm\nRUN uname -m > /arch\n' >"$T/mctx/Dockerfile"
if [ -z "${HOIST_AIRGAP_BUNDLE:-}" ]; then
	skip_or_fail "multi-platform build: no multi-platform bundle"
elif [ ! -x /usr/bin/qemu-aarch64-static ]; then
	skip_or_fail "multi-platform build: qemu-user-static is not installed"
else
	t0=$(date +%s)
	ASAN_OPTIONS=detect_leaks=0 HOIST_ROOT="$T/mstore" strace -f -qq -e trace=connect \
		-o "$T/strace-on" "$H" build --progress plain --platform linux/amd64,linux/arm64 \
		-t internal/multi:1 "$T/mctx" >"$T/out" 2>"$T/err"; st=$?
	check "FROM debian:bookworm for linux/amd64 and linux/arm64 ($(($(date +%s) - t0)) s)" [ $st -eq 0 ]
	[ $st -eq 0 ] || diag "$(tail -5 "$T/err")"
	# Every inet connect() went to the registry or its token server.
	others=$(grep -E 'AF_INET6?' "$T/strace-on" | grep -vE "htons\(($RP|$TP)\).*\"127\.0\.0\.1\"" | head -3)
	check "... connecting to the internal registry and its token server only" [ -z "$others" ]
	[ -z "$others" ] || diag "$others"
	check "... (and to them: $(grep -c 'AF_INET' "$T/strace-on") connects)" grep -q "htons($RP)" "$T/strace-on"
	a=""
	for p in linux/amd64 linux/arm64; do
		a="$a$(HOIST_ROOT="$T/mstore" "$H" run --pull never --platform $p internal/multi:1 cat /arch 2>&1)|"
	done
	is "$a" "x86_64|aarch64|" "each platform's RUN ran on its architecture"
	HOIST_ROOT="$T/mstore" "$H" images --digests >"$T/images"
	check "the base is the public index, by digest" grep -q "^debian  *bookworm  *$BB" "$T/images"
	HOIST_ROOT="$T/mstore" "$H" images --origin >"$T/images"
	check "the base came from the internal registry" \
		grep -q "^debian  *bookworm .* $R/mirror/library/debian:bookworm\$" "$T/images"
	# (LeakSanitizer cannot run under ptrace.)
	ASAN_OPTIONS=detect_leaks=0 HOIST_ROOT="$T/mstore" strace -f -qq -e trace=connect \
		-o "$T/strace-m" "$H" build --offline --progress plain \
		--platform linux/amd64,linux/arm64 "$T/mctx" >/dev/null 2>"$T/err"; st=$?
	check "--offline: the multi-platform build again, from the store" [ $st -eq 0 ]
	[ $st -eq 0 ] || diag "$(tail -5 "$T/err")"
	check "... with no connect() to any inet address" sh -c "! grep -q AF_INET '$T/strace-m'"
fi

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
check "an unconfigured registry fails" eval '[ $st -eq 1 ] && grep -q "quay.io" "$T/err"'
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
