#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Stress (issue #21): a generated corpus of hostile layers (tests/stress/
# corpus.py, ~135 cases in 13 classes) through every path that reads one:
# `hoist import`, ADD in a build, `hoist load` (a docker-archive) and `hoist
# pull` (a real registry, fed by plain HTTP), each followed by `hoist run`
# where the image was accepted (the sandbox's unpacker); image-level cases
# (1001 layers, descriptor sizes of 2^63-1, one byte short, one byte over,
# 0) through load and pull. Root mode for every case, subuid and single for
# every HOIST_STRESS_MODE_EVERY-th (default 4). Each try is "refused" (an
# error, exit 1) or "contained" (accepted); never a crash, a sanitizer
# report, or a change outside the store: a canary directory that every
# escape aims at is compared after each case. Counts go to the diagnostics.
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"
HS=$HOIST_SRCDIR/tests/stress
EVERY=${HOIST_STRESS_MODE_EVERY:-4}
MAXC=${HOIST_STRESS_CASES:-100000}
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
"$HOIST_SRCDIR/tests/sandbox/users.sh" || skip_all "needs root to create the test users hoistsub/hoistnosub"
# The bombs are measured against these, so that each costs seconds, not minutes.
export HOIST_LIMIT_LAYER_SIZE=64M HOIST_LIMIT_LAYER_RATIO_FROM=16M
unset HOIST_ROOT
chmod 755 "$T"
t0=$(date +%s)

CAN="$T/canary"
mkdir -p "$CAN/sub"; echo host-only >"$CAN/host-file"; echo x >"$CAN/sub/f"
chmod -R a+rwX "$CAN"
canary() { find "$CAN" /etc/hoist-stress-pwned -printf '%p %y %m %s %n\n' 2>/dev/null | sort | md5sum; }
can0=$(canary)

N=$($PY "$HS/corpus.py" "$T/corpus" "$CAN") || bail "corpus.py failed"
check "the corpus has at least 100 cases ($N)" [ "$N" -ge 100 ]
RP=$(free_port)
start_registry "$T/reg" plain "$RP" || skip_all "docker-registry did not start"
R=127.0.0.1:$RP
export HOIST_INSECURE_REGISTRIES=$R
$PY "$HS/images.py" "$T/corpus" "$R" "$T/arch" >"$T/imagecases" 2>"$T/images.err" ||
	{ diag_file "$T/images.err"; bail "images.py failed"; }
diag "corpus and registry images made in $(($(date +%s) - t0)) s"
"$HOIST_SRCDIR/scripts/mkrootfs-busybox.sh" "$T/bb.tar"
chmod -R a+rX "$T/corpus" "$T/arch" "$T/bb.tar"

as() {
	local m=$1; shift
	case $m in
	root) env -i PATH=/usr/bin:/bin HOME="$T/home-root" HOIST_LIMIT_LAYER_SIZE=64M \
		HOIST_LIMIT_LAYER_RATIO_FROM=16M HOIST_INSECURE_REGISTRIES=$R \
		HOIST_REGISTRIES_CONF=/dev/null "$@" ;;
	*) runuser -u "$([ $m = subuid ] && echo hoistsub || echo hoistnosub)" -- env -i \
		PATH=/usr/bin:/bin HOME="$T/home-$m" HOIST_LIMIT_LAYER_SIZE=64M \
		HOIST_LIMIT_LAYER_RATIO_FROM=16M HOIST_INSECURE_REGISTRIES=$R \
		HOIST_REGISTRIES_CONF=/dev/null "$@" ;;
	esac
}
for m in root subuid single; do
	mkdir -p "$T/$m" "$T/home-$m"
	case $m in subuid) chown hoistsub: "$T/$m" "$T/home-$m" ;; single) chown hoistnosub: "$T/$m" "$T/home-$m" ;; esac
	as $m "$H" --root "$T/$m/store" import "$T/bb.tar" bb >/dev/null 2>"$T/$m.err" ||
		{ diag_file "$T/$m.err"; bail "$m: import of the busybox base failed"; }
done

# try MODE PATH CMD...: one hoist command; its outcome counted per path:
# 0 contained, 1..125 refused, else crashed (also on a sanitizer report);
# for run, 126 and 127 (no `true` in an image of one hostile layer) mean
# the layers were unpacked: contained.
crashes=0; escapes=0; last_rc=0
try() {
	local m=$1 p=$2 rc; shift 2
	as $m "$@" >"$T/out" 2>"$T/err"; rc=$?
	last_rc=$rc
	eval "tried_$p=\$((\${tried_$p:-0} + 1))"
	[ $p = run ] && [ $rc -eq 126 -o $rc -eq 127 ] && rc=0
	if [ $rc -gt 125 ] || grep -q 'Sanitizer\|runtime error:' "$T/err"; then
		crashes=$((crashes + 1))
		nok "$m $p: $case: crash or sanitizer report (exit $rc)"
		head -n 20 "$T/err" | diag
	elif [ $rc -eq 0 ]; then
		eval "contained_$p=\$((\${contained_$p:-0} + 1))"
	else
		eval "refused_$p=\$((\${refused_$p:-0} + 1))"
		# An error names what failed: the command's output is one line or more, never empty.
		[ -s "$T/err" ] || { nok "$m $p: $case: refused without a message"; }
	fi
	return $rc
}
# then_run MODE IMAGE: an accepted image is unpacked by the sandbox.
then_run() {
	[ $last_rc -eq 0 ] || return 0
	try "$1" run "$H" --root "$T/$1/store" run --identity "$1" --network none "$2" true
}
after_case() {
	local c
	c=$(canary)
	if [ "$c" != "$can0" ]; then
		escapes=$((escapes + 1))
		nok "$case: changed the canary directory"
		find "$CAN" /etc/hoist-stress-pwned -ls 2>/dev/null | diag
		rm -f /etc/hoist-stress-pwned; rm -rf "$CAN"
		mkdir -p "$CAN/sub"; echo host-only >"$CAN/host-file"; echo x >"$CAN/sub/f"
		chmod -R a+rwX "$CAN"
	fi
}

i=0
while read -r f cls; do
	i=$((i + 1)); [ $i -le "$MAXC" ] || break
	case=$f; cn=${f%%-*}
	modes=root
	[ $((i % EVERY)) -eq 0 ] && modes="root subuid single"
	for m in $modes; do
		S="$T/$m/store"
		try $m import "$H" --root "$S" import "$T/corpus/$f" "stress/imp$cn"
		then_run $m "stress/imp$cn"
		C="$T/$m/ctx"; rm -rf "$C"; mkdir -p "$C"
		cp "$T/corpus/$f" "$C/case.tar"
		printf 'FROM bb\nADD case.tar /x/\n' >"$C/Dockerfile"
		[ $m = root ] || chown -R "$([ $m = subuid ] && echo hoistsub || echo hoistnosub)" "$C"
		try $m add "$H" --root "$S" build -q --identity $m --network none "$C"
		try $m load "$H" --root "$S" load -q -i "$T/arch/$f.tar"
		then_run $m "stress/c$cn:1"
		# (the same layer digest as the load: its tree, if any, is made)
		try $m pull "$H" --root "$S" pull --progress quiet "$R/stress/c$cn:1"
	done
	after_case
done <"$T/corpus/cases"

# Image-level cases, in root mode: each must be refused (load and pull).
while read -r name arch noreg; do
	case=$name
	try root load "$H" --root "$T/root/store" load -q -i "$T/arch/$arch"
	is "$last_rc" 1 "image '$name': load refuses it"
	if [ -z "${noreg:-}" ]; then
		try root pull "$H" --root "$T/root/store" pull --progress quiet "$R/stress/$name:1"
		is "$last_rc" 1 "image '$name': pull refuses it"
	fi
	after_case
done <"$T/imagecases"

for p in import add load pull run; do
	eval "diag \"$p: tried \${tried_$p:-0}, refused \${refused_$p:-0}, contained \${contained_$p:-0}\""
done
for m in root subuid single; do
	as $m "$H" --root "$T/$m/store" cache verify >"$T/verify" 2>&1
	rc=$?; check "$m: cache verify after the corpus" [ $rc -eq 0 ]
	[ $rc -eq 0 ] || diag_file "$T/verify"
done
diag "$N cases, $(wc -l <"$T/imagecases") image-level cases, $(($(date +%s) - t0)) s"
is "$crashes" 0 "no crash and no sanitizer report"
is "$escapes" 0 "no case changed anything outside the store"
is "$(canary)" "$can0" "the canary directory is as it was"
finish
