#!/bin/sh
# RUN steps in `hoist build`, in the three identity modes: root (this script,
# as root), subuid (user hoistsub) and single (user hoistnosub), made by
# tests/sandbox/users.sh. Busybox base for the semantics (cache, whiteouts,
# network, secrets, cache mounts, failures), the cached Debian bookworm base
# of tests/sandbox/debian-base.sh for apt-get. Needs root (to create the
# users) and the apt mirror. TAP output.
set -u
H=${HOIST_BIN:?}; SRC=${HOIST_SRCDIR:?}; FIX=${HOIST_FIXTURES:?}
. "$SRC/tests/lib/tap.sh"

"$SRC/tests/sandbox/users.sh" || skip_all "needs root to create the test users hoistsub/hoistnosub"
command -v umoci >/dev/null || skip_all "umoci not installed"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
base=$("$SRC/tests/sandbox/debian-base.sh" "$FIX/cache"); st=$?
[ $st -eq 77 ] && skip_all "mmdebstrap is not installed"
[ $st -eq 0 ] || bail "could not make the Debian base image"
chmod a+r "$base"; chmod a+rx "$FIX/cache"

tmpdir W /tmp/hoist-buildrun-test.XXXXXX
chmod 755 "$W"
"$SRC/scripts/mkrootfs-busybox.sh" "$W/bb.tar"
chmod 644 "$W/bb.tar"

# A host service on 127.0.0.1 that --network none must not reach.
PORT=$((20000 + ($$ + 7) % 20000))
mkdir -p "$W/www"; echo reachable >"$W/www/index.html"
busybox httpd -f -p 127.0.0.1:$PORT -h "$W/www" &
HTTPD=$!
at_exit 'kill $HTTPD 2>/dev/null'

as() {
	m=$1; shift
	case $m in
	root) env -i PATH=/usr/bin:/bin HOME="$W/root" "$@" ;;
	subuid) runuser -u hoistsub -- env -i PATH=/usr/bin:/bin HOME="$W/subuid" "$@" ;;
	single) runuser -u hoistnosub -- env -i PATH=/usr/bin:/bin HOME="$W/single" "$@" ;;
	esac
}

for m in ${HOIST_TEST_MODES:-root subuid single}; do
	D="$W/$m"; S="$D/store"; C="$D/ctx"
	mkdir -p "$D" "$C"
	case $m in subuid) chown -R hoistsub: "$D" ;; single) chown -R hoistnosub: "$D" ;; esac
	B() { as $m "$H" --root "$S" build --identity $m "$@"; }
	R() { as $m "$H" --root "$S" run --identity $m "$@"; }
	as $m "$H" --root "$S" import "$W/bb.tar" bb >/dev/null
	check "$m: import busybox" [ $? -eq 0 ]

	# The same (empty) layer twice in one image: overlayfs refuses a lower
	# stack naming one directory twice, so the sandbox must drop the copy.
	mkdir -p "$D/dup"
	printf 'FROM bb\nRUN true\nRUN true\nRUN echo c > /c\nRUN cat /c\n' >"$D/dup/Dockerfile"
	case $m in subuid) chown -R hoistsub: "$D" ;; single) chown -R hoistnosub: "$D" ;; esac
	B -t dup "$D/dup" >"$D/dup.log" 2>&1; st=$?
	check "$m: a repeated empty layer does not break the next RUN" [ $st -eq 0 ]
	[ $st -eq 0 ] || diag_file "$D/dup.log"

	# Cache: a rebuild is all CACHED; changing one RUN re-runs it and what follows.
	printf 'FROM bb\nRUN echo one > /one\nRUN echo two > /two\nRUN cat /one /two > /three\n' >"$C/Dockerfile"
	case $m in subuid) chown -R hoistsub: "$D" ;; single) chown -R hoistnosub: "$D" ;; esac
	d1=$(B --progress plain -t steps "$C" 2>"$D/b1.log"); st=$?
	check "$m: three RUN steps build" [ $st -eq 0 ]
	[ $st -eq 0 ] || diag_file "$D/b1.log"
	check "$m: --progress plain names the identity mode" grep -q "identity mode $m" "$D/b1.log"
	out=$(R steps cat /three | tr '\n' ' ')
	check "$m: RUN results are in the image ($out)" [ "$out" = "one two " ]
	d2=$(B --progress plain -t steps "$C" 2>"$D/b2.log")
	check "$m: rebuild is all CACHED, same digest" \
		[ "$(grep -c ' CACHED RUN' "$D/b2.log")" = 3 -a "$d1" = "$d2" ]
	printf 'FROM bb\nRUN echo one > /one\nRUN echo TWO > /two\nRUN cat /one /two > /three\n' >"$C/Dockerfile"
	B --progress plain -t steps "$C" >/dev/null 2>"$D/b3.log"
	check "$m: changed RUN re-runs it and only later steps" \
		sh -c "grep -q ' CACHED RUN echo one' '$D/b3.log' &&
			! grep -q 'CACHED RUN echo TWO' '$D/b3.log' &&
			! grep -q 'CACHED RUN cat' '$D/b3.log'"
	out=$(R steps cat /three | tr '\n' ' ')
	check "$m: the changed result ($out)" [ "$out" = "one TWO " ]

	# Whiteouts: delete a file and a dir of the base, replace a dir.
	printf 'FROM bb\nRUN rm /etc/group && rm -rf /root && rm -rf /var && mkdir /var && echo new >/var/new\n' >"$C/Dockerfile"
	B -q -t wh --output "type=oci,dest=$D/layout" "$C" >/dev/null 2>"$D/wh.log"
	check "$m: whiteout build" [ -f "$D/layout/index.json" ]
	[ -f "$D/layout/index.json" ] || diag_file "$D/wh.log"
	as $m sh -c "cd '$D' && umoci unpack --rootless --image layout bundle" >/dev/null 2>&1
	r="$D/bundle/rootfs"
	check "$m: umoci unpack --rootless" [ -d "$r/bin" ]
	check "$m: deleted file is gone" [ ! -e "$r/etc/group" -a -f "$r/etc/passwd" ]
	check "$m: deleted dir is gone" [ ! -e "$r/root" ]
	check "$m: replaced dir holds only the new content" [ "$(ls -A "$r/var" 2>&1)" = new ]

	# --network none (flag and per step): no route, the host port unreachable.
	get='printf "GET / HTTP/1.0\r\n\r\n" | nc -w 3 127.0.0.1 '$PORT' | tail -n 1'
	printf 'FROM bb\nRUN ip route > /routes; (%s) > /got 2>/dev/null; true\n' "$get" >"$C/Dockerfile"
	B -q -t net-none --network none "$C" >/dev/null 2>"$D/net.log"
	out=$(R net-none cat /routes /got)
	check "$m: --network none has no route out ($out)" [ -z "$out" ]
	printf 'FROM bb\nRUN --network=none ip route > /routes\nRUN (%s) > /got 2>/dev/null; true\n' "$get" >"$C/Dockerfile"
	B -q -t net-mixed "$C" >/dev/null 2>"$D/net2.log"
	out=$(R net-mixed cat /routes /got | tr '\n' ' ')
	check "$m: RUN --network=none, then the host network ($out)" [ "$out" = "reachable " ]

	# Secrets: readable during the RUN, in no layer, record or tag.
	SEC="hoist-secret-$m-$$-value"
	printf '%s' "$SEC" >"$D/secret.txt"; chmod 600 "$D/secret.txt"
	case $m in subuid) chown hoistsub: "$D/secret.txt" ;; single) chown hoistnosub: "$D/secret.txt" ;; esac
	# The Dockerfile itself names the value only to compare: keep it out of
	# the records by checking a different marker: the secret's reversed text.
	printf 'FROM bb\nRUN --mount=type=secret,id=tok test "$(rev /run/secrets/tok)" = "%s" && echo seen > /seen\nRUN --mount=type=secret,id=tok,target=/s cat /s | wc -c > /len\n' \
		"$(printf '%s' "$SEC" | rev)" >"$C/Dockerfile"
	B -q -t sec --secret "id=tok,src=$D/secret.txt" --output "type=oci,dest=$D/sec-layout" "$C" >/dev/null 2>"$D/sec.log"
	st=$?
	check "$m: secret readable during its RUN" [ $st -eq 0 -a "$(R sec cat /seen 2>/dev/null)" = seen ]
	[ $st -eq 0 ] || diag_file "$D/sec.log"
	check "$m: secret target option" [ "$(R sec cat /len 2>/dev/null | tr -d ' ')" = ${#SEC} ]
	leak=0
	for b in "$D"/sec-layout/blobs/sha256/* "$S"/blobs/sha256/*; do
		{ gzip -dc "$b" 2>/dev/null || cat "$b"; } | grep -aq "$SEC" && leak=1
	done
	check "$m: secret absent from every layer and blob" [ $leak -eq 0 ]
	check "$m: secret absent from the store (records, tags, rootfs)" \
		sh -c "! grep -rqa -- '$SEC' '$S' 2>/dev/null"
	out=$(R sec sh -c 'ls /run/secrets /s 2>/dev/null')
	check "$m: no secret file in the image" [ -z "$out" ]

	# A cache mount persists to the next build and stays out of the layer.
	printf 'FROM bb\nRUN --mount=type=cache,target=/cache echo x >> /cache/n && wc -l < /cache/n > /count\n' >"$C/Dockerfile"
	B -q -t cm "$C" >/dev/null 2>"$D/cm1.log"
	c1=$(R cm cat /count 2>/dev/null | tr -d ' ')
	B -q -t cm --no-cache "$C" >/dev/null 2>"$D/cm2.log"
	c2=$(R cm cat /count 2>/dev/null | tr -d ' ')
	check "$m: cache mount persists to the next build ($c1 then $c2)" [ "$c1" = 1 -a "$c2" = 2 ]
	check "$m: cache mount content is not in the layer" [ -z "$(R cm ls -A /cache 2>/dev/null)" ]

	# A failing RUN: status and tail of its output; no tag.
	printf 'FROM bb\nRUN echo first-line && echo last-words >&2 && exit 3\n' >"$C/Dockerfile"
	B -q -t failing "$C" >/dev/null 2>"$D/fail.log"; st=$?
	check "$m: failing RUN fails the build" [ $st -eq 1 ]
	check "$m: the exit status is reported" grep -q 'Dockerfile:2: RUN echo first-line.*exited with status 3' "$D/fail.log"
	check "$m: the tail of its output is shown" grep -q 'last-words' "$D/fail.log"
	[ $st -eq 1 ] || diag_file "$D/fail.log"
	as $m "$H" --root "$S" inspect failing >/dev/null 2>&1
	check "$m: a failed build tags nothing" [ $? -ne 0 ]

	# Exec form, SHELL, ARG and ENV in the environment, USER, WORKDIR, heredoc.
	cat >"$C/Dockerfile" <<'EOF'
FROM bb
ARG A=from-arg
ENV E=from-env
WORKDIR /w
RUN ["/bin/sh", "-c", "echo $A $E $(pwd) > /exec"]
USER nobody
RUN id -u > /tmp/uid
USER root
RUN <<EOT
echo heredoc-body > /heredoc
EOT
RUN <<EOT
#!/bin/sh
echo "script $0" > /script
EOT
EOF
	B -q -t misc "$C" >/dev/null 2>"$D/misc.log"; st=$?
	check "$m: exec form, ARG/ENV, WORKDIR, USER, heredocs build" [ $st -eq 0 ]
	[ $st -eq 0 ] || diag_file "$D/misc.log"
	check "$m: exec form sees ARG, ENV and WORKDIR" [ "$(R misc cat /exec 2>/dev/null)" = "from-arg from-env /w" ]
	check "$m: ARGs are not persisted" [ -z "$(R misc sh -c 'echo $A' 2>/dev/null)" ]
	if [ $m != single ]; then
		check "$m: USER nobody" [ "$(R misc cat /tmp/uid 2>/dev/null)" = 65534 ]
	fi
	check "$m: heredoc body run by the shell" [ "$(R misc cat /heredoc 2>/dev/null)" = heredoc-body ]
	check "$m: shebang heredoc run as a file" [ "$(R misc cat /script 2>/dev/null)" = "script /dev/pipes/EOT" ]

	left=$(ls "$S/tmp" 2>/dev/null | grep '^run-' || true)
	check "$m: run directories removed" [ -z "$left" ]
done

# apt-get in a Debian image, in each mode, then `hoist run IMAGE hello`.
for m in ${HOIST_TEST_MODES:-root subuid single}; do
	D="$W/$m"; S="$D/store"; C="$D/apt"
	mkdir -p "$C"
	printf 'FROM deb\nRUN apt-get update -q && apt-get install -y -q --no-install-recommends hello\n' >"$C/Dockerfile"
	case $m in subuid) chown -R hoistsub: "$C" ;; single) chown -R hoistnosub: "$C" ;; esac
	as $m "$H" --root "$S" import "$base" deb >/dev/null
	as $m "$H" --root "$S" build --identity $m --progress plain -t deb-hello "$C" >"$D/apt.log" 2>&1
	st=$?
	check "$m: build RUN apt-get install hello" [ $st -eq 0 ]
	[ $st -eq 0 ] || tail -n 30 "$D/apt.log" | sed 's/^/# /'
	out=$(as $m "$H" --root "$S" run --identity $m deb-hello hello)
	check "$m: hoist run deb-hello hello ($out)" [ "$out" = "Hello, world!" ]
	as $m "$H" --root "$S" build --identity $m --progress plain -t deb-hello "$C" >"$D/apt2.log" 2>&1
	check "$m: the apt build again is CACHED" grep -q ' CACHED RUN apt-get' "$D/apt2.log"
done
finish
