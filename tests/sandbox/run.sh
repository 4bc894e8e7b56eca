#!/bin/sh
# `hoist run` and the sandbox in the three identity modes: root (this
# script, as root), subuid (user hoistsub, with a /etc/subuid range) and
# single (user hoistnosub, no range). Busybox image from
# scripts/mkrootfs-busybox.sh. TAP output.
set -u
H=${HOIST_BIN:?}; SRC=${HOIST_SRCDIR:?}
. "$SRC/tests/lib/tap.sh"

"$SRC/tests/sandbox/users.sh" || skip_all "needs root to create the test users hoistsub/hoistnosub"
command -v umoci >/dev/null || skip_all "umoci not installed"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"

tmpdir W /tmp/hoist-sandbox-test.XXXXXX
chmod 755 "$W"
"$SRC/scripts/mkrootfs-busybox.sh" "$W/bb.tar"
chmod 644 "$W/bb.tar"

# A host service on 127.0.0.1 that --network none must not reach.
PORT=$((20000 + $$ % 20000))
mkdir -p "$W/www"; echo reachable >"$W/www/index.html"
busybox httpd -f -p 127.0.0.1:$PORT -h "$W/www" &
HTTPD=$!
at_exit 'kill $HTTPD 2>/dev/null'

# as MODE CMD...: run CMD as the mode's user, with a clean environment
# plus one variable that must not leak into the container.
as() {
	m=$1; shift
	case $m in
	root) env -i PATH=/usr/bin:/bin HOME="$W/root" HOIST_LEAK=host "$@" ;;
	subuid) runuser -u hoistsub -- env -i PATH=/usr/bin:/bin HOME="$W/subuid" HOIST_LEAK=host "$@" ;;
	single) runuser -u hoistnosub -- env -i PATH=/usr/bin:/bin HOME="$W/single" HOIST_LEAK=host "$@" ;;
	esac
}

for m in root subuid single; do
	D="$W/$m"; S="$D/store"
	mkdir -p "$D"
	case $m in subuid) chown hoistsub: "$D" ;; single) chown hoistnosub: "$D" ;; esac
	R() { as $m "$H" --root "$S" run --identity $m "$@"; }
	as $m "$H" --root "$S" import "$W/bb.tar" bb >/dev/null
	check "$m: import busybox" [ $? -eq 0 ]

	out=$(R --progress plain bb /bin/busybox echo hi 2>"$D/err"); st=$?
	check "$m: echo hi" [ $st -eq 0 -a "$out" = hi ]
	check "$m: progress names the identity mode" grep -q "identity mode $m" "$D/err"

	R bb sh -c 'exit 7'; check "$m: exit status 7 propagated" [ $? -eq 7 ]
	R bb sh -c 'kill -9 $$'; check "$m: killed by SIGKILL reports 137" [ $? -eq 137 ]
	R bb no-such-command 2>/dev/null; check "$m: missing command exits 127" [ $? -eq 127 ]

	# Descriptors: only stdio (+ the one ls opens on /proc/self/fd).
	fds=$(as $m sh -c 'exec 7</etc/passwd 8>/dev/null; exec "$@"' _ "$H" --root "$S" run \
		--identity $m bb ls /proc/self/fd | tr '\n' ' ')
	check "$m: no host fd inside ($fds)" [ "$fds" = "0 1 2 3 " ]

	env=$(R -e FOO=bar bb /bin/busybox env | sort | tr '\n' ' ')
	check "$m: environment is exactly the image's and ours ($env)" \
		[ "$env" = "FOO=bar HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin " ]

	# (busybox wget crashes here; nc speaks enough HTTP)
	get='printf "GET / HTTP/1.0\r\n\r\n" | nc -w 3 127.0.0.1 '$PORT' | tail -n 1'
	out=$(R bb sh -c "$get" 2>/dev/null)
	check "$m: host network reaches a host port" [ "$out" = reachable ]
	out=$(R --network none bb sh -c "$get" 2>/dev/null)
	check "$m: --network none cannot reach a host port" [ -z "$out" ]
	routes=$(R --network none bb ip route 2>&1)
	check "$m: --network none has no route" [ -z "$routes" ]
	links=$(R --network none bb ip -o link | awk -F': ' '{print $2}' | tr '\n' ' ')
	check "$m: --network none has only lo ($links)" [ "$links" = "lo " ]

	out=$(R -w /work/dir bb pwd); check "$m: -w creates and enters the dir" [ "$out" = /work/dir ]
	out=$(R --hostname box bb hostname); check "$m: --hostname" [ "$out" = box ]
	mkdir -p "$D/vol"; echo v >"$D/vol/f"; chmod -R a+rX "$D/vol"
	out=$(R -v "$D/vol:/mnt/vol:ro" bb sh -c 'cat /mnt/vol/f; echo x >/mnt/vol/g 2>/dev/null && echo writable')
	check "$m: -v HOST:CTR:ro is read-only" [ "$out" = v ]
	if [ $m != single ]; then
		out=$(R -u nobody bb id -u); check "$m: -u nobody" [ "$out" = 65534 ]
	fi
	out=$(R bb cat /proc/1/cmdline >/dev/null; R bb sh -c 'ps -o pid,comm | awk "NR>1{print \$1}" | head -1')
	check "$m: the command runs under an init as PID 1" [ "$out" = 1 ]

	# A RUN-like change: delete a base file and a directory, replace a
	# directory, add files owned by another user; umoci applies the layer.
	R --commit bb2 bb sh -c 'rm /etc/group && rm -rf /root && rm -rf /var && mkdir /var &&
		echo new >/var/new && mkdir -p /home/u && echo x >/home/u/f && chown -R 1000:1000 /home/u'
	check "$m: RUN-like change committed" [ $? -eq 0 ]
	as $m "$H" --root "$S" save --format oci-dir -o "$D/layout" bb2 >/dev/null 2>&1
	check "$m: saved as an OCI layout" [ -f "$D/layout/index.json" ]
	as $m sh -c "cd '$D' && umoci unpack --rootless --image layout:latest bundle" >/dev/null 2>&1
	check "$m: umoci unpack --rootless" [ -d "$D/bundle/rootfs/bin" ]
	r="$D/bundle/rootfs"
	check "$m: deleted file is gone" [ ! -e "$r/etc/group" -a -f "$r/etc/passwd" ]
	check "$m: deleted dir is gone" [ ! -e "$r/root" ]
	check "$m: replaced dir holds only the new content" [ "$(ls -A "$r/var")" = new ]
	check "$m: no mount stubs in the layer" [ ! -e "$r/etc/hosts" -a ! -e "$r/etc/resolv.conf" ]
	layer=$(ls -S "$D"/layout/blobs/sha256/* | head -n 1)
	for b in "$D"/layout/blobs/sha256/*; do
		tar tzvf "$b" 2>/dev/null | grep -q 'home/u/f' && layer=$b
	done
	owner=$(tar tzvf "$layer" | awk '$6=="home/u/f"{print $2}')
	if [ $m = single ]; then want=0/0; else want=1000/1000; fi
	check "$m: ownership as seen inside ($owner)" [ "$owner" = "$want" ]
	check "$m: opaque marker for the replaced dir" sh -c "tar tzf '$layer' | grep -qx 'var/.wh..wh..opq'"
	check "$m: whiteouts for the deleted file and dir" \
		sh -c "tar tzf '$layer' | grep -qx 'etc/.wh.group' && tar tzf '$layer' | grep -qx '.wh.root'"
	left=$(ls "$S/tmp" 2>/dev/null | grep '^run-' || true)
	check "$m: run directories removed" [ -z "$left" ]
done
finish
