#!/bin/sh
# Secrets (issue #21): a build's `--secret` used by RUN --mount=type=secret,
# and registry credentials (htpasswd Basic, Bearer tokens from the tests'
# token server); then everything hoist wrote is searched for their values:
# the stores (every area), outputs (OCI layout, docker and OCI archives,
# save -o, save --format oci-dir), stdout and stderr of every command
# (--progress plain, --debug, errors), inspect (history, labels) and the
# registries' storage. Compressed blobs are searched once inflated, archives
# once unpacked. Only the credential store `hoist login` writes
# ($DOCKER_CONFIG/config.json, by design) may hold the password.
SECRET="hoist-secret-value-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export HOIST_TEST_REGPASS="hoist-regpass-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"
$PY -c 'import jwt, cryptography' 2>/dev/null || skip_all "python3-jwt and python3-cryptography are needed"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
export HOIST_TEST_TOKEN_LOG="$T/tokens"
: >"$HOIST_TEST_TOKEN_LOG"

W="$T/w"; O="$W/out"; mkdir -p "$W/ctx" "$O"
export HOIST_ROOT="$W/store"
printf '%s' "$SECRET" >"$W/secret.txt"; chmod 600 "$W/secret.txt"
"$HOIST_SRCDIR/scripts/mkrootfs-busybox.sh" "$W/bb.tar"
"$H" import "$W/bb.tar" bb >"$O/import.out" 2>"$O/import.err"
check "import busybox" [ $? -eq 0 ]

BP=$(free_port); RP=$(free_port); TP=$(free_port)
start_registry "$T/basic" htpasswd "$BP" || skip_all "docker-registry (htpasswd) did not start"
start_registry "$T/tok" token "$RP" "$TP" || skip_all "docker-registry (token) did not start"
B=127.0.0.1:$BP; R=127.0.0.1:$RP
export HOIST_INSECURE_REGISTRIES="$B,$R"

# The secret is used (its length and digest go into the image, never its
# bytes), in a cached and an uncached step, and by a RUN that fails.
cat >"$W/ctx/Dockerfile" <<'EOF'
FROM bb
LABEL purpose=secrets-test
RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /len
RUN --mount=type=secret,id=tok,target=/s,mode=0444 sha256sum /s | cut -c1-64 > /sum && ls -l /s > /ls
EOF
SB="--secret id=tok,src=$W/secret.txt"
"$H" build --progress plain $SB -t sec -t "$B/sec/app:1" -t "$R/sec/app:1" \
	--output "type=oci,dest=$O/build-layout" "$W/ctx" >"$O/build.out" 2>"$O/build.err"
check "build with a secret" [ $? -eq 0 ]
"$H" --debug build --progress plain $SB --output "type=docker,dest=$O/build-docker.tar" \
	"$W/ctx" >"$O/build2.out" 2>"$O/build2.err"
check "rebuild (cached) to a docker archive, --debug" [ $? -eq 0 ]
"$H" build --no-cache --progress plain $SB --output "type=oci-archive,dest=$O/build-oci.tar" \
	"$W/ctx" >"$O/build3.out" 2>"$O/build3.err"
check "rebuild (--no-cache) to an OCI archive" [ $? -eq 0 ]
len=$("$H" run sec cat /len 2>"$O/run.err")
check "the RUN read the secret ($len bytes)" [ "$len" = "${#SECRET}" ]
sum=$("$H" run sec cat /sum 2>>"$O/run.err")
is "$sum" "$(printf '%s' "$SECRET" | sha256sum | cut -c1-64)" "the RUN saw the secret's exact bytes"
printf 'FROM bb\nRUN --mount=type=secret,id=tok grep -q not-in-there /run/secrets/tok\n' \
	>"$W/ctx/Dockerfile.fail"
"$H" build --progress plain $SB -f "$W/ctx/Dockerfile.fail" "$W/ctx" >"$O/fail.out" 2>"$O/fail.err"
check "a RUN that fails with the secret mounted fails the build" [ $? -ne 0 ]
"$H" save -o "$O/save.tar" sec >"$O/save.out" 2>"$O/save.err"
check "save -o" [ $? -eq 0 ]
"$H" save --format oci-dir -o "$O/save-layout" sec >>"$O/save.out" 2>>"$O/save.err"
check "save --format oci-dir" [ $? -eq 0 ]
"$H" inspect sec >"$O/inspect.json" 2>"$O/inspect.err"
check "inspect (history, labels)" grep -q secrets-test "$O/inspect.json"

# Basic auth: anonymous push refused, a wrong password, login, push, pull.
"$H" push --progress plain "$B/sec/app:1" >"$O/push-anon.out" 2>"$O/push-anon.err"
check "basic: anonymous push refused" [ $? -ne 0 ]
printf '%s-wrong\n' "$HOIST_TEST_REGPASS" | "$H" login -u test --password-stdin "$B" \
	>"$O/login-bad.out" 2>"$O/login-bad.err"
check "basic: a wrong password is refused" [ $? -ne 0 ]
printf '%s\n' "$HOIST_TEST_REGPASS" | "$H" login -u test --password-stdin "$B" \
	>"$O/login.out" 2>"$O/login.err"
check "basic: login" [ $? -eq 0 ]
"$H" --debug push --progress plain "$B/sec/app:1" >"$O/push.out" 2>"$O/push.err"
check "basic: push (--debug)" [ $? -eq 0 ]
HOIST_ROOT="$W/store-b" "$H" --debug pull --progress plain "$B/sec/app:1" \
	>"$O/pull.out" 2>"$O/pull.err"
check "basic: pull into a second store (--debug)" [ $? -eq 0 ]

# Token auth: login through the token server, push, pull, a failed push.
printf '%s\n' "$HOIST_TEST_REGPASS" | "$H" login -u test --password-stdin "$R" \
	>"$O/login-t.out" 2>"$O/login-t.err"
check "bearer: login" [ $? -eq 0 ]
"$H" --debug push --progress plain "$R/sec/app:1" >"$O/push-t.out" 2>"$O/push-t.err"
check "bearer: push (--debug)" [ $? -eq 0 ]
HOIST_ROOT="$W/store-t" "$H" --debug pull --progress plain "$R/sec/app:1" \
	>"$O/pull-t.out" 2>"$O/pull-t.err"
check "bearer: pull into a third store (--debug)" [ $? -eq 0 ]
"$H" --debug push --progress plain "$R/other/denied:1" >"$O/push-t-bad.out" 2>"$O/push-t-bad.err"
check "bearer: pushing a missing image fails" [ $? -ne 0 ]
"$H" cache verify >"$O/verify.out" 2>"$O/verify.err"
check "cache verify" [ $? -eq 0 ]
ntok=$(wc -l <"$HOIST_TEST_TOKEN_LOG")
check "the token server issued tokens ($ntok)" [ "$ntok" -ge 1 ]

# ---- the search --------------------------------------------------------------
# Patterns: the secret, the password, its Basic form, every token issued and
# each token's signature alone.
P="$T/patterns"
{
	echo "$SECRET"
	echo "$HOIST_TEST_REGPASS"
	printf 'test:%s' "$HOIST_TEST_REGPASS" | base64 -w0; echo
	cat "$HOIST_TEST_TOKEN_LOG"
	sed 's/.*\.//' "$HOIST_TEST_TOKEN_LOG"
} | sort -u | grep . >"$P"
# Archives are searched unpacked, too.
mkdir -p "$T/unpacked"
for a in "$O"/*.tar; do
	mkdir -p "$T/unpacked/${a##*/}"
	tar -C "$T/unpacked/${a##*/}" -xf "$a" 2>/dev/null
done
# Each distinct content once (the same blob sits in many places).
files=0; hits=""
scan() {
	find "$@" -type f -print0 2>/dev/null | xargs -0 sha256sum >"$T/sums"
	files=$(wc -l <"$T/sums")
	sort -u -k1,1 "$T/sums" | while read -r _ f; do
		if grep -qaF -f "$P" "$f" 2>/dev/null; then echo "$f"; continue; fi
		case $(od -An -N4 -tx1 "$f" 2>/dev/null | tr -d ' ') in
		1f8b*) gzip -dc "$f" 2>/dev/null | grep -qaF -f "$P" && echo "$f(gunzip)" ;;
		28b52ffd) zstd -dc "$f" 2>/dev/null | grep -qaF -f "$P" && echo "$f(unzstd)" ;;
		esac
	done >"$T/hits"
	hits=$(tr '\n' ' ' <"$T/hits")
	distinct=$(sort -u -k1,1 "$T/sums" | wc -l)
}
scan "$W/store" "$W/store-b" "$W/store-t" "$O" "$T/unpacked" "$T/basic/data" "$T/tok/data"
blobs=$(find "$T/basic/data" "$T/tok/data" -path '*/blobs/*' -name data -type f | wc -l)
diag "searched $files files ($distinct distinct, $blobs registry blobs) for $(wc -l <"$P") patterns"
check "the registries hold the pushed blobs ($blobs)" [ "$blobs" -ge 6 ]
is "${hits:-none}" none "no secret, password or token in anything hoist wrote"
# The search itself can find: the login file holds the password's Basic form,
# and a secret inside a gzip'd tar is seen.
mkdir -p "$T/control/d"; printf 'x%sx' "$SECRET" >"$T/control/d/f"
tar -C "$T/control" -czf "$T/control/layer.tgz" d; rm -r "$T/control/d"
cp "$DOCKER_CONFIG/config.json" "$T/control/"
scan "$T/control"
is "$(echo $hits | wc -w)" 2 "the search finds a secret in a gzip'd layer and the login file (control)"
finish
