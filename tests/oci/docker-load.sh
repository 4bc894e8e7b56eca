#!/bin/bash
# A hoist-built image (with a RUN step) written as a docker-archive loads into
# a real Docker engine (Debian's docker.io, dockerd started by hand with a
# private data root and socket, no bridge, no iptables) and the container
# prints what the Dockerfile says. Needs root: dockerd does.
set -uo pipefail
H=${HOIST_BIN:?}
. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
[ "$(id -u)" = 0 ] || skip_all "dockerd needs root"
command -v dockerd >/dev/null && [ -x /usr/bin/docker ] || skip_all "docker.io is not installed"
[ -x /bin/busybox ] || skip_all "busybox-static is not installed"

. "$HOIST_SRCDIR/tests/lib/dockerd.sh"

# A short base path: the socket path must fit in sun_path.
tmpdir T /tmp/hdl.XXXXXX
if ! dockerd_start "$T/d"; then
	nok "dockerd starts"; finish
fi
ok "dockerd starts"

cd "$T"
"$HOIST_SRCDIR/scripts/mkrootfs-busybox.sh" bb.tar
R="$H --root $T/store"
$R import bb.tar hoist-dl/bb:1 >/dev/null
mkdir ctx
echo "copied by COPY" >ctx/note.txt
cat >ctx/Dockerfile <<'DF'
FROM hoist-dl/bb:1
COPY note.txt /srv/note.txt
RUN echo "made by RUN" > /srv/run.txt && rm /etc/group
WORKDIR /srv
ENV GREETING="hello from hoist"
CMD ["/bin/sh", "-c", "cat note.txt run.txt; echo \"$GREETING\"; test -e /etc/group || echo no-group"]
DF
check "hoist build --output type=docker" sh -c "$R build -q -t hoist-dl/app:1 \
	--output 'type=docker,dest=$T/app.tar' ctx >/dev/null"
check "docker load" sh -c "$DOCKER load -i '$T/app.tar' | grep -q 'Loaded image: hoist-dl/app:1'"
out=$($DOCKER run --rm --network=host hoist-dl/app:1 2>&1)
expected=$(printf 'copied by COPY\nmade by RUN\nhello from hoist\nno-group')
if [ "$out" = "$expected" ]; then ok "docker run prints what the Dockerfile says"
else nok "docker run prints what the Dockerfile says"; printf '%s\n' "$out" | sed 's/^/# /'; fi
cfg=$($DOCKER image inspect -f '{{.Config.WorkingDir}} {{json .Config.Cmd}}' hoist-dl/app:1)
check "docker sees WorkingDir and Cmd" test "$cfg" = '/srv ["/bin/sh","-c","cat note.txt run.txt; echo \"$GREETING\"; test -e /etc/group || echo no-group"]'
finish
