#!/bin/sh
# The isolation ladder (issue 18), each rung's constraint simulated on the
# host without a container runtime:
#   rung 1  the full sandbox as root: the reference layers;
#   rung 2  root without CAP_SYS_ADMIN (capsh --drop): a user namespace with
#           the ids 0-65536 mapped to themselves;
#   rung 3  a fresh /proc refused: a mount namespace where files of /proc
#           are covered (/dev/null over /proc/keys and /proc/timer_list, as
#           runc masks them) and hoist inside `unshare -Ur`, whose new mount
#           namespaces lock those covers, so the kernel refuses a new proc;
#           also as the unprivileged hoistnosub (podman's non-root user);
#   rung 4  no namespaces at all: tests/sandbox/nons.c (seccomp: clone3
#           ENOSYS, clone/unshare with CLONE_NEW*, setns and mount EPERM, as
#           docker's default profile) in a throwaway root: a tmpfs in a
#           private mount namespace holding the busybox rootfs and hoist
#           with its libraries under /hoist, entered with chroot, so in-place
#           never writes to this machine's '/'.
# Each checks the announced rung, the RUN's effect and that the image digest
# (SOURCE_DATE_EPOCH set) equals the full sandbox's; in-place also USER,
# WORKDIR, RUN --mount=type=cache|secret|tmpfs|bind, COPY --from, its
# refusal outside a container, and a failing RUN leaving a root that builds
# again. Needs root (capsh, mounts, chroot). TAP.
set -u
H=${HOIST_BIN:?}; SRC=${HOIST_SRCDIR:?}
NONS=${1:?usage: isolation.sh NONS}
. "$SRC/tests/lib/tap.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (capsh, mount, chroot)"
for t in capsh unshare chroot jq ldd busybox; do
	command -v $t >/dev/null || skip_all "'$t' not installed"
done
[ "$(uname -m)" = x86_64 ] || skip_all "nons is x86_64 only"

tmpdir W /tmp/hoist-isolation-test.XXXXXX
chmod 755 "$W"
export SOURCE_DATE_EPOCH=1700000000
sh "$SRC/scripts/mkrootfs-busybox.sh" "$W/bb.tar" "$(command -v busybox)" || bail "mkrootfs-busybox.sh failed"

digest() { jq -r '.manifests[0].digest' "$1/index.json" 2>/dev/null; }

# A: one RUN; B: what in-place must keep the meaning of; C: a failing RUN.
mkdir -p "$W/a" "$W/b" "$W/c"
printf 'FROM bb\nRUN echo hi > /x && mkdir -p /data && echo y > /data/y && rm /etc/group\n' >"$W/a/Dockerfile"
cat >"$W/b/Dockerfile" <<'EOF'
FROM bb AS base
RUN mkdir -p /opt/a && echo base > /opt/a/f
FROM bb
WORKDIR /work
COPY --from=base /opt/a /opt/a
COPY ctxfile /ctxfile
RUN --mount=type=cache,target=/var/cache/t echo run >> /var/cache/t/log && cp /var/cache/t/log /seen
RUN --mount=type=secret,id=s cat /run/secrets/s > /secret-copy
RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && echo tmp > /tmpok
RUN --mount=type=bind,source=ctxfile,target=/mnt/ctxfile cat /mnt/ctxfile > /bound && pwd > /pwd
USER nobody
RUN id -u > /tmp/uid
EOF
echo from-the-context >"$W/b/ctxfile"
echo s3cret >"$W/secret"
printf 'FROM bb\nRUN echo junk > /junk && mkdir /junkdir && exit 3\n' >"$W/c/Dockerfile"

# ---- rung 1: the reference --------------------------------------------------
hb() { # hb STORE OUT CTX [build options]: a build on the host, log in OUT.log
	st=$1 out=$2 ctx=$3; shift 3
	"$H" --root "$st" import "$W/bb.tar" bb >/dev/null 2>&1
	"$H" --root "$st" build --progress plain "$@" --secret id=s,src="$W/secret" \
		--output "type=oci,dest=$out" "$ctx" >"$out.log" 2>&1
}
hb "$W/s1" "$W/ref-a" "$W/a"
check "rung 1: the full sandbox is announced" grep -q '^#.*isolation: sandbox (namespaces as root, fresh /proc)' "$W/ref-a.log"
hb "$W/s1" "$W/ref-b" "$W/b"
ref_a=$(digest "$W/ref-a"); ref_b=$(digest "$W/ref-b")
check "rung 1: reference image A built" [ -n "$ref_a" ]
check "rung 1: reference image B built" [ -n "$ref_b" ]
[ -n "$ref_b" ] || diag_file "$W/ref-b.log" | tail -n 20

# HOIST_ISOLATION is the default; a rung below the best may be forced.
HOIST_ISOLATION=userns-shared-proc "$H" --root "$W/s1" build --progress plain --no-cache \
	--output "type=oci,dest=$W/f3" "$W/a" >"$W/f3.log" 2>&1
check "HOIST_ISOLATION=userns-shared-proc is taken" \
	grep -q 'isolation: userns-shared-proc (forced; namespaces as root)' "$W/f3.log"
is "$(digest "$W/f3")" "$ref_a" "forced userns-shared-proc: the same image"
HOIST_ISOLATION=bogus "$H" --root "$W/s1" build --no-cache "$W/a" >"$W/bogus.log" 2>&1
check "a bad HOIST_ISOLATION is an error naming the variable" \
	grep -q "HOIST_ISOLATION: unknown isolation 'bogus': use auto, sandbox, userns-shared-proc or in-place" "$W/bogus.log"

# ---- rung 2: root without CAP_SYS_ADMIN --------------------------------------
cat >"$W/r2.sh" <<'EOF'
"$1" --root "$2" import "$3" bb >/dev/null 2>&1 &&
	"$1" --root "$2" build --progress plain --output "type=oci,dest=$4" "$5" >"$4.log" 2>&1
EOF
capsh --drop=cap_sys_admin -- "$W/r2.sh" "$H" "$W/s2" "$W/bb.tar" "$W/r2" "$W/a"
check "rung 2: a user namespace with the container's ids is announced" \
	grep -q "isolation: sandbox (root without namespaces of its own (clone(CLONE_NEWNS|CLONE_NEWPID): Operation not permitted): a user namespace mapping the container's ids 0-65536" "$W/r2.log"
is "$(digest "$W/r2")" "$ref_a" "rung 2: the same image as the full sandbox"
[ -n "$(digest "$W/r2")" ] || diag_file "$W/r2.log" | tail -n 20

# ---- rung 3: a fresh /proc refused -----------------------------------------
masked() { # masked CMD...: CMD as root of a user namespace, /proc files covered
	unshare -m sh -c 'mount --make-rprivate / && mount --bind /dev/null /proc/keys &&
		mount --bind /dev/null /proc/timer_list && exec unshare -Ur "$@"' sh "$@"
}
masked "$H" --root "$W/s3" import "$W/bb.tar" bb >/dev/null 2>&1
masked "$H" --root "$W/s3" build --progress plain --output "type=oci,dest=$W/r3" "$W/a" >"$W/r3.log" 2>&1
check "rung 3: userns-shared-proc is announced, with why" \
	grep -q "isolation: userns-shared-proc (a fresh /proc is refused: masked paths in the container's /proc" "$W/r3.log"
is "$(digest "$W/r3")" "$ref_a" "rung 3: the same image as the full sandbox"
[ -n "$(digest "$W/r3")" ] || diag_file "$W/r3.log" | tail -n 20
# Without a PID namespace the RUN sees the processes around it (documented).
mkdir -p "$W/p"
printf 'FROM bb\nARG P\nRUN test -d /proc/$P && echo sees-$P\n' >"$W/p/Dockerfile"
masked sh -c '"$0" --root "$1" build --progress plain --no-cache --build-arg P=$$ "$2" >"$3" 2>&1' \
	"$H" "$W/s3" "$W/p" "$W/r3p.log"
check "rung 3: RUN sees the job's processes" grep -q "^sees-[0-9]" "$W/r3p.log"
"$H" --root "$W/s1" build --progress plain --no-cache --build-arg P=$$ "$W/p" >"$W/r1p.log" 2>&1
check "rung 1: RUN does not" sh -c "! grep -q '^sees-[0-9]' '$W/r1p.log'"
# As podman's non-root user: an unprivileged user's namespaces (single
# mode) in the same covered /proc.
"$SRC/tests/sandbox/users.sh" || bail "cannot create the test user hoistnosub"
mkdir -p "$W/s3u" && chown hoistnosub: "$W/s3u"
unshare -m sh -c 'mount --make-rprivate / && mount --bind /dev/null /proc/keys &&
	mount --bind /dev/null /proc/timer_list && exec runuser -u hoistnosub -- "$@"' sh \
	sh -c '"$0" --root "$1" import "$2" bb >/dev/null 2>&1 &&
		"$0" --root "$1" build --progress plain --output "type=oci,dest=$1/out" "$3" >"$1/out.log" 2>&1' \
	"$H" "$W/s3u" "$W/bb.tar" "$W/a"
check "rung 3, non-root: userns-shared-proc in a user namespace" \
	grep -q "isolation: userns-shared-proc (a fresh /proc is refused: masked paths in the container's /proc; a user namespace," "$W/s3u/out.log"
check "rung 3, non-root: the RUN ran (identity mode single)" sh -c "grep -q 'identity mode single' '$W/s3u/out.log' && [ -f '$W/s3u/out/index.json' ]"
[ -f "$W/s3u/out/index.json" ] || diag_file "$W/s3u/out.log" | tail -n 20
is "$(digest "$W/s3u/out")" "$ref_a" "rung 3, non-root: the same image as the full sandbox as root"
# No namespaces and not root (docker, USER set): nothing works, and says so.
runuser -u hoistnosub -- "$NONS" env container=hoist-test "$H" --root "$W/s3u" build --no-cache \
	"$W/a" >"$W/nons-user.log" 2>&1
check "no namespaces, non-root: fails, naming in-place's need of root" \
	grep -q "no isolation works here (user namespace, clone(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID): Operation not permitted): in-place needs root in the container" "$W/nons-user.log"
masked "$H" --root "$W/s3" build --no-cache --isolation sandbox "$W/a" >"$W/r3f.log" 2>&1
check "rung 3: --isolation sandbox fails, naming the refused /proc" \
	grep -q "isolation 'sandbox' cannot work here (as root, mounting a fresh /proc: Operation not permitted: masked paths" "$W/r3f.log"

# ---- rung 4: no namespaces, in a throwaway root ------------------------------
R="$W/root"
mkdir -p "$R"
# The libraries hoist and nons link, and those hoist dlopens (libarchive,
# libcrypto), copied under /hoist/lib; both run through the loader there.
libs() { ldd "$1" 2>/dev/null | awk '/=>/ && $3 ~ /^\// {print $3} !/=>/ && $1 ~ /^\// {print $1}'; }
{
	libs "$H"; libs "$NONS"
	for so in libarchive.so.13 libcrypto.so.3; do
		p=$(ldconfig -p | awk -v n="$so" '$1 == n && /x86-64/ {print $NF; exit}')
		[ -n "$p" ] && { echo "$p"; libs "$p"; }
	done
} | sort -u >"$W/libs"
loader=$(grep '/ld-linux' "$W/libs" | head -n 1)
[ -n "$loader" ] || bail "no dynamic loader in ldd's output"
cat >"$W/enter.sh" <<'EOF'
# enter.sh R W H NONS LOADER -- CMD...: a fresh throwaway root on a tmpfs at R
# in this (private) mount namespace, then CMD chroot'ed into it.
set -eu
R=$1 W=$2 H=$3 N=$4 LD=$5; shift 6
mount --make-rprivate /
mount -t tmpfs -o mode=755 tmpfs "$R"
tar -C "$R" -xf "$W/bb.tar"
mkdir -p "$R/hoist/lib" "$R/hoist/a" "$R/hoist/b" "$R/hoist/c" "$R/proc" "$R/dev" "$R/etc"
cp "$H" "$R/hoist/hoist"; cp "$N" "$R/hoist/nons"; cp "$W/bb.tar" "$W/secret" "$R/hoist/"
for d in a b c; do cp "$W/$d"/* "$R/hoist/$d/"; done
for l in $(cat "$W/libs"); do cp -L "$l" "$R/hoist/lib/"; done
cp "$W/inner.sh" "$R/hoist/"
# What a container runtime puts in: its own /etc/hosts, resolv.conf, hostname.
echo '127.0.0.1 localhost' >"$R/etc/hosts"; : >"$R/etc/resolv.conf"
echo hoist-test >"$R/etc/hostname"
: >"$R/.dockerenv"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
# The results outlive the namespace: a directory of W bound in.
mkdir -p "$R/hoist/res"
mount --bind "$W/res" "$R/hoist/res"
exec chroot "$R" "$@"
EOF
# The in-root part: one shell with every build, results in /hoist/res.
cat >"$W/inner.sh" <<EOF
L=/hoist/lib/$(basename "$loader")
EOF
cat >>"$W/inner.sh" <<'EOF'
hoist() { "$L" --library-path /hoist/lib /hoist/hoist "$@"; }
nons() { "$L" --library-path /hoist/lib /hoist/nons "$L" --library-path /hoist/lib /hoist/hoist "$@"; }
export SOURCE_DATE_EPOCH=1700000000 HOIST_IN_PLACE_KEEP=/hoist PATH=/bin:/usr/bin:/sbin:/usr/sbin
cd /
hoist --root /store import /hoist/bb.tar bb >/dev/null 2>&1
b() { # b NAME CTX [opts]: an in-place build under nons
	n=$1 c=$2; shift 2
	nons --root /store build --progress plain --secret id=s,src=/hoist/secret \
		"$@" --output "type=oci,dest=/hoist/res/$n" "$c" >"/hoist/res/$n.log" 2>&1
	echo $? >"/hoist/res/$n.rc"
}
b a hoist/a
b b /hoist/b
for f in x data/y secret-copy bound pwd tmp/uid seen tmpok; do
	[ -e "/$f" ] && echo "$f=$(cat "/$f")"
done >/hoist/res/b.files
ls -a /run /scratch /mnt/ctxfile /var/cache/t >/hoist/res/b.leftover 2>&1
b c /hoist/c
ls / >/hoist/res/c.ls
b a2 /hoist/a --no-cache
ls / >/hoist/res/a2.ls
# hoist run takes the ladder too.
nons --root /store run --progress plain bb sh -c 'echo run-$((1+1)) $(cat /etc/hostname)' \
	>/hoist/res/run.out 2>/hoist/res/run.log
# No sign of a container: auto refuses to touch '/'.
[ -e /.dockerenv ] && echo kept >/hoist/res/dockerenv
rm -f /.dockerenv
nons --root /store build --no-cache /hoist/a >/hoist/res/nocont.log 2>&1
echo $? >/hoist/res/nocont.rc
container=hoist-test nons --root /store build --no-cache --isolation sandbox /hoist/a >/hoist/res/forced.log 2>&1
echo $? >/hoist/res/forced.rc
EOF
mkdir -p "$W/res"
unshare -m sh "$W/enter.sh" "$R" "$W" "$H" "$NONS" "$loader" -- sh /hoist/inner.sh
[ -f "$W/res/a.rc" ] || bail "the throwaway root did not run (see above)"
rc() { cat "$W/res/$1.rc" 2>/dev/null; }
check "in-place: announced, with why" grep -q "isolation: in-place (no namespaces: as root, clone(CLONE_NEWNS|CLONE_NEWPID): Operation not permitted; user namespace, clone(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID): Operation not permitted; inside a container: /.dockerenv exists)" "$W/res/a.log"
is "$(rc a)" 0 "in-place: build A"
is "$(digest "$W/res/a")" "$ref_a" "in-place: A is the full sandbox's image"
[ "$(rc a)" = 0 ] || diag_file "$W/res/a.log" | tail -n 20
is "$(rc b)" 0 "in-place: build B (USER, WORKDIR, RUN --mount, COPY --from)"
is "$(digest "$W/res/b")" "$ref_b" "in-place: B is the full sandbox's image"
[ "$(rc b)" = 0 ] || diag_file "$W/res/b.log" | tail -n 20
is "$(tr '\n' ' ' <"$W/res/b.files")" "secret-copy=s3cret bound=from-the-context pwd=/work tmp/uid=65534 seen=run tmpok=tmp " \
	"in-place: '/' is B's last stage, the RUNs saw their mounts, user and directory"
check "in-place: the mounts and their mount points were taken away" sh -c "! grep -q -v 'No such file' '$W/res/b.leftover'"
check "in-place: the failing RUN fails" [ "$(rc c)" != 0 ]
check "in-place: the failing RUN is reported" grep -q 'exited with status 3' "$W/res/c.log"
is "$(rc a2)" 0 "in-place: the next build after the failure works"
is "$(digest "$W/res/a2")" "$ref_a" "in-place: and gives the same image"
check "in-place: '/' is reset after the failed RUN" \
	sh -c "grep -qx etc '$W/res/c.ls' && ! grep -q junk '$W/res/c.ls'"
check "in-place: '/' is the next build's after it" \
	sh -c "grep -qx x '$W/res/a2.ls' && ! grep -q junk '$W/res/a2.ls'"
check "in-place: /.dockerenv survives the builds (the next one still sees a container)" [ -f "$W/res/dockerenv" ]
check "in-place: store, hoist and the kept paths survive" \
	sh -c "grep -qx hoist '$W/res/a2.ls' && grep -qx store '$W/res/a2.ls' && grep -qx proc '$W/res/a2.ls'"
is "$(cat "$W/res/run.out")" "run-2 hoist-test" "in-place: hoist run runs the command (with the container's hostname)"
check "in-place: hoist run announces the rung" grep -q '^#0 isolation: in-place' "$W/res/run.log"
check "in-place: refused outside a container" [ "$(rc nocont)" != 0 ]
check "in-place: the refusal says why" grep -q "no sign of a container" "$W/res/nocont.log"
check "no namespaces: --isolation sandbox fails" [ "$(rc forced)" != 0 ]
check "no namespaces: naming what is missing" grep -q "isolation 'sandbox' cannot work here (as root, clone(CLONE_NEWNS|CLONE_NEWPID): Operation not permitted" "$W/res/forced.log"
finish
