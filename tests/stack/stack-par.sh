#!/bin/sh
# hoist stack build runs independent branches at the same time, in worker
# processes: two siblings whose RUNs wait for each other's marker in a shared
# cache mount (a rendezvous only concurrent builds can complete; it times out
# instead of hanging when they run one after the other); --jobs 1 never
# overlaps two builds; a failing branch leaves the other branch to finish,
# its dependents unbuilt, its log tail printed, and the store sound. TAP.
set -u
HOIST_MKIMAGE=${HOIST_MKIMAGE:-/bin/true}
export HOIST_MKIMAGE
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"

"$HOIST_SRCDIR/scripts/mkrootfs-busybox.sh" "$T/bb.tar"
"$H" import "$T/bb.tar" busybox:1.33 >/dev/null || bail "import failed"
# A fresh token per run: the cache mounts (ROOT/cachemounts/<id>) outlive a build.
TOKEN=$$-$(date +%s)

# image DIR NAME PARENT RUN: a folder with a Dockerfile FROM busybox (no
# parent) or FROM $BASE_IMAGE, a RUN of RUN (each writes a file of its own:
# hoist's sandbox cannot yet stack one layer twice, as two empty RUN layers
# would be), and a RUN writing /NAME.
image() {
	mkdir -p "$1/$2"
	{
		if [ "$3" = - ]; then
			echo "FROM busybox:1.33"
		else
			printf 'ARG BASE_IMAGE\nFROM $BASE_IMAGE\n'
		fi
		echo "RUN $4; echo $2 > /ran-$2"
		echo "RUN echo $2 > /$2"
	} >"$1/$2/Dockerfile"
}
# spec DIR NAME:PARENT...: a spec.yml for images $(basename DIR)/NAME
spec() {
	d=$1; shift
	echo "images:" >"$d/spec.yml"
	for np in "$@"; do
		printf '  %s:\n    image_name: %s/%s\n' "${np%%:*}" "${d##*/}" "${np%%:*}" >>"$d/spec.yml"
		[ "${np#*:}" = - ] || printf '    depend_on: %s\n' "${np#*:}" >>"$d/spec.yml"
	done
}
# wait_for FILE: a RUN fragment polling for FILE for 60 s, then failing
wait_for() {
	echo "n=0; while [ ! -e $1 ]; do n=\$((n+1)); if [ \$n -gt 120 ]; then echo rendezvous timed out waiting for $1; exit 9; fi; sleep 0.5; done"
}

# --- rendezvous: left and right can only finish side by side -------------
P="$T/par"
RV="--mount=type=cache,target=/rv,id=rv-$TOKEN"
image "$P" base - "echo base"
image "$P" left base "$RV touch /rv/left; $(wait_for /rv/right); echo left met right"
image "$P" right base "$RV touch /rv/right; $(wait_for /rv/left); echo right met left"
image "$P" left-child left "cat /left"
spec "$P" base:- left:base right:base left-child:left

"$H" stack build "$P/spec.yml" --all --tag t --jobs 4 --progress plain >"$T/p.out" 2>"$T/p.log"; st=$?
check "rendezvous stack builds with --jobs 4" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(cat "$T/p.log")"
check "four images built" grep -q '^\[stack\] 4 images built' "$T/p.log"
check "progress lines name their image" \
	sh -c "grep -q '^\[left\] \[2/3\] RUN' '$T/p.log' && grep -q '^\[right\] \[2/3\] RUN' '$T/p.log'"
runcat() { "$H" run "$1" cat $2 2>&1 | tr '\n' ' '; }
check "left holds base and left" [ "$(runcat par/left:t "/base /left")" = "base left " ]
check "right holds base and right" [ "$(runcat par/right:t "/base /right")" = "base right " ]
check "left-child was built on this left" \
	[ "$(runcat par/left-child:t "/base /left /left-child")" = "base left left-child " ]
"$H" images >"$T/images" 2>&1
tagdig() { "$H" inspect "$1" 2>/dev/null | sed -n 's/.*"Digest": *"\(sha256:[0-9a-f]*\)".*/\1/p' | head -1; }
for img in left right left-child; do
	d1=$(tagdig "par/$img:t") d2=$(tagdig "par/$img")
	check "par/$img:t and par/$img (latest) name one build" [ -n "$d1" -a "$d1" = "$d2" ]
done
"$H" inspect par/right:t >"$T/right.json" 2>&1
check "labels: org.hoist.stack.image=right" grep -q '"org.hoist.stack.image": *"right"' "$T/right.json"
"$H" cache verify >"$T/verify" 2>&1; st=$?
check "cache verify is clean after concurrent builds" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(cat "$T/verify")"
check "each image has its own log with its RUN output" \
	sh -c "grep -q 'left met right' '$HOIST_ROOT/logs/stack/left.log' && grep -q 'right met left' '$HOIST_ROOT/logs/stack/right.log' && ! grep -q 'right met left' '$HOIST_ROOT/logs/stack/left.log'"
"$H" stack build "$P/spec.yml" --all --tag t --jobs 4 >/dev/null 2>"$T/p2.log"
check "a second build: all four up to date, none built" \
	sh -c "grep -q '0 images built' '$T/p2.log' && [ \$(grep -c 'up to date' '$T/p2.log') = 4 ]"

# --- --jobs 1: never two builds at once ----------------------------------
S="$T/seq"
BUSY="--mount=type=cache,target=/rv,id=busy-$TOKEN"
OVERLAP="if [ -e /rv/busy ]; then echo overlap; exit 7; fi; touch /rv/busy; sleep 2; rm /rv/busy"
image "$S" base - "echo base"
image "$S" s1 base "$BUSY $OVERLAP"
image "$S" s2 base "$BUSY $OVERLAP"
image "$S" s3 base "$BUSY $OVERLAP"
spec "$S" base:- s1:base s2:base s3:base
"$H" stack build "$S/spec.yml" --all --tag t --jobs 1 >/dev/null 2>"$T/s.log"; st=$?
check "--jobs 1: siblings built one at a time (no overlap)" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(cat "$T/s.log")"
check "--jobs 1: in the spec's order" \
	[ "$(grep '^\[stack\] built' "$T/s.log" | awk '{print $3}' | tr '\n' ' ')" = "base s1 s2 s3 " ]

# --- a failing branch ----------------------------------------------------
F="$T/fail"
FRV="--mount=type=cache,target=/rv,id=fail-$TOKEN"
image "$F" base - "echo base"
image "$F" bad base "$FRV touch /rv/bad-started; echo bad-marker-output; exit 3"
image "$F" bad-child bad "echo never"
# good runs while bad fails: it starts only once bad has started
image "$F" good base "$FRV $(wait_for /rv/bad-started); sleep 2; echo good done"
image "$F" good-child good "echo good-child"
spec "$F" base:- bad:base bad-child:bad good:base good-child:good
"$H" stack build "$F/spec.yml" --all --tag t --jobs 4 >"$T/f.out" 2>"$T/f.log"; st=$?
check "a failed image fails the build (exit 1)" [ $st -eq 1 ]
check "the failure names the image and the RUN" grep -q '^\[stack\] failed bad: .*exit 3' "$T/f.log"
check "the failing image's log tail is printed" grep -q '^\[bad\] | bad-marker-output' "$T/f.log"
check "the independent branch running beside it finishes" grep -q '^\[stack\] built good ' "$T/f.log"
check "the failed image's child is not built" \
	grep -q "^\[stack\] not built bad-child: parent 'bad' failed" "$T/f.log"
check "nothing new starts after the failure" grep -q '^\[stack\] not built good-child' "$T/f.log"
check "summary: 2 built, 1 failed, 2 not built" \
	grep -q '^\[stack\] 2 images built, 1 failed, 2 not built' "$T/f.log"
check "error message at the end" grep -q "^hoist: .*building image 'bad'" "$T/f.log"
[ $st -eq 1 ] || diag "$(cat "$T/f.log")"
check "good is tagged" [ -n "$(tagdig fail/good:t)" ]
check "bad and bad-child are not" [ -z "$(tagdig fail/bad:t)$(tagdig fail/bad-child:t)" ]
"$H" cache verify >"$T/verify2" 2>&1; st=$?
check "cache verify is clean after a failed build" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(cat "$T/verify2")"
"$H" stack build "$F/spec.yml" --all --tag t --jobs 4 --keep-going >/dev/null 2>"$T/k.log"; st=$?
check "--keep-going: good-child is built, bad-child still not, exit 1" \
	sh -c "[ $st -eq 1 ] && grep -q '^\[stack\] built good-child' '$T/k.log' && grep -q '^\[stack\] not built bad-child' '$T/k.log'"
[ $st -eq 1 ] || diag "$(cat "$T/k.log")"

"$H" stack build "$F/spec.yml" --all --tag t --jobs 0 >/dev/null 2>&1
check "--jobs 0 is a usage error" [ $? -eq 2 ]
finish
