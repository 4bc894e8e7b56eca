#!/bin/sh
# Subuid mode makes its user namespace once per hoist process (issue 5):
# every RUN of one build joins the same one, the namespace differs from
# the host's, no holder process keeps it while a RUN runs, and nothing of
# it outlives hoist. Runs as the test user hoistsub (tests/sandbox/users.sh,
# needs root). TAP output.
set -u
H=${HOIST_BIN:?}; SRC=${HOIST_SRCDIR:?}
. "$SRC/tests/lib/tap.sh"

"$SRC/tests/sandbox/users.sh" || skip_all "needs root to create the test user hoistsub"
command -v umoci >/dev/null || skip_all "umoci not installed"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"

tmpdir W /tmp/hoist-userns-test.XXXXXX
chmod 755 "$W"
"$SRC/scripts/mkrootfs-busybox.sh" "$W/bb.tar"
chmod 644 "$W/bb.tar"
S="$W/store"; C="$W/ctx"
mkdir -p "$C"
chown -R hoistsub: "$W"

# as CMD...: CMD as hoistsub, alone in a new session (so that whatever it
# leaves behind can be found by session id afterwards).
as() { runuser -u hoistsub -- env -i PATH=/usr/bin:/bin HOME="$W" "$@"; }

as "$H" --root "$S" import "$W/bb.tar" bb >/dev/null
check "import busybox" [ $? -eq 0 ]

# Three RUNs (one chowns to a subuid, so the layer and unpack helpers work
# in the same namespace too), each recording its user namespace; the third
# sleeps while we look at hoist's children.
cat >"$C/Dockerfile" <<'EOF'
FROM bb
RUN readlink /proc/self/ns/user > /ns1 && chown 1000:1000 /ns1
RUN readlink /proc/self/ns/user > /ns2 && stat -c %u /ns1 > /owner
RUN readlink /proc/self/ns/user > /ns3 && sleep 3
EOF
chown -R hoistsub: "$C"
as setsid sh -c 'echo $$ >"$0/sid"; exec "$@" 2>"$0/build.log"' "$W" \
	"$H" --root "$S" build --identity subuid --progress plain -t nsimg "$C" >/dev/null &
BG=$!

# While the sleeping RUN runs, hoist's children in the build's user
# namespace are the sandbox init (in its own PID namespace) and nothing
# else: no holder process keeps the namespace. (Children outside it, such
# as the build's output pump, do not matter.)
hostu=$(readlink /proc/self/ns/user); hostp=$(readlink /proc/self/ns/pid)
sid=""; kids=""; seen=""
i=0
while [ $i -lt 600 ] && kill -0 $BG 2>/dev/null; do
	[ -z "$sid" ] && [ -s "$W/sid" ] && sid=$(cat "$W/sid")
	# (a step's line comes when it ends; the sandbox line when it starts)
	if [ -n "$sid" ] && [ "$(grep -c 'sandbox: identity mode' "$W/build.log" 2>/dev/null)" -ge 3 ]; then
		kids=$(cat /proc/$sid/task/$sid/children 2>/dev/null)
		init=0; other=0
		for k in $kids; do
			u=$(readlink /proc/$k/ns/user 2>/dev/null) || continue
			[ "$u" = "$hostu" ] && continue
			if [ "$(readlink /proc/$k/ns/pid 2>/dev/null)" != "$hostp" ]; then
				init=$((init+1))
			else
				other=$((other+1))
			fi
		done
		if [ $init -ge 1 ]; then
			seen="$init init, $other other"
			[ $other -eq 0 ] && break
		fi
	fi
	sleep 0.05
	i=$((i+1))
done
wait $BG; st=$?
check "subuid build with three RUNs" [ $st -eq 0 ]
[ $st -eq 0 ] || diag_file "$W/build.log"
check "during a RUN only the sandbox init of hoist's children is in its namespace ($seen)" \
	[ "$seen" = "1 init, 0 other" ]

left=$(pgrep -s "$sid" 2>/dev/null | tr '\n' ' ')
check "no process of the build outlives hoist ($left)" [ -z "$left" ]

out=$(as "$H" --root "$S" run --identity subuid nsimg cat /ns1 /ns2 /ns3 /owner | tr '\n' ' ')
set -- $out
check "the RUNs report their user namespace ($out)" [ $# -eq 4 ]
case ${1:-} in user:\[*) ok "a user namespace inode ($1)" ;; *) nok "a user namespace inode (${1:-})" ;; esac
check "all RUNs of the build share one user namespace" [ "${1:-a}" = "${2:-b}" -a "${2:-b}" = "${3:-c}" ]
check "ownership made in one RUN is seen by the next (${4:-})" [ "${4:-}" = 1000 ]
host=$(as readlink /proc/self/ns/user)
check "it is not the host user's namespace ($host)" [ "${1:-}" != "$host" ]

finish
