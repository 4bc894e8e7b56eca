#!/bin/bash
# The apt differential (issue #13): real Debian packages installed by hoist
# in the three identity modes (root; subuid as hoistsub; single as
# hoistnosub) and by real BuildKit (Debian's dockerd, started here, with
# DOCKER_BUILDKIT=1), from the same Debian bookworm minbase tar (hoist
# import / docker import, the same name in FROM). Each image is normalized
# layer by layer (tests/build/aptdiff/normalize.py: path, type, mode, ids,
# size, sha256, xattrs, link targets, hard links, whiteouts) and compared
# with BuildKit's (compare.py) minus the explained exclusions of
# tests/build/aptdiff/exclude. Two cases:
#   apt    tests/build/aptdiff/Dockerfile.apt: ca-certificates + curl,
#          iputils-ping (file capability), sudo (setuid), tzdata (links),
#          python3, git + openssh-client (setgid), locales (generated, one
#          with a non-ASCII name), adduser + useradd -m app, plocate
#          (dpkg-statoverride), build-essential + a compiled program: one
#          RUN per group, from a local repository of cached .debs
#          (tests/lib/apt-debs.sh, fixtures/cache/), bind-mounted from the
#          context: no network
#   names  tests/build/aptdiff/Dockerfile.names: a context (made here)
#          with UTF-8 and Latin-1 names, names, link targets and paths
#          longer than the tar header allows, a hard link to a non-ASCII
#          name; COPY . /ctx/ and a RUN making such names itself
# Then every apt image runs in docker and in (root) podman: versions of
# curl, git, python3, sudo, the compiled program, and ping as user app.
# Needs root (dockerd, test users), docker.io, podman, runc, uidmap,
# mmdebstrap, dpkg-dev (dpkg-scanpackages) and python3: all in `make deps`.
# TAP output.
# KEEP=1 keeps the work directory; HOIST_APTDIFF_SERIAL=1 builds one
# builder after the other instead of all four at once.
set -uo pipefail
H=${HOIST_BIN:?}; SRC=${HOIST_SRCDIR:?}; FIX=${HOIST_FIXTURES:?}
. "$SRC/tests/lib/tap.sh"
A=$SRC/tests/build/aptdiff
[ "$(id -u)" = 0 ] || skip_all "dockerd and the test users need root"
command -v dockerd >/dev/null && [ -x /usr/bin/docker ] || skip_all "docker.io is not installed"
command -v podman >/dev/null || skip_all "podman is not installed"
[ -x /usr/sbin/runc ] || skip_all "runc is not installed (podman's crun fails here)"
command -v newuidmap >/dev/null || skip_all "newuidmap is not installed (uidmap)"
command -v python3 >/dev/null || skip_all "python3 is not installed"
"$SRC/tests/sandbox/users.sh" || skip_all "cannot create the test users hoistsub/hoistnosub"
t0=$(date +%s)
base=$("$SRC/tests/sandbox/debian-base.sh" "$FIX/cache"); st=$?
[ $st -eq 77 ] && skip_all "mmdebstrap is not installed"
[ $st -eq 0 ] || bail "could not make the Debian base image"
repo=$("$SRC/tests/lib/apt-debs.sh" "$FIX/cache" "$base"); st=$?
[ $st -eq 77 ] && skip_all "cannot make the .deb repository (dpkg-dev)"
[ $st -eq 0 ] || bail "could not make the .deb repository"
chmod a+r "$base"; chmod a+rx "$FIX/cache" "$repo"
diag "fixtures ready after $(($(date +%s) - t0)) s"

# A short base path: dockerd's socket path must fit in sun_path.
tmpdir W /tmp/had.XXXXXX
chmod 755 "$W"
NAME=hoist-aptdiff/bookworm
MODES="root subuid single"

# ---- the contexts ------------------------------------------------------------
mkdir -p "$W/ctx-apt"
cp "$A/Dockerfile.apt" "$W/ctx-apt/Dockerfile"
# Hard links when the cache is on the same file system, else a copy.
cp -al "$repo" "$W/ctx-apt/repo" 2>/dev/null || cp -a "$repo" "$W/ctx-apt/repo"
C=$W/ctx-names
mkdir -p "$C/sub"
cp "$A/Dockerfile.names" "$C/Dockerfile"
echo utf8 >"$C/Főtanúsítvány.pem"
echo latin1 >"$C/$(printf 'caf\351')"
echo gone >"$C/gone-ő"
ln "$C/Főtanúsítvány.pem" "$C/sub/hard-$(printf 'caf\303\251')"
long=$(printf 'n%.0s' $(seq 1 150))
echo long >"$C/$long"
ln -s "../$long/../$long" "$C/sub/link-$(printf 'x%.0s' $(seq 1 120))"
d=$(printf 'd%.0s' $(seq 1 200))
mkdir -p "$C/$d/$d"
echo deep >"$C/$d/$d/deep-Főtanúsítvány"
chmod -R a+rX "$W"

# ---- dockerd -----------------------------------------------------------------
PR=$W/podman
PODMAN="podman --root $PR/root --runroot $PR/runroot --storage-driver overlay"
at_exit '$PODMAN system reset -f >/dev/null 2>&1'
. "$SRC/tests/lib/dockerd.sh"
dockerd_start "$W/d" || bail "dockerd does not start"
ok "dockerd starts"

# ---- the builds --------------------------------------------------------------
# as MODE CMD...: CMD as the user of identity mode MODE, clean environment.
as() {
	local m=$1
	shift
	case $m in
	root) env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin HOME="$W/root" "$@" ;;
	subuid) runuser -u hoistsub -- env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin HOME="$W/subuid" "$@" ;;
	single) runuser -u hoistnosub -- env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin HOME="$W/single" "$@" ;;
	esac
}
# norm IMAGE OUT: the record of an image archive (a failure is recorded too).
norm() {
	python3 "$A/normalize.py" "$1" -o "$2" 2>"$2.err" ||
		echo '{"error": "normalize.py failed"}' >"$2"
}
# hoist_side MODE: import, both builds, save, normalize (one log per step).
hoist_side() {
	local m=$1 o=$W/$1 c s
	as "$m" "$H" --root "$o/store" import "$base" "$NAME" >"$o/import.log" 2>&1 || return 1
	for c in apt names; do
		s=$(date +%s)
		if as "$m" "$H" --root "$o/store" build --identity "$m" --progress plain \
			-t "hoist-aptdiff/$c-$m" "$W/ctx-$c" >"$o/$c.log" 2>&1 &&
			as "$m" "$H" --root "$o/store" save -o "$o/$c.tar" "hoist-aptdiff/$c-$m" >>"$o/$c.log" 2>&1; then
			echo "$(($(date +%s) - s))" >"$o/$c.time"
			norm "$o/$c.tar" "$o/$c.json"
		fi
	done
}
buildkit_side() {
	local o=$W/buildkit c s
	$DOCKER import "$base" "$NAME" >"$o/import.log" 2>&1 || return 1
	for c in apt names; do
		s=$(date +%s)
		if DOCKER_BUILDKIT=1 $DOCKER build --network=host --progress plain -t "hoist-aptdiff/$c" \
			"$W/ctx-$c" >"$o/$c.log" 2>&1 &&
			$DOCKER save -o "$o/$c.tar" "hoist-aptdiff/$c" >>"$o/$c.log" 2>&1; then
			echo "$(($(date +%s) - s))" >"$o/$c.time"
			norm "$o/$c.tar" "$o/$c.json"
		fi
	done
}
mkdir -p "$W/buildkit"
for m in $MODES; do mkdir -p "$W/$m"; done
chown hoistsub: "$W/subuid"; chown hoistnosub: "$W/single"
t1=$(date +%s)
if [ -n "${HOIST_APTDIFF_SERIAL:-}" ]; then
	buildkit_side
	for m in $MODES; do hoist_side "$m"; done
else
	# not a bare wait: dockerd is a child too
	pids=
	buildkit_side &
	pids="$pids $!"
	for m in $MODES; do
		hoist_side "$m" &
		pids="$pids $!"
	done
	for p in $pids; do wait "$p"; done
fi
diag "builds and records after $(($(date +%s) - t1)) s (fixtures + dockerd: $((t1 - t0)) s)"

for b in buildkit $MODES; do
	for c in apt names; do
		if [ -f "$W/$b/$c.time" ]; then
			ok "$b: $c built in $(cat "$W/$b/$c.time") s"
		else
			nok "$b: $c built"
			tail -n 25 "$W/$b/$c.log" 2>/dev/null | diag
		fi
	done
done

# ---- the comparison ----------------------------------------------------------
for m in $MODES; do
	for c in apt names; do
		[ -f "$W/buildkit/$c.json" ] && [ -f "$W/$m/$c.json" ] || continue
		if python3 "$A/compare.py" --exclude "$A/exclude" --mode "$m" \
			"$W/buildkit/$c.json" "$W/$m/$c.json" >"$W/$m/$c.cmp" 2>&1; then
			ok "$m: $c: the same layers as BuildKit's"
		else
			nok "$m: $c: the same layers as BuildKit's"
			head -n 60 "$W/$m/$c.cmp" | diag
		fi
	done
done

# ---- the images run ----------------------------------------------------------
# As user app (1000, made by useradd in the image): ping needs its file
# capability. podman's default capability set lacks NET_RAW (Docker's has
# it), and a file capability only grants what the bounding set holds.
RUNME='set -e; curl --version | head -n 1; git --version; python3 -c "print(1)"
sudo -V | head -n 1; hello-gcc; id -un; ping -c1 -W5 127.0.0.1 >/dev/null; echo ping-ok'
want_tail=$(printf 'hello from gcc\napp\nping-ok')
ran() {
	local who=$1 out=$2
	# Here-strings, not pipes: with pipefail, grep -q quitting early can
	# fail the pipeline with printf's SIGPIPE (seen once in 200).
	if [ "$(tail -n 3 <<<"$out")" = "$want_tail" ] && grep -q '^curl 7' <<<"$out" &&
		grep -q '^git version' <<<"$out" && grep -qx 1 <<<"$out" &&
		grep -q '^Sudo version' <<<"$out"; then
		ok "$who: curl, git, python3, sudo, gcc's program and ping as app run"
	else
		nok "$who: curl, git, python3, sudo, gcc's program and ping as app run"
		printf '%s\n' "$out" | diag
	fi
}
if [ -f "$W/buildkit/apt.time" ]; then
	ran "docker run (BuildKit's image)" "$($DOCKER run --rm --network=host --user app \
		hoist-aptdiff/apt sh -c "$RUNME" 2>&1)"
fi
# Docker and podman load and run the three images side by side: two
# background loops, each writing MODE/ENGINE.load and ENGINE.out, reported
# afterwards in order.
engine_loop() {
	local e=$1 m img
	for m in $MODES; do
		[ -f "$W/$m/apt.time" ] || continue
		img=hoist-aptdiff/apt-$m
		case $e in
		docker)
			$DOCKER load -i "$W/$m/apt.tar" >"$W/$m/docker.load" 2>&1 &&
				$DOCKER run --rm --network=host --user app "$img" sh -c "$RUNME" \
					>"$W/$m/docker.out" 2>&1
			$DOCKER rmi "$img" >/dev/null 2>&1
			;;
		podman)
			$PODMAN load -i "$W/$m/apt.tar" >"$W/$m/podman.load" 2>&1 &&
				timeout 300 $PODMAN run --rm --runtime /usr/sbin/runc --network=host \
					--ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --cap-add NET_RAW \
					--user app "$img" sh -c "$RUNME" >"$W/$m/podman.out" 2>&1
			$PODMAN rmi -f "$img" >/dev/null 2>&1
			;;
		esac
	done
}
mkdir -p "$PR"
t2=$(date +%s)
engine_loop docker &
p1=$!
engine_loop podman &
p2=$!
wait "$p1" "$p2"
for m in $MODES; do
	[ -f "$W/$m/apt.time" ] || continue
	for e in docker podman; do
		if [ -f "$W/$m/$e.out" ]; then
			ran "$m: $e run" "$(cat "$W/$m/$e.out")"
		else
			nok "$m: $e load"
			diag_file "$W/$m/$e.load"
		fi
	done
done
diag "docker and podman runs after $(($(date +%s) - t2)) s"
diag "total $(($(date +%s) - t0)) s"
finish
