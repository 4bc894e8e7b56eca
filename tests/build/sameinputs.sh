#!/bin/sh
# Same inputs, same image (issue #13): the caller's umask changes nothing
# in an image, in each identity mode: root (this script, as root), subuid
# (user hoistsub) and single (user hoistnosub), made by
# tests/sandbox/users.sh; and a new cache mount gets RUN --mount's uid, gid
# and mode. Busybox base, no network. Needs root. TAP output.
set -u
H=${HOIST_BIN:?}; SRC=${HOIST_SRCDIR:?}
. "$SRC/tests/lib/tap.sh"

"$SRC/tests/sandbox/users.sh" || skip_all "needs root to create the test users hoistsub/hoistnosub"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"

tmpdir W /tmp/hoist-sameinputs-test.XXXXXX
chmod 755 "$W"
"$SRC/scripts/mkrootfs-busybox.sh" "$W/bb.tar"
# plus a file whose directories the tar does not list: unpacking makes them
python3 - "$W/bb.tar" <<'PY' || bail "cannot add to the busybox tar"
import io, sys, tarfile
with tarfile.open(sys.argv[1], "a") as t:
    i = tarfile.TarInfo("implicit/sub/f")
    i.size, i.mode, i.mtime = 2, 0o644, 1700000000
    t.addfile(i, io.BytesIO(b"f\n"))
PY
chmod 644 "$W/bb.tar"

# as MODE UMASK CMD...: CMD as the mode's user, under UMASK (set after
# runuser, whose PAM session may set its own).
as() {
	m=$1 u=$2; shift 2
	case $m in
	root) set -- env -i PATH=/usr/bin:/bin HOME="$W/root" sh -c 'umask $0; exec "$@"' "$u" "$@" ;;
	subuid) set -- runuser -u hoistsub -- env -i PATH=/usr/bin:/bin HOME="$W/subuid" \
		sh -c 'umask $0; exec "$@"' "$u" "$@" ;;
	single) set -- runuser -u hoistnosub -- env -i PATH=/usr/bin:/bin HOME="$W/single" \
		sh -c 'umask $0; exec "$@"' "$u" "$@" ;;
	esac
	"$@"
}
owner() {
	case $1 in subuid) chown -R hoistsub: "$2" ;; single) chown -R hoistnosub: "$2" ;; esac
}

# The context is made once, its modes set explicitly: COPY takes modes from
# its sources, and these are the same for every build below.
C=$W/ctx
mkdir -p "$C/d/e"
echo a >"$C/a.txt"; echo b >"$C/d/b.txt"; echo c >"$C/d/e/c.txt"
chmod 644 "$C/a.txt" "$C/d/b.txt"; chmod 600 "$C/d/e/c.txt"; chmod 755 "$C/d"; chmod 750 "$C/d/e"
cat >"$C/Dockerfile" <<'EOF'
FROM bb
COPY a.txt /sub/dir/a.txt
COPY d /copied/
RUN umask > /umask && touch /implicit/sub/g && mkdir -p /made/deep && echo x > /made/deep/f && touch /made/t && mkfifo /made/p && ln -s f /made/deep/l
WORKDIR /w/x
RUN echo y > y && mkdir z && stat -c '%a %u %g %n' / /implicit /implicit/sub /made /made/* /made/deep/* /w /w/x /w/x/* /sub /sub/dir /copied /copied/* /copied/e/* /etc/hosts > /modes.txt
EOF
chmod -R a+rX "$C"

for m in ${HOIST_TEST_MODES:-root subuid single}; do
	digests=""
	for u in 077 002 022; do
		D="$W/$m-$u"; S="$D/store"
		mkdir -p "$D"; owner $m "$D"
		imp=$(as $m $u env SOURCE_DATE_EPOCH=1700000000 "$H" --root "$S" import \
			"$W/bb.tar" bb)
		d=$(as $m $u env SOURCE_DATE_EPOCH=1700000000 "$H" --root "$S" build -q \
			--identity $m -t same "$C" 2>"$D/build.log"); st=$?
		check "$m: build under umask $u" [ $st -eq 0 ]
		[ $st -eq 0 ] || diag_file "$D/build.log"
		digests="$digests $imp/$d"
		out=$(as $m $u "$H" --root "$S" run --identity $m same cat /umask 2>&1)
		is "$out" 0022 "$m: a RUN under umask $u has umask 0022"
		out=$(as $m $u "$H" --root "$S" run --identity $m bb sh -c umask 2>&1)
		is "$out" 0022 "$m: hoist run under umask $u has umask 0022"
		as $m $u "$H" --root "$S" run --identity $m same cat /modes.txt >"$D/modes.txt" 2>&1
	done
	set -- $digests
	if [ "$1" = "$2" ] && [ "$1" = "$3" ]; then
		ok "$m: umask 077, 002 and 022 give one import and one image (${1#*/})"
	else
		nok "$m: umask 077, 002 and 022 give one import and one image"
		diag "$digests"
		diff "$W/$m-077/modes.txt" "$W/$m-022/modes.txt" | diag
	fi
done

# RUN --mount=type=cache,uid=,gid=,mode= sets up a new cache directory as
# asked (BuildKit's defaults 0, 0, 0755), under any umask; an existing one
# keeps what it has. A single-uid namespace has root alone: owner 0:0.
M=$W/cm
mkdir -p "$M"
cat >"$M/Dockerfile" <<'EOF'
FROM bb
RUN --mount=type=cache,target=/c1 stat -c '%u %g %a' /c1 > /s1
RUN --mount=type=cache,target=/c2,uid=1000,gid=1001,mode=0750 stat -c '%u %g %a' /c2 > /s2 && touch /c2/x && stat -c '%u %g' /c2/x >> /s2
RUN --mount=type=cache,id=three,target=/c3,mode=1777,gid=7 stat -c '%u %g %a' /c3 > /s3
EOF
cat >"$M/Dockerfile.again" <<'EOF'
FROM bb
RUN --mount=type=cache,target=/c2,uid=5,gid=5,mode=0700 stat -c '%u %g %a' /c2 > /again
EOF
chmod -R a+rX "$M"
for m in ${HOIST_TEST_MODES:-root subuid single}; do
	D="$W/$m-022"; S="$D/store"
	as $m 077 "$H" --root "$S" build -q --identity $m -t cm "$M" >/dev/null 2>"$D/cm.log"; st=$?
	check "$m: RUN --mount=type=cache with uid, gid and mode builds" [ $st -eq 0 ]
	[ $st -eq 0 ] || diag_file "$D/cm.log"
	got=$(as $m 022 "$H" --root "$S" run --identity $m cm cat /s1 /s2 /s3 2>&1 | tr '\n' ,)
	if [ $m = single ]; then want="0 0 755,0 0 750,0 0,0 0 1777,"
	else want="0 0 755,1000 1001 750,0 0,0 7 1777,"; fi
	is "$got" "$want" "$m: new cache dirs have the owner and mode asked for (stat in the RUN)"
	as $m 022 "$H" --root "$S" build -q --identity $m -f "$M/Dockerfile.again" -t cm2 "$M" \
		>/dev/null 2>"$D/cm2.log"
	got=$(as $m 022 "$H" --root "$S" run --identity $m cm2 cat /again 2>&1)
	if [ $m = single ]; then want="0 0 750"; else want="1000 1001 750"; fi
	is "$got" "$want" "$m: an existing cache dir keeps its owner and mode"
done
finish
