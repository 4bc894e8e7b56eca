#!/bin/sh
# The store commands against a store written by hand (blobs named by their
# sha256sum, tags.json, a cache record): images, tag, rmi, inspect,
# cache ls / prune / verify, with their exit statuses and output.
set -u
. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
has() { printf '%s\n' "$1" | grep -q -- "$2"; }
H=${HOIST_BIN:?}
command -v python3 >/dev/null || skip_all "python3 is needed to check JSON"

tmpdir T "${TMPDIR:-/tmp}/hoist-cli-store-XXXXXX"
S="$T/store"
h() { "$H" --root "$S" "$@"; }
mkdir -p "$S/blobs/sha256" "$T/w"

# put FILE: store FILE as a blob, print its digest
put() {
	d=$(sha256sum "$1" | cut -d' ' -f1)
	cp "$1" "$S/blobs/sha256/$d"
	echo "sha256:$d"
}
size() { wc -c <"$1" | tr -d ' '; }

# image NAME ARCH NLAYERS: writes layers, config, manifest; sets M_<NAME>, C_<NAME>, L1_<NAME>
image() {
	name=$1 arch=$2 nl=$3 layers="" diffs="" i=1
	while [ $i -le "$nl" ]; do
		printf 'layer %s %s content\n' "$name" "$i" >"$T/w/l"
		diff=$(sha256sum "$T/w/l" | cut -d' ' -f1)
		gzip -n -c "$T/w/l" >"$T/w/l.gz"
		ld=$(put "$T/w/l.gz"); ls=$(size "$T/w/l.gz")
		[ $i -eq 1 ] && eval "L1_$name=$ld"
		layers="$layers${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$ld\",\"size\":$ls}"
		diffs="$diffs${diffs:+,}\"sha256:$diff\""
		i=$((i+1))
	done
	printf '{"architecture":"%s","created":"2024-01-02T03:04:05Z","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
		"$arch" "$diffs" >"$T/w/c"
	cd_=$(put "$T/w/c"); cs=$(size "$T/w/c")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
		"$cd_" "$cs" "$layers" >"$T/w/m"
	md=$(put "$T/w/m")
	eval "M_$name=$md; C_$name=$cd_; MS_$name=$(size "$T/w/m")"
}

# --- an empty store -------------------------------------------------------
out=$(h images); st=$?
check_quiet "images on an empty store exits 0" [ $st -eq 0 ]
check_quiet "images prints the header" has "$out" "^REPOSITORY *TAG *IMAGE ID *CREATED *SIZE$"
check_quiet "images lists nothing" [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ]

# --- populate --------------------------------------------------------------
image a amd64 2
image b arm64 1
image c amd64 1
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"arm64","os":"linux"}}]}' \
	"$M_a" "$MS_a" "$M_b" "$MS_b" >"$T/w/i"
IDX=$(put "$T/w/i")
cat >"$S/tags.json" <<EOF
{
  "docker.io/library/busybox:latest": "$M_a",
  "docker.io/team/multi:1": "$IDX",
  "localhost:5000/solo/c:v2": "$M_c"
}
EOF
A_SIZE=$(python3 -c 'import json,sys; print(sum(l["size"] for l in json.load(open(sys.argv[1]))["layers"]))' "$S/blobs/sha256/${M_a#sha256:}")

out=$(h images); st=$?
check_quiet "images exits 0" [ $st -eq 0 ]
check_quiet "images shows busybox with its config digest as IMAGE ID" has "$out" "^busybox  *latest  *$(echo "${C_a#sha256:}" | cut -c1-12)  "
check_quiet "images shows the registry-qualified name" has "$out" "^localhost:5000/solo/c  *v2  *$(echo "${C_c#sha256:}" | cut -c1-12)"
check_quiet "images shows an index by its own digest" has "$out" "^team/multi  *1  *$(echo "${IDX#sha256:}" | cut -c1-12)"
check_quiet "images shows CREATED as an age" has "$out" "busybox .* ago "
check_quiet "images sorts by name" [ "$(printf '%s\n' "$out" | sed -n 2p | cut -d' ' -f1)" = "busybox" ]
out=$(h images --digests)
check_quiet "images --digests shows the manifest digest" has "$out" "busybox  *latest  *$M_a  "
out=$(h images -q)
check_quiet "images -q prints short IDs only" [ "$(printf '%s\n' "$out" | head -1)" = "$(echo "${C_a#sha256:}" | cut -c1-12)" ]
check_quiet "images -q prints one line per image" [ "$(printf '%s\n' "$out" | wc -l)" -eq 3 ]
out=$(h images --format json | head -1)
check_quiet "images --format json has the fields" python3 -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["Repository"] == "busybox" and o["Tag"] == "latest", o
assert o["Digest"] == sys.argv[2] and o["ID"] == sys.argv[3][7:19], o
assert o["SizeBytes"] == int(sys.argv[4]) and o["CreatedAt"] == "2024-01-02T03:04:05Z", o
assert o["Name"] == "docker.io/library/busybox:latest", o
' "$out" "$M_a" "$C_a" "$A_SIZE"
out=$(h images --format yaml 2>&1); st=$?
check_quiet "images --format yaml is a usage error" [ $st -eq 2 ]
out=$(HOIST_ROOT="$S" "$H" images -q); st=$?
[ $st -eq 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 3 ]; ok_if $? "HOIST_ROOT selects the store"

# --- tag ------------------------------------------------------------------
check_quiet "tag busybox myrepo/app:v1" h tag busybox myrepo/app:v1
check_quiet "tags.json has the normalized new name" grep -q "\"docker.io/myrepo/app:v1\": \"$M_a\"" "$S/tags.json"
check_quiet "tag by image ID prefix" h tag "$(echo "${C_c#sha256:}" | cut -c1-10)" byid
check_quiet "tag by image ID prefix points at the manifest" grep -q "\"docker.io/library/byid:latest\": \"$M_c\"" "$S/tags.json"
check_quiet "tag by full manifest digest" h tag "$M_b" armonly:x
check_quiet "tag by sha256: prefix" h tag "sha256:$(echo "${IDX#sha256:}" | cut -c1-8)" multi2
check_quiet "tag by name@digest" h tag "whatever@$M_a" bydigest
out=$(h tag nope:1 x 2>&1); st=$?
check_quiet "tag of an unknown image exits 1" [ $st -eq 1 ]
check_quiet "tag of an unknown image says so" has "$out" "no such image 'nope:1'"
out=$(h tag busybox Bad/Name 2>&1); st=$?
[ $st -eq 1 ] && has "$out" "lowercase"; ok_if $? "tag to an invalid name exits 1"
out=$(h tag busybox "x@$M_a" 2>&1); st=$?
check_quiet "tag to a digest reference exits 1" [ $st -eq 1 ]
h tag busybox >/dev/null 2>&1; st=$?
check_quiet "tag with one argument exits 2" [ $st -eq 2 ]
out=$(h images)
check_quiet "images shows the new tags" has "$out" "^myrepo/app  *v1  *$(echo "${C_a#sha256:}" | cut -c1-12)"

# --- inspect ----------------------------------------------------------------
out=$(h inspect busybox); st=$?
check_quiet "inspect exits 0" [ $st -eq 0 ]
check_quiet "inspect prints name, digest, manifest and config" python3 -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["Name"] == "docker.io/library/busybox:latest", o["Name"]
assert o["Digest"] == sys.argv[2]
assert o["MediaType"] == "application/vnd.oci.image.manifest.v1+json"
assert len(o["Manifest"]["layers"]) == 2
assert o["Manifest"]["config"]["digest"] == sys.argv[3]
assert o["Config"]["architecture"] == "amd64" and o["Config"]["config"]["Cmd"] == ["sh"]
' "$out" "$M_a" "$C_a"
out=$(h inspect team/multi:1); st=$?
check_quiet "inspect of an index prints each platform" python3 -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["MediaType"] == "application/vnd.oci.image.index.v1+json"
assert o["Index"]["manifests"][0]["digest"] == sys.argv[2]
ms = o["Manifests"]
assert [m["Platform"]["architecture"] for m in ms] == ["amd64", "arm64"]
assert ms[1]["Digest"] == sys.argv[3] and ms[1]["Config"]["architecture"] == "arm64"
assert len(ms[0]["Manifest"]["layers"]) == 2
' "$out" "$M_a" "$M_b"
out=$(h inspect "$(echo "${C_a#sha256:}" | cut -c1-12)"); st=$?
check_quiet "inspect by image ID" python3 -c 'import json,sys; assert json.loads(sys.argv[1])["Digest"] == sys.argv[2]' "$out" "$M_a"
out=$(h inspect nope 2>&1); st=$?
[ $st -eq 1 ] && has "$out" "no such image 'nope'"; ok_if $? "inspect of an unknown image exits 1"
h inspect >/dev/null 2>&1; st=$?
check_quiet "inspect without a name exits 2" [ $st -eq 2 ]

# --- cache verify on a sound store -----------------------------------------
out=$(h cache verify); st=$?
[ $st -eq 0 ] && has "$out" "is sound"; ok_if $? "cache verify of a sound store exits 0"

# --- cache ls ------------------------------------------------------------------
KEY=$(printf 'a cache key' | sha256sum | cut -d' ' -f1)
mkdir -p "$S/cache/$(echo "$KEY" | cut -c1-2)"
printf '{"layer":{"digest":"%s"},"diff_id":"sha256:%s","again":"%s"}' "$L1_c" "$KEY" "$L1_c" \
	>"$S/cache/$(echo "$KEY" | cut -c1-2)/$KEY"
L1C_SIZE=$(size "$S/blobs/sha256/${L1_c#sha256:}")
out=$(h cache ls); st=$?
check_quiet "cache ls exits 0" [ $st -eq 0 ]
check_quiet "cache ls shows the record with its blob size" has "$out" "^$(echo "$KEY" | cut -c1-12)  *${L1C_SIZE}B  *"
out=$(h cache ls --no-trunc -q)
check_quiet "cache ls -q --no-trunc prints the whole key" [ "$out" = "sha256:$KEY" ]

# --- rmi --------------------------------------------------------------------------
out=$(h rmi myrepo/app:v1); st=$?
check_quiet "rmi exits 0" [ $st -eq 0 ]
check_quiet "rmi prints what it untagged" [ "$out" = "untagged: myrepo/app:v1" ]
check_quiet "rmi removed the tag" sh -c "! grep -q myrepo/app '$S/tags.json'"
check_quiet "rmi keeps the blobs" [ -f "$S/blobs/sha256/${M_a#sha256:}" ]
out=$(h rmi myrepo/app:v1 2>&1); st=$?
[ $st -eq 1 ] && has "$out" "no such image 'myrepo/app:v1'"; ok_if $? "rmi of a missing name exits 1"
out=$(h rmi nothere bydigest 2>&1); st=$?
check_quiet "rmi with one missing name exits 1 ..." [ $st -eq 1 ]
check_quiet "... and still removes the others" sh -c "! grep -q bydigest '$S/tags.json'"
h rmi >/dev/null 2>&1; st=$?
check_quiet "rmi without names exits 2" [ $st -eq 2 ]

# --- cache prune -------------------------------------------------------------------
# c is tagged twice (solo/c:v2, byid) and its layer is in a cache record
out=$(h rmi localhost:5000/solo/c:v2 byid); st=$?
[ $st -eq 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 2 ]; ok_if $? "rmi two names"
: >"$T/w/loose"; echo loose >"$T/w/loose"; LOOSE=$(put "$T/w/loose")
out=$(h cache prune); st=$?
check_quiet "cache prune exits 0" [ $st -eq 0 ]
check_quiet "cache prune reports what it freed" has "$out" "^deleted 3 blobs, 0 snapshots, 0 cache records$"
check_quiet "cache prune prints the space" has "$out" "^total reclaimed space: [0-9.]*[kM]*B$"
check_quiet "the loose blob is gone" [ ! -e "$S/blobs/sha256/${LOOSE#sha256:}" ]
[ ! -e "$S/blobs/sha256/${M_c#sha256:}" ] && [ ! -e "$S/blobs/sha256/${C_c#sha256:}" ]; ok_if $? "c's manifest and config are gone"
check_quiet "c's layer stays: a cache record uses it" [ -e "$S/blobs/sha256/${L1_c#sha256:}" ]
[ -e "$S/blobs/sha256/${M_b#sha256:}" ] && [ -e "$S/blobs/sha256/${L1_a#sha256:}" ]; ok_if $? "a and b stay: the index uses them"
out=$(h cache prune --all); st=$?
[ $st -eq 0 ] && has "$out" "^deleted 1 blob, 0 snapshots, 1 cache record$"; ok_if $? "cache prune --all drops the record and its layer"
out=$(h cache verify); st=$?
check_quiet "the store verifies after pruning" [ $st -eq 0 ]

# --- cache verify finds problems ---------------------------------------------------
f="$S/blobs/sha256/${L1_a#sha256:}"
cp "$f" "$T/w/saved"
printf 'X' | dd of="$f" bs=1 seek=3 conv=notrunc 2>/dev/null
out=$(h cache verify 2>"$T/w/err"); st=$?
check_quiet "cache verify of a corrupt blob exits 1" [ $st -eq 1 ]
check_quiet "cache verify names the corrupt blob" has "$out" "blob '$L1_a' is corrupt"
check_quiet "cache verify's error says how many problems" grep -q "has 1 problem" "$T/w/err"
cp "$T/w/saved" "$f"
rm "$S/blobs/sha256/${M_b#sha256:}"
cat >"$S/tags.json" <<EOF
{"docker.io/library/gone:latest": "$M_b", "docker.io/team/multi:1": "$IDX"}
EOF
out=$(h cache verify 2>/dev/null); st=$?
[ $st -eq 1 ] && has "$out" "tag 'docker.io/library/gone:latest': blob '$M_b' is missing"; ok_if $? "cache verify of a tag pointing at a missing blob exits 1"
touch "$S/tmp/blob-leftover"
out=$(h cache verify 2>/dev/null); st=$?
check_quiet "cache verify reports a leftover temp file" has "$out" "leftover: temporary file 'tmp/blob-leftover'"

# --- usage -----------------------------------------------------------------------------
for c in ls prune verify; do
	h cache $c --help >/dev/null 2>&1; st=$?
	check_quiet "cache $c --help exits 0" [ $st -eq 0 ]
	h cache $c --bogus >/dev/null 2>&1; st=$?
	check_quiet "cache $c --bogus exits 2" [ $st -eq 2 ]
done
h cache >/dev/null 2>&1; st=$?
check_quiet "cache without a command exits 2" [ $st -eq 2 ]
h cache frobnicate >/dev/null 2>&1; st=$?
check_quiet "cache with an unknown command exits 2" [ $st -eq 2 ]

finish
