#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Stress (issue #21): push+pull cycles through the fault-injecting proxy
# (tests/registry/faultproxy.py), HOIST_STRESS_FAULT_CYCLES of them (default
# 24), each with a fault drawn at random. Whatever hoist reports, nothing is
# corrupt: a push that exits 0 left the whole image in the registry (pulled
# back directly, the same digest); a pull that exits 0 has the image's
# digest and a sound store; a pull that fails tagged nothing. Counts (cycles,
# faulted requests, failures reported, corrupt images) go to the diagnostics.
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"
CYCLES=${HOIST_STRESS_FAULT_CYCLES:-24}
RP=$(free_port); PP=$(free_port)
start_registry "$T/reg" plain "$RP" || skip_all "docker-registry did not start"
start_proxy "$T" "$PP" "$RP" || skip_all "the fault proxy did not start"
R=127.0.0.1:$RP; P=127.0.0.1:$PP
export HOIST_INSECURE_REGISTRIES="$R,$P"
mklayer "$T/l1.tgz" 1024
mklayer "$T/l2.tgz" 256
t0=$(date +%s)

faults='{}
{"drop_once": "PUT"}
{"drop_once": "PATCH"}
{"fail_once": "PUT"}
{"fail_once": "GET"}
{"fail_once": "HEAD"}
{"fail_once": "POST"}
{"lose_reply_once": "PUT"}
{"lose_reply_once": "PATCH"}
{"garble_once": "/manifests/"}
{"fail_after": "/manifests/"}
{"corrupt_blobs": true}
{"drop_v2": 2}
{"max_body": 65536}'
nf=$(printf '%s\n' "$faults" | wc -l)

push_fail=0 pull_fail=0 corrupt=0 push_ok=0 pull_ok=0
for i in $(seq 1 "$CYCLES"); do
	k=$(($(od -An -N2 -tu2 /dev/urandom) % nf + 1))
	[ $i -le "$nf" ] && k=$i # every fault at least once, then at random
	fp=$(printf '%s\n' "$faults" | sed -n "${k}p")
	fq=$(printf '%s\n' "$faults" | sed -n "$(($(od -An -N2 -tu2 /dev/urandom) % nf + 1))p")
	# a new image each cycle (its own layer), so that nothing is already there
	mklayer "$T/l-$i.tgz" 64
	D=$("$MK" "$T/src" "$P/stress/app:$i" linux/amd64 "$T/l1.tgz" "$T/l-$i.tgz" "$T/l2.tgz") ||
		bail "mkimage failed"
	printf '%s' "$fp" | sed "s/^{/{\"cycle\": $i, /; s/, }/}/" >"$T/faults.json"
	HOIST_ROOT="$T/src" "$H" push --progress quiet "$P/stress/app:$i" >/dev/null 2>"$T/err"
	if [ $? -eq 0 ]; then
		push_ok=$((push_ok + 1))
		out=$(HOIST_ROOT="$T/check-$i" "$H" pull --progress quiet "$R/stress/app:$i" 2>"$T/err2")
		if [ "$out" != "$D" ]; then
			corrupt=$((corrupt + 1))
			nok "cycle $i ($fp): push exited 0 but the registry does not hold the image"
			diag_file "$T/err2"
		fi
	else
		push_fail=$((push_fail + 1))
		# it failed: still, what the registry holds under the tag is whole
		"$H" --root "$T/check-$i" pull --progress quiet "$R/stress/app:$i" >"$T/out2" 2>"$T/err2" &&
			[ "$(cat "$T/out2")" != "$D" ] && {
			corrupt=$((corrupt + 1))
			nok "cycle $i ($fp): after a failed push the tag names another image"
		}
		# push it again, unfaulted, for the pull below
		echo '{}' >"$T/faults.json"
		HOIST_ROOT="$T/src" "$H" push --progress quiet "$P/stress/app:$i" >/dev/null 2>"$T/err" ||
			{ nok "cycle $i: an unfaulted push failed"; diag_file "$T/err"; continue; }
	fi
	rm -rf "$T/check-$i"
	printf '%s' "$fq" | sed "s/^{/{\"cycle\": \"$i-pull\", /; s/, }/}/" >"$T/faults.json"
	S="$T/pull-$i"
	out=$(HOIST_ROOT="$S" "$H" pull --progress quiet "$P/stress/app:$i" 2>"$T/err")
	if [ $? -eq 0 ]; then
		pull_ok=$((pull_ok + 1))
		v=$(HOIST_ROOT="$S" "$H" cache verify 2>&1); vrc=$?
		if [ "$out" != "$D" ] || [ $vrc -ne 0 ]; then
			corrupt=$((corrupt + 1))
			nok "cycle $i ($fq): pull exited 0 with '$out', want '$D'"
			diag "$v"
		fi
	else
		pull_fail=$((pull_fail + 1))
		if HOIST_ROOT="$S" "$H" images 2>/dev/null | grep -q "stress/app"; then
			corrupt=$((corrupt + 1))
			nok "cycle $i ($fq): a failed pull tagged the image"
		fi
	fi
	rm -rf "$S"
done
# injected faults the proxy logs (a corrupted blob is logged as an ordinary GET)
faulted=$(grep -cE ' (DROP|STALL|LOST|GARBLED|FAILED-AFTER|500|413)$' "$T/proxy.log")
diag "$CYCLES cycles: $push_ok pushes and $pull_ok pulls exited 0, $push_fail and $pull_fail failed; $faulted faulted requests of $(wc -l <"$T/proxy.log"); $corrupt corrupt; $(($(date +%s) - t0)) s"
check "faults were injected ($faulted)" [ "$faulted" -gt 0 ]
is "$corrupt" 0 "no cycle left a corrupt or wrongly tagged image"
check "most cycles pushed and pulled ($push_ok, $pull_ok of $CYCLES)" \
	[ $((push_ok + pull_ok)) -ge "$CYCLES" ]
finish
