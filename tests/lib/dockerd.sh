# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=sh disable=SC3043
# A private Docker engine for the tests: Debian's dockerd (docker.io 20.10)
# started by hand, no systemd, with its data root, exec root and socket under
# a directory of the test's, no bridge and no iptables changes (containers use
# --network=host). Adapted from the project's shared dockerd helper script
# (Apache-2.0), which stays outside this repository. Source it after tests/lib/tap.sh:
#
#	. "$HOIST_SRCDIR/tests/lib/dockerd.sh"
#	dockerd_start "$T/d" || bail "dockerd does not start"
#	$DOCKER run --rm --network=host IMAGE ...
#
# dockerd_start registers its own stop with at_exit. Needs root. Use
# /usr/bin/docker, the Debian client (a docker 28 CLI elsewhere in PATH
# would want the buildx plugin for DOCKER_BUILDKIT=1).

# dockerd_start DIR: start dockerd with everything under DIR (keep DIR short:
# the socket's path must fit in sun_path, 108 bytes) and wait until it
# answers (30 s at most). Sets DOCKER (the client with -H) and DOCKERD_DIR.
# Returns 1 when it does not answer, after showing the end of its log.
dockerd_start() {
	local _d=$1 _i=0
	DOCKERD_DIR=$_d
	DOCKER="/usr/bin/docker -H unix://$_d/docker.sock"
	mkdir -p "$_d" || return 1
	at_exit dockerd_stop
	dockerd --data-root "$_d/root" --exec-root "$_d/exec" -H "unix://$_d/docker.sock" \
		--pidfile "$_d/docker.pid" --storage-driver overlay2 --bridge=none --iptables=false \
		--ip-masq=false >"$_d/dockerd.log" 2>&1 &
	echo $! >"$_d/bgpid"
	while [ $_i -lt 150 ]; do
		$DOCKER version >/dev/null 2>&1 && return 0
		_i=$((_i + 1))
		sleep 0.2
	done
	tail -n 20 "$_d/dockerd.log" | sed 's/^/# /'
	return 1
}

# dockerd_stop: stop the engine dockerd_start started (SIGTERM, then up to
# 10 s for it to go) and unmount what it leaves mounted.
dockerd_stop() {
	local _d=${DOCKERD_DIR:-} _p _i=0
	[ -n "$_d" ] && [ -f "$_d/bgpid" ] || return 0
	_p=$(cat "$_d/bgpid")
	kill "$_p" 2>/dev/null
	while [ -e "/proc/$_p" ] && [ $_i -lt 50 ]; do
		_i=$((_i + 1))
		sleep 0.2
	done
	umount -R "$_d/root" 2>/dev/null
	umount "$_d/exec/netns/default" 2>/dev/null
	umount -R "$_d/exec" 2>/dev/null
	rm -f "$_d/bgpid"
	return 0
}

# dockerd_load ARCHIVE NAME: docker load a docker-archive (hoist save's
# default format) and check that it loaded as NAME. Returns 1 otherwise,
# with docker's output on stderr.
dockerd_load() {
	local _out
	_out=$($DOCKER load -i "$1" 2>&1) || { printf '%s\n' "$_out" >&2; return 1; }
	case $_out in
	*"Loaded image: $2"*) return 0 ;;
	esac
	printf '%s\n' "$_out" >&2
	return 1
}
