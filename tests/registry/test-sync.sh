#!/bin/sh
# hoist sync: registry -> registry, -> OCI layout dir and archive, and back,
# with every platform of an index and digests unchanged (skopeo checks);
# a second sync uploads no blob bodies (HEAD); a corrupt blob in a layout is
# refused. TAP output.
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"

AP=$(free_port); BP=$(free_port); PP=$(free_port)
start_registry "$T/a-reg" plain "$AP" || skip_all "docker-registry did not start"
start_registry "$T/b-reg" plain "$BP" || skip_all "second docker-registry did not start"
start_proxy "$T/b-reg" "$PP" "$BP" || skip_all "proxy did not start"
A=127.0.0.1:$AP    # the source registry
B=127.0.0.1:$BP    # the destination
PB=127.0.0.1:$PP   # the destination through the recording proxy
SK="skopeo --policy /etc/containers/policy.json"
raw_digest() { echo "sha256:$($SK inspect --raw --tls-verify=false "$1" 2>/dev/null | sha256sum | cut -d' ' -f1)"; }

# A two-platform index and a single image in the source registry.
mklayer "$T/amd.tgz" 256
mklayer "$T/arm.tgz" 128
DA=$(HOIST_ROOT="$T/a" "$MK" "$T/a" "$A/multi/img:amd64" linux/amd64 "$T/amd.tgz")
DB=$(HOIST_ROOT="$T/a" "$MK" "$T/a" "$A/multi/img:arm64" linux/arm64/v8 "$T/arm.tgz")
DI=$(HOIST_ROOT="$T/a" "$MK" --index "$T/a" "$A/multi/img:1" "$DA" "$DB")
DS=$(HOIST_ROOT="$T/a" "$MK" "$T/a" "$A/single/app:2" linux/amd64 "$T/amd.tgz")
HOIST_ROOT="$T/a" "$H" push --progress quiet "$A/multi/img:1" >/dev/null 2>&1 &&
	HOIST_ROOT="$T/a" "$H" push --progress quiet "$A/single/app:2" >/dev/null 2>&1
check "seeded the source registry" [ $? -eq 0 ]

# registry -> registry, all platforms, digests kept.
export HOIST_ROOT="$T/s1"
: >"$T/b-reg/proxy.log"
"$H" sync "docker://$A/multi/img:1" "$A/single/app:2" --to "docker://$PB/mirror" \
	>"$T/out" 2>"$T/err"; st=$?
check "sync two images to another registry" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(cat "$T/err")"
check "it prints what went where" grep -q "^$DI $A/multi/img:1 -> $PB/mirror/multi/img:1\$" "$T/out"
is "$(raw_digest "docker://$B/mirror/multi/img:1")" "$DI" "the index keeps its digest"
is "$(raw_digest "docker://$B/mirror/multi/img@$DB")" "$DB" "the arm64 manifest is there too"
is "$(raw_digest "docker://$B/mirror/single/app:2")" "$DS" "the single image keeps its digest"
check "blobs were uploaded the first time" [ "$(blob_bodies "$T/b-reg/proxy.log")" -gt 0 ]

: >"$T/b-reg/proxy.log"
"$H" sync "$A/multi/img:1" --to "docker://$PB/mirror" >/dev/null 2>"$T/err"
check "a second sync succeeds" [ $? -eq 0 ]
check "... and uploads no blob (HEAD found them all)" [ "$(blob_bodies "$T/b-reg/proxy.log")" = 0 ]

# registry -> OCI layout directory and archive, then back to a registry.
"$H" sync "$A/multi/img:1" "$A/single/app:2" --to "oci:$T/layout" >/dev/null 2>"$T/err"
check "sync to an OCI layout directory" [ $? -eq 0 ]
is "$(raw_digest "oci:$T/layout:1")" "$DI" "skopeo reads the index from the layout"
"$H" sync "$A/multi/img:1" --to "oci-archive:$T/multi.tar" >/dev/null 2>"$T/err"
check "sync to an OCI archive" [ $? -eq 0 ]
is "$(raw_digest "oci-archive:$T/multi.tar:1")" "$DI" "skopeo reads the index from the archive"

HOIST_ROOT="$T/s2" "$H" sync "oci:$T/layout" --to "docker://$B/fromdir" >"$T/out" 2>"$T/err"; st=$?
check "sync an OCI layout (fresh store) to a registry" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(cat "$T/err")"
is "$(raw_digest "docker://$B/fromdir/multi/img:1")" "$DI" "... the index keeps its digest"
is "$(raw_digest "docker://$B/fromdir/single/app:2")" "$DS" "... and so does the image"
HOIST_ROOT="$T/s3" "$H" sync "oci-archive:$T/multi.tar" --to "docker://$B/fromtar" >/dev/null 2>"$T/err"
check "sync an OCI archive to a registry" [ $? -eq 0 ]
is "$(raw_digest "docker://$B/fromtar/multi/img@$DB")" "$DB" "... every platform"

# Every blob is verified: a corrupt layer in a layout is refused.
cp -r "$T/layout" "$T/bad"
blob=$(ls -S "$T/bad/blobs/sha256" | head -1)
chmod u+w "$T/bad/blobs/sha256/$blob"
$PY -c 'import sys
f = open(sys.argv[1], "r+b"); f.seek(100); b = f.read(1); f.seek(100); f.write(bytes([b[0] ^ 0xff]))' \
	"$T/bad/blobs/sha256/$blob"
HOIST_ROOT="$T/s4" "$H" sync "oci:$T/bad" --to "docker://$B/bad" >/dev/null 2>"$T/err"; st=$?
check "a corrupt blob fails the sync" [ $st -eq 1 ]
[ $st -eq 1 ] || diag "$(cat "$T/err"; ls -la "$T/bad/blobs/sha256"; echo "$blob")"
check "... naming its digest" grep -q "$blob" "$T/err"
$SK inspect --raw --tls-verify=false "docker://$B/bad/multi/img:1" >/dev/null 2>&1
check "... and nothing was pushed" [ $? -ne 0 ]

# Usage errors.
"$H" sync "$A/multi/img:1" >/dev/null 2>&1
check "no --to: usage error" [ $? -eq 2 ]
"$H" sync "$A/multi/img:1" --to "$B/x" >/dev/null 2>&1
check "a DEST without its kind: usage error" [ $? -eq 2 ]
HOIST_OFFLINE=1 "$H" sync "$A/multi/img:1" --to "oci:$T/off" >/dev/null 2>"$T/err"
check "offline: a registry source is refused" grep -q "hoist is offline" "$T/err"

finish
