#!/bin/sh
# --pull never|missing|always on build, run and chain, and --offline /
# HOIST_OFFLINE: no registry is contacted (strace sees no connect to an
# inet address, and a mirror that would hang costs nothing), and the error
# names the image and where it would have come from. TAP output.
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
need strace

RP=$(free_port); HANG=$(free_port)
start_registry "$T/reg" plain "$RP" || skip_all "docker-registry did not start"
R=127.0.0.1:$RP

# A mirror that accepts connections and never answers: any request to it
# would hang until curl gives up (a minute), so a fast failure proves that
# nothing was asked.
$PY -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); time.sleep(3600)' "$HANG" &
PIDS="$PIDS $!"

"$HOIST_SRCDIR/scripts/mkrootfs-busybox.sh" "$T/bb.tar"
HOIST_ROOT="$T/seed" "$H" import "$T/bb.tar" "$R/mirror/library/debian:bookworm" >/dev/null
V1=$(HOIST_ROOT="$T/seed" "$H" push --progress quiet "$R/mirror/library/debian:bookworm" 2>&1)
check "seeded debian:bookworm v1" [ -n "$V1" ]
cat >"$T/r.conf" <<EOF
[[registry]]
prefix = "docker.io/library"
location = "$R/mirror/library"
EOF
cat >"$T/hang.conf" <<EOF
[[registry]]
prefix = "docker.io/library"
location = "$R/mirror/library"
[[registry.mirror]]
location = "127.0.0.1:$HANG/hangs/library"
EOF
export HOIST_REGISTRIES_CONF="$T/r.conf"
mkdir -p "$T/ctx"
printf 'FROM debian:bookworm\nRUN cat /marker 2>/dev/null > /seen || echo none > /seen\n' >"$T/ctx/Dockerfile"
digest_of() { HOIST_ROOT="$1" "$H" images --digests 2>/dev/null | awk '$1 ~ /debian$/ && $2 == "bookworm" {print $3}'; }

# --pull never: nothing in the store is an error naming the image.
HOIST_ROOT="$T/s1" "$H" build --pull never --progress plain "$T/ctx" >/dev/null 2>"$T/err"; st=$?
check "build --pull never without the base fails" [ $st -eq 1 ]
check "... naming the image and --pull never" \
	grep -q "'docker.io/library/debian:bookworm' is not in the store and --pull is 'never'" "$T/err"
check "... with the Dockerfile line" grep -q "Dockerfile:1" "$T/err"
HOIST_ROOT="$T/s1" "$H" run --pull=never debian:bookworm true >/dev/null 2>"$T/err"; st=$?
{ [ $st -ne 0 ] && grep -q "never" "$T/err"; }; ok_if $? "run --pull=never without the image fails"

# --pull missing (the default): pulled once, then used from the store.
HOIST_ROOT="$T/s1" "$H" build --progress plain -t app:1 "$T/ctx" >/dev/null 2>"$T/err"
check "build (missing) pulls the base" [ $? -eq 0 ]
check "the base's digest is v1" [ "$(digest_of "$T/s1")" = "$V1" ]
HOIST_ROOT="$T/s1" "$H" build --pull never --progress plain "$T/ctx" >/dev/null 2>"$T/err"
check "build --pull never with the base in the store works" [ $? -eq 0 ]

# The registry moves the tag: --pull always (and --pull alone) fetch it,
# missing keeps the local one.
mkdir -p "$T/v2/root"
tar -C "$T/v2/root" -xf "$T/bb.tar"
echo v2 >"$T/v2/root/marker"
tar -C "$T/v2/root" -cf "$T/bb2.tar" .
HOIST_ROOT="$T/seed" "$H" import "$T/bb2.tar" "$R/mirror/library/debian:bookworm" >/dev/null
V2=$(HOIST_ROOT="$T/seed" "$H" push --progress quiet "$R/mirror/library/debian:bookworm" 2>&1)
{ [ -n "$V2" ] && [ "$V2" != "$V1" ]; }; ok_if $? "the registry's debian:bookworm is now v2"
HOIST_ROOT="$T/s1" "$H" build --pull=missing --progress plain "$T/ctx" >/dev/null 2>&1
check "build --pull=missing keeps v1" [ "$(digest_of "$T/s1")" = "$V1" ]
HOIST_ROOT="$T/s1" "$H" build --pull --progress plain -t app:2 "$T/ctx" >/dev/null 2>"$T/err"
check "build --pull (alone, before the context) pulls v2" [ "$(digest_of "$T/s1")" = "$V2" ]
seen=$(HOIST_ROOT="$T/s1" "$H" run --pull never app:2 cat /seen 2>&1)
is "$seen" v2 "the build ran on v2"

# run: --pull missing pulls into an empty store; --pull always refreshes.
out=$(HOIST_ROOT="$T/s2" "$H" run debian:bookworm cat /marker 2>&1)
is "$out" v2 "run pulls a missing image (default missing)"
HOIST_ROOT="$T/seed" "$H" push --progress quiet "$R/mirror/library/debian:bookworm" \
	"$R/mirror/library/debian:trixie" >/dev/null 2>&1
out=$(HOIST_ROOT="$T/s2" "$H" run --pull always debian:trixie cat /marker 2>&1)
is "$out" v2 "run --pull always WORD takes the word as the policy"

# chain: --pull never reaches the steps' FROM.
mkdir -p "$T/chain/base"
printf 'ARG BASE_IMAGE\nFROM debian:bookworm\nRUN true\n' >"$T/chain/base/10-Dockerfile-x"
HOIST_ROOT="$T/s3" "$H" chain build --pull never --base debian:bookworm "$T/chain/base" \
	>/dev/null 2>"$T/err"; st=$?
check "chain --pull never without the base fails, naming the image" \
	[ $st -ne 0 ] && grep -q "not in the store and --pull is 'never'" "$T/err"

# LeakSanitizer cannot run under ptrace: commands traced for their
# connect() calls run without it (the same commands run untraced too).
traced() { ASAN_OPTIONS=detect_leaks=0 strace -f -qq -e trace=connect -o "$@"; }

# Offline: the hanging mirror is never asked, the error names the image
# and every source it would have been pulled from, and it is quick.
export HOIST_REGISTRIES_CONF="$T/hang.conf"
t0=$(date +%s)
HOIST_ROOT="$T/s4" traced "$T/strace" "$H" build --offline --progress plain "$T/ctx" >/dev/null 2>"$T/err"; st=$?
t1=$(date +%s)
check "build --offline without the base fails" [ $st -eq 1 ]
check "... at once ($((t1 - t0)) s)" [ $((t1 - t0)) -lt 10 ]
check "... naming the image and both sources" grep -q \
	"offline.*'docker.io/library/debian:bookworm' would be pulled from 127.0.0.1:$HANG/hangs/library/debian:bookworm (mirror), $R/mirror/library/debian:bookworm" "$T/err"
check "... with no connect() to any inet address" sh -c "! grep -q 'AF_INET' '$T/strace'"
# The control: the same strace does see the connect() of a real pull.
HOIST_REGISTRIES_CONF="$T/r.conf" HOIST_ROOT="$T/s5" traced "$T/strace0" "$H" pull --progress quiet debian:bookworm >/dev/null 2>&1
check "control: strace sees a pull's connect() to the registry" \
	grep -q "AF_INET.*htons($RP)" "$T/strace0"

HOIST_ROOT="$T/s4" HOIST_OFFLINE=1 "$H" pull --progress quiet debian:bookworm >/dev/null 2>"$T/err"
check "HOIST_OFFLINE=1 pull fails the same way" grep -q "hoist is offline" "$T/err"
HOIST_ROOT="$T/s4" HOIST_OFFLINE=1 "$H" run debian:bookworm true >/dev/null 2>"$T/err"
check "HOIST_OFFLINE=1 run of a missing image fails, offline" grep -q "hoist is offline" "$T/err"
HOIST_ROOT="$T/s1" HOIST_OFFLINE=1 "$H" push --progress quiet app:1 "$R/x:1" >/dev/null 2>"$T/err"
check "offline push contacts nothing" grep -q "not contacting registry '$R'" "$T/err"

# Offline with the base in the store: builds, no connect() at all.
HOIST_ROOT="$T/s1" "$H" build --offline --progress plain -t app:3 "$T/ctx" >/dev/null 2>"$T/err"
check "build --offline with the base in the store works" [ $? -eq 0 ]
HOIST_ROOT="$T/s1" traced "$T/strace2" "$H" build --offline --progress plain "$T/ctx" \
	>/dev/null 2>&1
check "... with no connect() to any inet address" sh -c "! grep -q 'AF_INET' '$T/strace2'"
HOIST_ROOT="$T/s1" "$H" build --offline --pull always --progress plain "$T/ctx" >/dev/null 2>"$T/err"
check "--offline --pull always is an error, not a network call" grep -q "hoist is offline" "$T/err"

finish
