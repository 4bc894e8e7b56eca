#!/bin/sh
# Images hoist builds rootless (identity mode subuid, user hoistsub) run in
# ROOTLESS podman as the same user (issue #5):
#   hello  the cached Debian bookworm minbase + apt-get install hello: podman
#          run prints what `hoist run` prints
#   wh     busybox plus a /data tree, with RUNs that delete a file and a
#          directory of the base, replace a directory by a file, a file by a
#          directory, and a directory by a new one (opaque): umoci unpack and
#          podman run both show the deleted paths gone, the replaced ones with
#          their new type and the untouched siblings still there.
# The hello image goes through `hoist save` (docker-archive) + `podman load`,
# the whiteout image through `hoist save --format oci` + `podman pull
# oci-archive:`. Needs root (to create the test users), podman, umoci and
# the apt mirror. TAP output.
#
# What rootless podman (Debian 12's 4.3.1) needs on these machines, found by
# experiment:
#   --runtime /usr/sbin/runc  crun fails on the hybrid cgroup v1/v2 set-up
#                             ("cgroups in hybrid mode not supported"), as
#                             root too; --cgroups=disabled does not save crun,
#                             and runc refuses --cgroups=disabled
#   --network=host (or none)  slirp4netns, the rootless default, fails:
#                             /dev/net/tun is 0600 root here
#   --storage-driver overlay  native rootless overlay (kernel >= 5.13) works;
#                             without it podman 4.3 chose vfs (a full copy
#                             per layer). /dev/fuse is 0600 root, so
#                             fuse-overlayfs could not be used anyway
#   --root/--runroot, HOME, XDG_RUNTIME_DIR and TMPDIR under a private
#                             directory: nothing lands in hoistsub's home or
#                             /var/tmp, and the user namespace's pause
#                             process (catatonit, pid in
#                             $XDG_RUNTIME_DIR/libpod/tmp/pause.pid) is ours
#                             alone; `podman system reset -f` removes the
#                             subuid-owned storage and ends it
# The cgroup manager is cgroupfs by default (no systemd), and no --ulimit is
# needed rootless: unlike root podman, it does not try to raise
# RLIMIT_NOFILE/NPROC above the hard limits.
set -u
H=${HOIST_BIN:?}; SRC=${HOIST_SRCDIR:?}; FIX=${HOIST_FIXTURES:?}
. "$SRC/tests/lib/tap.sh"

"$SRC/tests/sandbox/users.sh" || skip_all "needs root to create the test users hoistsub/hoistnosub"
command -v podman >/dev/null 2>&1 || skip_all "podman is not installed (make deps installs it)"
[ -x /usr/sbin/runc ] || skip_all "runc is not installed (podman's crun fails here; make deps installs runc with podman)"
command -v newuidmap >/dev/null 2>&1 || skip_all "newuidmap is not installed (apt-get install uidmap)"
command -v umoci >/dev/null 2>&1 || skip_all "umoci is not installed"
[ -x /bin/busybox ] || skip_all "busybox-static is not installed"
base=$("$SRC/tests/sandbox/debian-base.sh" "$FIX/cache"); st=$?
[ $st -eq 77 ] && skip_all "mmdebstrap is not installed"
[ $st -eq 0 ] || bail "could not make the Debian base image"
chmod a+r "$base"; chmod a+rx "$FIX/cache"

tmpdir W /tmp/hoist-podman-test.XXXXXX
chmod 755 "$W"
D="$W/sub"; S="$D/store"
PR="$D/podman"
mkdir -p "$D/run" "$D/tmp" "$D/ctx-hello" "$D/ctx-wh"
chmod 700 "$D/run"
chown -R hoistsub: "$D"

# as CMD...: run CMD as hoistsub with a clean environment and private dirs.
as() {
	runuser -u hoistsub -- env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin HOME="$D" \
		XDG_RUNTIME_DIR="$D/run" TMPDIR="$D/tmp" "$@"
}
PODMAN="podman --root $PR/root --runroot $PR/runroot --storage-driver overlay"
pm() { as $PODMAN "$@"; }
pm_run() { as timeout 180 $PODMAN run --rm --runtime /usr/sbin/runc --network=host "$@"; }

cleanup() {
	if [ -d "$PR" ]; then
		pm system reset -f >/dev/null 2>&1
		# system reset ends the pause process; make sure, by its pid.
		pid=$(cat "$D/run/libpod/tmp/pause.pid" 2>/dev/null)
		[ -n "$pid" ] && kill "$pid" 2>/dev/null
	fi
}
# Runs before the rm -rf of $W (which, as root, also takes the subuid-owned
# files of hoist's store).
at_exit cleanup

B() { as "$H" --root "$S" build --identity subuid "$@"; }

# ---- (a) apt-get install hello on the Debian base ----------------------------------
as "$H" --root "$S" import "$base" deb >/dev/null
check "import the Debian base as hoistsub" [ $? -eq 0 ]
printf 'FROM deb\nRUN apt-get update -q && apt-get install -y -q --no-install-recommends hello\nCMD ["hello"]\n' \
	>"$D/ctx-hello/Dockerfile"
B --progress plain -t hoist-podman-hello "$D/ctx-hello" >"$D/hello.log" 2>&1; st=$?
check "hoist build (identity subuid) of the apt hello image" [ $st -eq 0 ]
[ $st -eq 0 ] || tail -n 20 "$D/hello.log" | diag
check "the build ran in identity mode subuid" grep -q 'identity mode subuid' "$D/hello.log"
want=$(as "$H" --root "$S" run --identity subuid hoist-podman-hello hello 2>&1)
check "hoist run hoist-podman-hello hello ($want)" [ "$want" = "Hello, world!" ]

as "$H" --root "$S" save -o "$D/hello.tar" hoist-podman-hello
check "hoist save (docker archive)" [ $? -eq 0 ]
pm load -i "$D/hello.tar" >"$D/load.log" 2>&1; st=$?
check "rootless podman load" [ $st -eq 0 ]
[ $st -eq 0 ] || diag_file "$D/load.log"
out=$(pm_run docker.io/library/hoist-podman-hello:latest 2>&1)
check "rootless podman run of the image's CMD prints what hoist run does ($out)" [ "$out" = "$want" ]
out=$(pm_run docker.io/library/hoist-podman-hello:latest sh -c 'id -u; stat -c %U /var/cache/apt/archives/partial; cat /proc/self/uid_map | wc -l' 2>&1 | tr '\n' ' ')
check "in podman: root, _apt keeps its dir, the subuid range is mapped ($out)" [ "$out" = "0 _apt 2 " ]

# ---- (b) whiteouts ------------------------------------------------------------------
# The base: busybox plus a /data tree, appended to the tarball as root:root.
"$SRC/scripts/mkrootfs-busybox.sh" "$W/wh-base.tar"
X="$W/extra"
mkdir -p "$X/data/gone-dir/sub" "$X/data/dir-to-file/inner" "$X/data/dir-replaced" "$X/data/keep-dir"
echo a >"$X/data/gone-file"; echo b >"$X/data/gone-dir/sub/b"; echo c >"$X/data/gone-dir/c"
echo d >"$X/data/dir-to-file/inner/d"; echo e >"$X/data/file-to-dir"
echo old >"$X/data/dir-replaced/old1"; echo old >"$X/data/dir-replaced/old2"
echo keep >"$X/data/keep"; echo keep >"$X/data/keep-dir/f"
chmod -R a+rX "$X"
tar -C "$X" --sort=name --numeric-owner --owner=0 --group=0 --mtime=@1700000000 \
	-rf "$W/wh-base.tar" ./data
chmod 644 "$W/wh-base.tar"
as "$H" --root "$S" import "$W/wh-base.tar" whbase >/dev/null
check "import the whiteout base" [ $? -eq 0 ]
cat >"$D/ctx-wh/Dockerfile" <<'EOF'
FROM whbase
RUN rm /data/gone-file /etc/group && rm -rf /data/gone-dir /root
RUN rm -rf /data/dir-to-file && echo now-a-file >/data/dir-to-file && \
    rm /data/file-to-dir && mkdir /data/file-to-dir && echo in >/data/file-to-dir/in && \
    rm -rf /data/dir-replaced && mkdir /data/dir-replaced && echo new >/data/dir-replaced/new
EOF
chown -R hoistsub: "$D/ctx-wh"
B -q -t hoist-podman-wh "$D/ctx-wh" >/dev/null 2>"$D/wh.log"; st=$?
check "hoist build (identity subuid) of the whiteout image" [ $st -eq 0 ]
[ $st -eq 0 ] || diag_file "$D/wh.log"
as "$H" --root "$S" save --format oci-dir -o "$D/wh-layout" hoist-podman-wh >/dev/null 2>&1
as "$H" --root "$S" save --format oci -o "$D/wh-oci.tar" hoist-podman-wh >/dev/null 2>&1
check "hoist save as OCI layout and OCI archive" [ -f "$D/wh-layout/index.json" -a -s "$D/wh-oci.tar" ]

# The layers really carry whiteouts (not a flattened tree).
entries=$(for b in "$D"/wh-layout/blobs/sha256/*; do tar tzf "$b" 2>/dev/null; done)
has_entry() { printf '%s\n' "$entries" | grep -qx "$1"; }
check "whiteouts for the deleted file and directory" \
	sh -c 'for e in data/.wh.gone-file data/.wh.gone-dir etc/.wh.group .wh.root; do
		printf "%s\n" "$1" | grep -qx "$e" || exit 1; done' _ "$entries"
check "opaque marker for the replaced directory" has_entry 'data/dir-replaced/.wh..wh..opq'

# STATE ROOT: what the tree under ROOT looks like (busybox and GNU stat agree).
STATE='r=$1
for p in /etc/group /root /data/gone-file /data/gone-dir /data/dir-to-file /data/file-to-dir \
	/data/dir-replaced /data/keep /data/keep-dir /etc/passwd /tmp /bin/busybox; do
	echo "$p: $(stat -c %F "$r$p" 2>/dev/null || echo absent)"
done
echo "data: $(ls -A "$r/data" | tr "\n" " ")"
echo "dir-to-file: $(cat "$r/data/dir-to-file" 2>&1)"
echo "file-to-dir: $(ls -A "$r/data/file-to-dir" 2>&1 | tr "\n" " ")"
echo "dir-replaced: $(ls -A "$r/data/dir-replaced" 2>&1 | tr "\n" " ")"'
expect='/etc/group: absent
/root: absent
/data/gone-file: absent
/data/gone-dir: absent
/data/dir-to-file: regular file
/data/file-to-dir: directory
/data/dir-replaced: directory
/data/keep: regular file
/data/keep-dir: directory
/etc/passwd: regular file
/tmp: directory
/bin/busybox: regular file
data: dir-replaced dir-to-file file-to-dir keep keep-dir 
dir-to-file: now-a-file
file-to-dir: in 
dir-replaced: new '
# check_state WHO FILE: the checks on one observed state.
check_state() {
	who=$1; f=$2
	has() { grep -qxF "$1" "$f"; }
	check "$who: deleted file and directory are absent" \
		sh -c 'for p in /etc/group /root /data/gone-file /data/gone-dir; do
			grep -qxF "$p: absent" "$1" || exit 1; done' _ "$f"
	check "$who: a directory replaced by a file is that file" \
		sh -c 'grep -qxF "/data/dir-to-file: regular file" "$1" && grep -qxF "dir-to-file: now-a-file" "$1"' _ "$f"
	check "$who: a file replaced by a directory is that directory" \
		sh -c 'grep -qxF "/data/file-to-dir: directory" "$1" && grep -qxF "file-to-dir: in " "$1"' _ "$f"
	check "$who: a replaced directory holds only the new content" has "dir-replaced: new "
	check "$who: untouched siblings remain" \
		sh -c 'for l in "/data/keep: regular file" "/data/keep-dir: directory" "/etc/passwd: regular file" \
			"/tmp: directory" "/bin/busybox: regular file"; do grep -qxF "$l" "$1" || exit 1; done' _ "$f"
	if printf '%s\n' "$expect" | cmp -s - "$f"; then ok "$who: the whole state is as expected"; else
		nok "$who: the whole state is as expected"
		printf '%s\n' "$expect" | diff - "$f" | diag
	fi
}

as sh -c "cd '$D' && umoci unpack --rootless --image wh-layout:latest bundle" >"$D/umoci.log" 2>&1
check "umoci unpack --rootless as hoistsub" [ -d "$D/bundle/rootfs/bin" ]
[ -d "$D/bundle/rootfs/bin" ] || diag_file "$D/umoci.log"
as sh -c "$STATE" _ "$D/bundle/rootfs" >"$D/state-umoci" 2>&1
check_state umoci "$D/state-umoci"

id=$(pm pull -q "oci-archive:$D/wh-oci.tar" 2>"$D/pull.log"); st=$?
check "rootless podman pull oci-archive: ($id)" [ $st -eq 0 -a -n "$id" ]
[ $st -eq 0 ] || diag_file "$D/pull.log"
pm_run "$id" sh -c "$STATE" _ "" >"$D/state-podman" 2>&1
check_state podman "$D/state-podman"

finish
