#!/bin/sh
# Isolation inside RUN and `hoist run` against the container escapes that
# runtimes have had (issue #21), in every identity mode: root (this script,
# as root), subuid (hoistsub) and single (hoistnosub).
#
#   CVE-2024-21626  a host fd reaches the container (runc leaked one to
#                   /sys/fs/cgroup); here also the init, PID 1, which is a
#                   clone of hoist and so holds whatever hoist had open
#   CVE-2019-5736   /proc/self/exe (and /proc/1/exe: our init *is* hoist)
#                   opened for writing to overwrite the runtime binary
#   CVE-2021-30465  a symlink as a mount target or WORKDIR sends the mount
#                   onto a host path; a bind source that is a symlink
#   and: /proc/sys, /proc/sysrq-trigger and /sys read-only, no host PID
#   visible, no_new_privs and a seccomp filter in every mode.
#
# The hoist binary under test is a copy, so that a check that fails cannot
# damage the build tree; its digest is compared after. A canary directory
# on the host must be unchanged at the end. Busybox image. TAP output.
set -u
H0=${HOIST_BIN:?}; SRC=${HOIST_SRCDIR:?}
. "$SRC/tests/lib/tap.sh"

"$SRC/tests/sandbox/users.sh" || skip_all "needs root to create the test users hoistsub/hoistnosub"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"

tmpdir W /tmp/hoist-isolation-test.XXXXXX
chmod 755 "$W"
"$SRC/scripts/mkrootfs-busybox.sh" "$W/bb.tar"
chmod 644 "$W/bb.tar"
H="$W/hoist"
cp "$H0" "$H" && chmod 755 "$H"
hsum=$(sha256sum <"$H")

# The canary: a host directory a mount must never land on, with content a
# container must never see. Its listing and digests are compared at the end.
CAN="$W/canary"
mkdir -p "$CAN/sub"; echo host-only >"$CAN/host-file"; echo x >"$CAN/sub/f"
chmod -R a+rwX "$CAN"
canary() { (cd "$CAN" && find . -printf '%p %y %m %s\n' | sort && find . -type f -exec sha256sum {} + | sort); }
can0=$(canary)

# A host process with a name nothing else has: no container may see it.
# (Given to the probe in two halves, so that no command line inside holds it.)
MARKA=hoist-isolation; MARKB=marker-$$; MARK=$MARKA-$MARKB
cp "$(command -v sleep)" "$W/$MARK"
"$W/$MARK" 300 &
SLEEPER=$!
at_exit 'kill $SLEEPER 2>/dev/null'

as() {
	m=$1; shift
	case $m in
	root) env -i PATH=/usr/bin:/bin HOME="$W/root" "$@" ;;
	subuid) runuser -u hoistsub -- env -i PATH=/usr/bin:/bin HOME="$W/subuid" "$@" ;;
	single) runuser -u hoistnosub -- env -i PATH=/usr/bin:/bin HOME="$W/single" "$@" ;;
	esac
}

# The probe, run inside: one line per fact, KEY=VALUE.
cat >"$W/probe.sh" <<'EOF'
fds=$(ls /proc/self/fd | tr '\n' ' ')
echo "selffd=$fds"
echo "cwd=$(readlink /proc/self/cwd)"
# PID 1 is hoist's init: every fd it holds must be stdio or a pipe, never a
# directory or a file of the host.
bad=
for f in /proc/1/fd/*; do
	[ -e "$f" ] || continue
	t=$(readlink "$f" 2>/dev/null)
	case $t in pipe:*|socket:*|/dev/null|/dev/pts/*|anon_inode:*) continue ;; esac
	[ -d "$f" ] && bad="$bad ${f##*/}:dir:$t" && continue
	case $t in "$OUTFILE") continue ;; esac
	bad="$bad ${f##*/}:$t"
done
echo "initfd=${bad:-none}"
echo "initcwd=$(readlink /proc/1/cwd 2>/dev/null || echo denied) initroot=$(readlink /proc/1/root 2>/dev/null || echo denied)"
# CVE-2019-5736: open for writing, appending nothing (a success must not
# damage anything even where it happens).
for e in /proc/self/exe /proc/1/exe; do
	if (: >>"$e") 2>/dev/null; then echo "exe:$e=writable"; else echo "exe:$e=refused"; fi
done
# Read-only: the mount flags, and a write that would be harmless if allowed
# (the hostname sysctl is per UTS namespace).
if (echo hacked >/proc/sys/kernel/hostname) 2>/dev/null; then echo procsys=writable; else echo procsys=refused; fi
if (printf '' >/proc/sysrq-trigger) 2>/dev/null; then echo sysrq=writable; else echo sysrq=refused; fi
rw=$(awk '$5 ~ "^/sys(/|$)" || $5 ~ "^/proc/sys(/|$)" { split($6, o, ","); if (o[1] != "ro") print $5 }' /proc/self/mountinfo | tr '\n' ' ')
echo "rwmounts=${rw:-none}"
for mp in /sys /proc/sys /proc/sysrq-trigger; do
	echo "mount:$mp=$(awk -v mp=$mp '$5 == mp { split($6, o, ","); f = o[1] } END { print f ? f : "none" }' /proc/self/mountinfo)"
done
if mkdir /sys/fs/cgroup/hoist-isolation-test 2>/dev/null; then rmdir /sys/fs/cgroup/hoist-isolation-test; echo sysmkdir=allowed; else echo sysmkdir=refused; fi
echo "pids=$(ls /proc | grep -c '^[0-9]')"
seen=no
for c in /proc/[0-9]*/cmdline; do
	case $(tr '\0' ' ' <"$c" 2>/dev/null) in *"$MARKA-$MARKB"*) seen=yes ;; esac
done
echo "hostpid=$seen"
echo "nnp=$(awk '/^NoNewPrivs:/{print $2}' /proc/self/status)"
echo "seccomp=$(awk '/^Seccomp:/{print $2}' /proc/self/status)"
if mknod /tmp/blk b 8 0 2>/dev/null; then echo mknodblk=allowed; else echo mknodblk=refused; fi
echo "host_file_seen=$(cat "$CANARY/host-file" 2>/dev/null || echo no)"
EOF
chmod 644 "$W/probe.sh"

# expect FILE KEY VALUE DESC: the probe's line KEY= is VALUE.
expect() {
	got=$(grep -F "$2=" "$1" | head -n 1); got=${got#"$2="}
	is "$got" "$3" "$4"
}

for m in ${HOIST_TEST_MODES:-root subuid single}; do
	D="$W/$m"; S="$D/store"; C="$D/ctx"
	mkdir -p "$D" "$C"
	cp "$W/probe.sh" "$C/probe.sh"
	# A context symlink to the host's / and one to the canary, as bind sources.
	ln -s / "$C/toroot"; ln -s "$CAN" "$C/tocanary"
	case $m in subuid) chown -R hoistsub: "$D" ;; single) chown -R hoistnosub: "$D" ;; esac
	as $m "$H" --root "$S" import "$W/bb.tar" bb >/dev/null
	check "$m: import busybox" [ $? -eq 0 ]

	# `hoist run`, with extra host fds open in the caller (a directory too).
	P="$D/probe-run"
	as $m sh -c 'exec 7</etc/passwd 8<"$1"; shift; exec "$@"' _ "$CAN" "$H" --root "$S" run \
		--identity $m -v "$C:/ctx:ro" -e MARKA=$MARKA -e MARKB=$MARKB -e CANARY="$CAN" -e OUTFILE="$P" \
		bb sh /ctx/probe.sh >"$P" 2>"$P.err"
	check "$m: run: the probe ran" [ $? -eq 0 ]
	[ -s "$P.err" ] && diag_file "$P.err"
	expect "$P" selffd "0 1 2 3 " "$m: run: only stdio (+ ls's own) in /proc/self/fd"
	expect "$P" cwd / "$m: run: /proc/self/cwd inside the root"
	expect "$P" initfd none "$m: run: PID 1 holds no host file or directory"
	expect "$P" initcwd "denied initroot=denied" "$m: run: PID 1's cwd and root are out of reach"
	expect "$P" exe:/proc/self/exe refused "$m: run: /proc/self/exe not writable"
	expect "$P" exe:/proc/1/exe refused "$m: run: /proc/1/exe (hoist) not writable"
	expect "$P" procsys refused "$m: run: /proc/sys not writable"
	expect "$P" sysrq refused "$m: run: /proc/sysrq-trigger not writable"
	expect "$P" rwmounts none "$m: run: /sys, /proc/sys and every mount below read-only"
	expect "$P" mount:/proc/sys ro "$m: run: /proc/sys is a read-only mount"
	expect "$P" mount:/sys ro "$m: run: /sys is a read-only mount"
	if [ -e /proc/sysrq-trigger ]; then
		expect "$P" mount:/proc/sysrq-trigger ro "$m: run: /proc/sysrq-trigger is a read-only mount"
	else
		expect "$P" mount:/proc/sysrq-trigger none \
			"$m: run: this kernel has no /proc/sysrq-trigger, and the RUN has no mount of one"
	fi
	expect "$P" sysmkdir refused "$m: run: no cgroup made under /sys"
	expect "$P" hostpid no "$m: run: no host process visible"
	pids=$(sed -n 's/^pids=//p' "$P")
	# init, sh, the $(...) subshell, ls and grep
	check "$m: run: at most init, sh and its children in /proc ($pids)" [ "${pids:-99}" -le 5 ]
	expect "$P" nnp 1 "$m: run: no_new_privs set"
	expect "$P" seccomp 2 "$m: run: seccomp filter installed"
	# A non-root USER keeps setuid binaries (sudo in a RUN, as under Docker
	# and BuildKit): no no_new_privs, the filter still there.
	out=$(as $m "$H" --root "$S" run --identity $m --user 1000:1000 bb \
		sh -c 'awk "/^(NoNewPrivs|Seccomp):/{printf \"%s%s \", \$1, \$2}" /proc/self/status')
	is "$out" "NoNewPrivs:0 Seccomp:2 " "$m: run as uid 1000: setuid binaries work, the filter is installed"
	expect "$P" mknodblk refused "$m: run: no block device can be made"
	expect "$P" host_file_seen no "$m: run: the canary's content not visible"

	# The same probe as a RUN step, plus the symlink traps of CVE-2021-30465.
	cat >"$C/Dockerfile" <<EOF
FROM bb
COPY probe.sh /probe.sh
RUN ln -s / /rootlink && ln -s $CAN /canlink && ln -s ../../../../../../$CAN /uplink
RUN MARKA=$MARKA MARKB=$MARKB CANARY=$CAN OUTFILE=none sh /probe.sh > /probe.out
RUN mkdir -p $CAN
WORKDIR /canlink
RUN echo wd > inwd && pwd > /wd.out
WORKDIR /rootlink/wd
RUN echo wd2 > inwd2
WORKDIR /
RUN --mount=type=tmpfs,target=/canlink touch /canlink/tmpfs-file && ls -A /canlink > /tmpfs.out
RUN --mount=type=tmpfs,target=/uplink/sub touch /uplink/sub/up-file
RUN --mount=type=cache,target=/rootlink/tmp/c,id=c echo c > /rootlink/tmp/c/f
RUN --mount=type=bind,target=/rootlink/etc/b,source=probe.sh cat /etc/b > /dev/null
EOF
	case $m in subuid) chown -R hoistsub: "$D" ;; single) chown -R hoistnosub: "$D" ;; esac
	as $m "$H" --root "$S" build --identity $m -t probe "$C" >"$D/build.log" 2>&1; st=$?
	check "$m: build: the RUN probe and symlink mounts ran" [ $st -eq 0 ]
	[ $st -eq 0 ] || diag_file "$D/build.log"
	as $m "$H" --root "$S" run --identity $m probe cat /probe.out >"$D/probe-build" 2>/dev/null
	P="$D/probe-build"
	expect "$P" selffd "0 1 2 3 " "$m: RUN: only stdio (+ ls's own) in /proc/self/fd"
	expect "$P" initfd none "$m: RUN: PID 1 holds no host file or directory"
	expect "$P" exe:/proc/1/exe refused "$m: RUN: /proc/1/exe (hoist) not writable"
	expect "$P" procsys refused "$m: RUN: /proc/sys not writable"
	expect "$P" rwmounts none "$m: RUN: /sys, /proc/sys and every mount below read-only"
	expect "$P" mount:/proc/sys ro "$m: RUN: /proc/sys is a read-only mount"
	expect "$P" hostpid no "$m: RUN: no host process visible"
	expect "$P" nnp 1 "$m: RUN: no_new_privs set"
	expect "$P" seccomp 2 "$m: RUN: seccomp filter installed"
	wd=$(as $m "$H" --root "$S" run --identity $m probe cat /wd.out 2>/dev/null)
	is "$wd" "$CAN" "$m: RUN: WORKDIR through a symlink stays in the root"
	t=$(as $m "$H" --root "$S" run --identity $m probe cat /tmpfs.out 2>/dev/null)
	is "$t" tmpfs-file "$m: RUN: a tmpfs on a symlinked target shows only the tmpfs"
	as $m "$H" --root "$S" run --identity $m probe test -f "$CAN/inwd" 2>/dev/null
	check "$m: RUN: the WORKDIR's file is in the image, at the symlink's target inside" [ $? -eq 0 ]
	as $m "$H" --root "$S" run --identity $m probe test -f /wd/inwd2 2>/dev/null
	check "$m: RUN: WORKDIR through a symlink to / lands at the image's /" [ $? -eq 0 ]
	up=$(as $m "$H" --root "$S" run --identity $m probe ls -A "$CAN/sub" 2>/dev/null)
	is "$up" "" "$m: RUN: a tmpfs through a ../ symlink left nothing in the image"

	# Bind sources: a context symlink out of the context is refused.
	for l in toroot tocanary; do
		printf 'FROM bb\nRUN --mount=type=bind,source=%s,target=/b ls /b\n' "$l" >"$C/Dockerfile"
		case $m in subuid) chown -R hoistsub: "$D" ;; single) chown -R hoistnosub: "$D" ;; esac
		as $m "$H" --root "$S" build --identity $m "$C" >"$D/bind.log" 2>&1; st=$?
		grep -q "outside the context" "$D/bind.log"; said=$?
		check "$m: RUN: bind source '$l' (a symlink out of the context) refused" \
			[ $st -ne 0 -a $said -eq 0 ]
	done
done

is "$(canary)" "$can0" "the canary directory on the host is unchanged"
is "$(sha256sum <"$H")" "$hsum" "the hoist binary is unchanged"
left=$(grep -c hoist-isolation /proc/self/mountinfo)
is "$left" 0 "no mount left on the host"
finish
