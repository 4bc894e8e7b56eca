#!/bin/sh
# Multi-platform builds in parallel workers (`hoist build --platform ... --jobs
# N`): the index is the same with --jobs 1 (one after the other, in the hoist
# process) and --jobs 2/3 (forked workers), also for a Dockerfile whose
# $BUILDPLATFORM stage every platform builds at the same time; two
# platforms' RUNs meet in a shared cache mount (a rendezvous only concurrent
# builds can complete); progress and RUN output lines name their platform; a
# RUN failing on arm64 only fails the build with the platform named, tags
# nothing and leaves no process behind; a worker killed mid-RUN is reported
# as such. Foreign RUNs go through qemu-user (a host binfmt_misc entry or
# hoist's private one). TAP.
set -u
HOIST_MKIMAGE=${HOIST_MKIMAGE:-/bin/true}
export HOIST_MKIMAGE
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"
SRC=$HOIST_SRCDIR

[ -x /usr/bin/qemu-aarch64-static ] && [ -x /usr/bin/qemu-arm-static ] ||
	skip_all "qemu-user-static is not installed (apt-get install qemu-user-static)"
export HOIST_BIN="$H"
"$SRC/tests/lib/mkmultiarch.sh" "$T/store" bb >/dev/null 2>"$T/ma.err"; st=$?
[ $st -eq 77 ] && skip_all "busybox-static .debs neither cached nor downloadable"
[ $st -eq 0 ] || { sed 's/^/# /' "$T/ma.err"; echo "Bail out! mkmultiarch.sh failed"; exit 1; }

PLATS=linux/amd64,linux/arm64,linux/arm/v7
# A fresh token per run: the cache mounts (ROOT/cachemounts/<id>) outlive a build.
TOKEN=$$-$(date +%s)
export SOURCE_DATE_EPOCH=1700000000
idx() { tail -n 1 "$1"; }
tagdig() { "$H" inspect "$1" 2>/dev/null | $PY -c 'import json,sys; print(json.load(sys.stdin)["Digest"])' 2>/dev/null; }
arches() {
	r=""
	for p in linux/amd64 linux/arm64 linux/arm/v7; do
		r="$r$("$H" run --platform $p "$1" cat "$2" 2>&1)|"
	done
	echo "$r"
}
# leftovers PATTERN: processes whose command line holds PATTERN (after up to 5 s)
leftovers() {
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		pgrep -f -- "$1" >/dev/null || return 1
		sleep 0.5
	done
	pgrep -af -- "$1" | sed 's/^/# left: /'
	return 0
}

# ---- the same index, one after the other or at once -------------------------
mkdir -p "$T/same" "$T/cross"
cat >"$T/same/Dockerfile" <<'EOF'
FROM bb
ARG TARGETARCH
RUN uname -m > /arch && echo "$TARGETARCH" > /t && sha256sum /bin/busybox > /sum && echo hello-$TARGETARCH
EOF
# Every platform builds the $BUILDPLATFORM stage: with workers they do so at
# the same time (--no-cache), each writing the same layer and cache record.
cat >"$T/cross/Dockerfile" <<'EOF'
FROM --platform=$BUILDPLATFORM bb AS build
RUN echo shared > /shared && mkdir -p /out/a && echo x > /out/a/x
ARG TARGETARCH
RUN echo "built for $TARGETARCH on $(uname -m)" > /out/t

FROM bb
COPY --from=build /out /out
EOF
for j in 1 2 3; do
	"$H" build --no-cache --jobs $j --platform "$PLATS" -t same:j$j "$T/same" >"$T/same$j.out" 2>"$T/same$j.err"; st=$?
	check "--jobs $j: three platforms build" [ $st -eq 0 ]
	[ $st -eq 0 ] || diag "$(cat "$T/same$j.err")"
	"$H" build --no-cache --jobs $j --platform "$PLATS" -t cross:j$j "$T/cross" >"$T/cross$j.out" 2>"$T/cross$j.err"; st=$?
	check "--jobs $j: the cross-compiling Dockerfile builds" [ $st -eq 0 ]
	[ $st -eq 0 ] || diag "$(cat "$T/cross$j.err")"
done
d1=$(idx "$T/same1.out")
check "--jobs 2 and --jobs 1: the same index ($d1)" [ "$(idx "$T/same2.out")" = "$d1" ]
check "--jobs 3 and --jobs 1: the same index" [ "$(idx "$T/same3.out")" = "$d1" ]
check "-t names the printed index" [ "$(tagdig same:j2)" = "$(idx "$T/same2.out")" ]
c1=$(idx "$T/cross1.out")
check "cross, --jobs 2 and 3 as --jobs 1: the same index ($c1)" \
	[ "$(idx "$T/cross2.out")" = "$c1" -a "$(idx "$T/cross3.out")" = "$c1" ]
out=$(arches same:j3 /arch)
check "--jobs 3: each image ran its RUN on its machine ($out)" [ "$out" = "x86_64|aarch64|armv7l|" ]
out=$(arches cross:j3 /out/t)
check "cross --jobs 3: per-platform TARGETARCH ($out)" \
	[ "$out" = "built for amd64 on x86_64|built for arm64 on x86_64|built for arm on x86_64|" ]

"$H" build --jobs 2 --progress plain --no-cache --platform "$PLATS" "$T/same" >/dev/null 2>"$T/plain.err"
check "progress lines carry the platform" \
	sh -c "grep -q '^\[linux/arm64 0 3/3\] RUN uname' '$T/plain.err' && grep -q '^\[linux/arm/v7 0 1/3\] FROM bb' '$T/plain.err'"
check "RUN output lines carry the platform" \
	sh -c "grep -qx '\[linux/arm64\] hello-arm64' '$T/plain.err' && grep -qx '\[linux/amd64\] hello-amd64' '$T/plain.err'"
check "sandbox lines carry the platform" grep -q '^#[0-9]* \[linux/arm64\] sandbox: ' "$T/plain.err"
check "the index is announced once" [ "$(grep -c '^writing image sha256:' "$T/plain.err")" = 1 ]
"$H" build --jobs 2 --platform "$PLATS" "$T/same" >"$T/again.out" 2>"$T/again.err"
check "a rebuild with workers: all cache hits, the same index" \
	[ "$(idx "$T/again.out")" = "$d1" -a "$(grep -c 'CACHED RUN' "$T/again.err")" = 3 ]

# ---- a rendezvous: only concurrent builds can finish ----------------------
# amd64 and arm64 start together (--jobs 2); each marks its arrival in a
# shared cache mount and waits for the other's mark (60 s, then fails).
mkdir -p "$T/rv"
cat >"$T/rv/Dockerfile" <<EOF
FROM bb
ARG TARGETARCH
RUN --mount=type=cache,target=/rv,id=rv-$TOKEN \\
	case \$TARGETARCH in amd64) other=arm64 ;; arm64) other=amd64 ;; *) other= ;; esac; \\
	touch /rv/\$TARGETARCH; n=0; \\
	while [ -n "\$other" ] && [ ! -e /rv/\$other ]; do \\
		n=\$((n+1)); [ \$n -gt 120 ] && { echo "rendezvous timed out"; exit 9; }; sleep 0.5; \\
	done; echo "\$TARGETARCH met \$other" > /met
EOF
t0=$(date +%s)
"$H" build --jobs 2 --platform "$PLATS" -t rv:1 "$T/rv" >"$T/rv.out" 2>"$T/rv.err"; st=$?
check "rendezvous of amd64 and arm64 with --jobs 2 ($(($(date +%s) - t0))s)" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(cat "$T/rv.err")"
out=$(arches rv:1 /met)
check "both met ($out)" [ "$out" = "amd64 met arm64|arm64 met amd64|arm met |" ]

# --jobs 1: never two platforms at once
mkdir -p "$T/seq"
cat >"$T/seq/Dockerfile" <<EOF
FROM bb
ARG TARGETARCH
RUN --mount=type=cache,target=/rv,id=busy-$TOKEN \\
	if [ -e /rv/busy ]; then echo overlap; exit 7; fi; touch /rv/busy; sleep 1; rm /rv/busy; echo \$TARGETARCH
EOF
"$H" build --jobs 1 --platform "$PLATS" "$T/seq" >/dev/null 2>"$T/seq.err"; st=$?
check "--jobs 1: one platform at a time (no overlap)" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(cat "$T/seq.err")"

# ---- a platform fails -----------------------------------------------------
mkdir -p "$T/fail"
cat >"$T/fail/Dockerfile" <<'EOF'
FROM bb
ARG TARGETARCH
RUN echo "ran on $TARGETARCH"; if [ "$TARGETARCH" = arm64 ]; then echo arm64-marker-output; exit 3; fi; sleep 1
EOF
for j in 3 1; do
	"$H" build --jobs $j --platform "$PLATS" -t fail:$j "$T/fail" >"$T/f$j.out" 2>"$T/f$j.err"; st=$?
	check "--jobs $j: an arm64-only failure fails the build (exit 1)" [ $st -eq 1 ]
	check "--jobs $j: the error names the platform and the RUN" \
		grep -q '^hoist: .*Dockerfile:3: building for linux/arm64: RUN .*exited with status 3$' "$T/f$j.err"
	[ $st -eq 1 ] || diag "$(cat "$T/f$j.err")"
	check "--jobs $j: the failed RUN's output is shown" grep -q arm64-marker-output "$T/f$j.err"
	check "--jobs $j: nothing is tagged" [ -z "$(tagdig fail:$j)" ]
	check "--jobs $j: nothing printed on stdout" [ ! -s "$T/f$j.out" ]
	if leftovers "$T/fail"; then nok "--jobs $j: no process left behind"; else ok "--jobs $j: no process left behind"; fi
done
"$H" cache verify >"$T/verify" 2>&1; st=$?
check "cache verify is clean after the concurrent builds" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(cat "$T/verify")"

# ---- a worker killed mid-RUN ----------------------------------------------
mkdir -p "$T/kill"
cat >"$T/kill/Dockerfile" <<EOF
FROM bb
ARG TARGETARCH
RUN --mount=type=cache,target=/rv,id=kill-$TOKEN \\
	if [ "\$TARGETARCH" = arm64 ]; then touch /rv/started; sleep 61; fi; echo ok
EOF
cm=$HOIST_ROOT/cachemounts/$(printf '%s' "kill-$TOKEN" | sha256sum | cut -d' ' -f1)
"$H" build --jobs 3 --platform "$PLATS" -t kill:1 "$T/kill" >"$T/k.out" 2>"$T/k.err" &
bpid=$!
for _ in $(seq 1 240); do [ -e "$cm/started" ] && break; sleep 0.25; done
# amd64 and arm/v7 are done in a moment; then the one worker left is arm64's.
for _ in $(seq 1 40); do [ "$(pgrep -P $bpid | wc -l)" -le 1 ] && break; sleep 0.25; done
pkill -KILL -P $bpid
wait $bpid; st=$?
check "a killed worker fails the build (exit 1)" [ $st -eq 1 ]
check "the error says the platform's worker was killed" \
	grep -q '^hoist: building for linux/arm64: its worker was killed by signal 9' "$T/k.err"
[ $st -eq 1 ] || diag "$(cat "$T/k.err")"
if leftovers "sleep 61"; then nok "its RUN is gone too"; else ok "its RUN is gone too"; fi
if leftovers "$T/kill"; then nok "no worker left behind"; else ok "no worker left behind"; fi
check "nothing is tagged" [ -z "$(tagdig kill:1)" ]

"$H" build --jobs 0 --platform "$PLATS" "$T/same" >/dev/null 2>&1
check "--jobs 0 is a usage error" [ $? -eq 2 ]
finish
