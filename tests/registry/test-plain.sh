#!/bin/sh
# Push and pull against a plain-HTTP registry (through the recording proxy):
# round trip, skopeo agreement, no re-upload, cross-repository mount,
# images pushed by skopeo (OCI and Docker schema 2), multi-platform indexes.
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"

RP=$(free_port); PP=$(free_port)
start_registry "$T/reg" plain "$RP" || skip_all "docker-registry did not start"
start_proxy "$T/reg" "$PP" "$RP" || skip_all "proxy did not start"
R=127.0.0.1:$RP    # the registry itself
P=127.0.0.1:$PP    # through the proxy
SK="skopeo --policy /etc/containers/policy.json"

mklayer "$T/l1.tgz" 64
mklayer "$T/l2.tgz" 3072
D=$(HOIST_ROOT="$T/a" "$MK" "$T/a" "$P/hoist/app:1" linux/amd64 "$T/l1.tgz" "$T/l2.tgz")
check "made a test image" [ -n "$D" ]

out=$(HOIST_ROOT="$T/a" "$H" push --progress plain "$P/hoist/app:1" 2>"$T/push.err"); st=$?
check "push exits 0" [ $st -eq 0 ]
check "push prints the digest" [ "$out" = "$D" ]
[ $st -eq 0 ] || diag "$(cat "$T/push.err")"

raw=$($SK inspect --raw --tls-verify=false "docker://$R/hoist/app:1" | sha256sum | cut -d' ' -f1)
check "skopeo sees the manifest hoist pushed" [ "sha256:$raw" = "$D" ]
nl=$($SK inspect --tls-verify=false "docker://$R/hoist/app:1" | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["Layers"]))')
check "skopeo sees two layers" [ "$nl" = 2 ]

"$H" manifest exists "$R/hoist/app:1" >/dev/null; check "manifest exists: present -> 0" [ $? -eq 0 ]
"$H" manifest exists "$R/hoist/app:nope" >/dev/null; check "manifest exists: absent -> 1" [ $? -eq 1 ]
"$H" manifest exists "$R/hoist/nothing:1" >/dev/null; check "manifest exists: no repo -> 1" [ $? -eq 1 ]

# Round trip into a fresh store: identical digests and files.
out=$(HOIST_ROOT="$T/b" "$H" pull --progress plain "$R/hoist/app:1" 2>"$T/pull.err"); st=$?
{ [ $st -eq 0 ] && [ "$out" = "$D" ]; }; ok_if $? "pull into a fresh store"
[ "$out" = "$D" ] || diag "$(cat "$T/pull.err")"
same=0
for f in "$T"/a/blobs/sha256/*; do
	cmp -s "$f" "$T/b/blobs/sha256/$(basename "$f")" || same=1
done
check "every blob pulled back is identical" [ $same -eq 0 ]
check "pulled store has the same number of blobs" \
	[ "$(ls "$T/a/blobs/sha256" | wc -l)" = "$(ls "$T/b/blobs/sha256" | wc -l)" ]

if "$H" inspect --help >/dev/null 2>&1 && "$H" inspect --raw "docker://$R/hoist/app:1" > "$T/raw.json" 2>/dev/null; then
	check "inspect docker:// --raw prints the exact bytes" \
		[ "sha256:$(sha256sum < "$T/raw.json" | cut -d' ' -f1)" = "$D" ]
	"$H" inspect "docker://$R/hoist/app:1" > "$T/insp.json"
	check "inspect docker:// shows the architecture" grep -q '"Architecture": "amd64"' "$T/insp.json"
fi

# A second push sends no blob bodies.
: > "$T/reg/proxy.log"
HOIST_ROOT="$T/a" "$H" push --progress plain "$P/hoist/app:1" >/dev/null 2>&1
check "second push succeeds" [ $? -eq 0 ]
check "second push sends no blob bodies" [ "$(blob_bodies "$T/reg/proxy.log")" = 0 ]

# A push to another repository of the same registry mounts.
: > "$T/reg/proxy.log"
HOIST_ROOT="$T/a" "$H" push --progress plain "$P/hoist/app:1" "$P/other/copy:2" >"$T/out" 2>"$T/err"
check "push to a second repository" [ $? -eq 0 ]
check "it mounts the blobs" [ "$(grep -c 'mount=sha256' "$T/reg/proxy.log")" -ge 2 ]
check "and uploads no blob bodies" [ "$(blob_bodies "$T/reg/proxy.log")" = 0 ]
$SK inspect --raw --tls-verify=false "docker://$R/other/copy:2" >/dev/null 2>&1
check "skopeo finds the mounted copy" [ $? -eq 0 ]

# An image skopeo pushed from an OCI layout, and one in Docker schema 2.
$SK copy -q --src-tls-verify=false "docker://$R/hoist/app:1" "oci:$T/layout:app" >/dev/null 2>&1
$SK copy -q --dest-tls-verify=false "oci:$T/layout:app" "docker://$R/skopeo/img:1" >/dev/null 2>&1
check "skopeo pushed from an OCI layout" [ $? -eq 0 ]
sd=$($SK inspect --raw --tls-verify=false "docker://$R/skopeo/img:1" | sha256sum | cut -d' ' -f1)
out=$(HOIST_ROOT="$T/c" "$H" pull --progress quiet "$R/skopeo/img:1" 2>"$T/err")
check "hoist pulls the skopeo-pushed image" [ "$out" = "sha256:$sd" ]
$SK copy -q --src-tls-verify=false --dest-tls-verify=false --format v2s2 \
	"docker://$R/hoist/app:1" "docker://$R/docker/img:1" >/dev/null 2>&1
out=$(HOIST_ROOT="$T/c" "$H" pull --progress quiet "$R/docker/img:1" 2>"$T/err"); st=$?
check "hoist pulls a Docker schema 2 image" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(cat "$T/err")"
mt=$(HOIST_ROOT="$T/c" $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["mediaType"])' "$T/c/blobs/sha256/${out#sha256:}" 2>/dev/null)
check "the stored manifest is Docker schema 2" [ "$mt" = "application/vnd.docker.distribution.manifest.v2+json" ]

# A multi-platform index: push it, pull one platform (Docker's names).
mklayer "$T/arm.tgz" 32
DA=$(HOIST_ROOT="$T/a" "$MK" "$T/a" "$P/multi/img:amd64" linux/amd64 "$T/l1.tgz")
DB=$(HOIST_ROOT="$T/a" "$MK" "$T/a" "$P/multi/img:arm64" linux/arm64/v8 "$T/arm.tgz")
DI=$(HOIST_ROOT="$T/a" "$MK" --index "$T/a" "$P/multi/img:1" "$DA" "$DB")
out=$(HOIST_ROOT="$T/a" "$H" push --progress quiet "$P/multi/img:1" 2>"$T/err"); st=$?
{ [ $st -eq 0 ] && [ "$out" = "$DI" ]; }; ok_if $? "push an index"
[ $st -eq 0 ] || diag "$(cat "$T/err")"
$SK inspect --raw --tls-verify=false "docker://$R/multi/img:1" | grep -q '"manifests"'
check "skopeo sees an index" [ $? -eq 0 ]
out=$(HOIST_ROOT="$T/d" "$H" pull --progress quiet --platform aarch64 "$R/multi/img:1" 2>"$T/err")
check "pull --platform aarch64 gives the index digest" [ "$out" = "$DI" ]
check "the arm64 manifest was fetched" [ -f "$T/d/blobs/sha256/${DB#sha256:}" ]
check "the amd64 one was not" [ ! -f "$T/d/blobs/sha256/${DA#sha256:}" ]
HOIST_ROOT="$T/d" "$H" pull --progress quiet --platform linux/s390x "$R/multi/img:1" >/dev/null 2>"$T/err"
{ [ $? -eq 1 ] && grep -q "s390x" "$T/err"; }; ok_if $? "a platform the index lacks fails"
finish
