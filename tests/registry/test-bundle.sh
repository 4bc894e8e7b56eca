#!/bin/sh
# A bundle carried across the gap: made in one store from a loopback
# "public" registry (a two-platform index and two more images sharing its
# layers), carried as one file, synced into an internal registry from
# another store. A sync killed with SIGKILL mid-upload resumes: the next one
# uploads only the blobs that are missing (counted at the recording proxy),
# and every digest is the public one. A corrupted bundle (a flipped byte in
# a blob, a truncated file, a manifest naming a blob that is not there, an
# index missing a platform) is refused naming the blob, with nothing pushed
# and nothing tagged. TAP output.
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"

AP=$(free_port); BP=$(free_port); PP=$(free_port)
start_registry "$T/a-reg" plain "$AP" || skip_all "docker-registry did not start"
start_registry "$T/b-reg" plain "$BP" || skip_all "second docker-registry did not start"
start_proxy "$T/b-reg" "$PP" "$BP" || skip_all "proxy did not start"
A=127.0.0.1:$AP   # the "public" registry
B=127.0.0.1:$BP   # the internal registry
PB=127.0.0.1:$PP  # the internal registry through the recording proxy
SK="skopeo --policy /etc/containers/policy.json"
raw_digest() { echo "sha256:$($SK inspect --raw --tls-verify=false "$1" 2>/dev/null | sha256sum | cut -d' ' -f1)"; }
faults() { echo "$1" >"$T/b-reg/faults.json"; }
# Blob bodies the registry took (a held or dropped upload is not one).
uploads() { awk '$2 ~ /\/blobs\/uploads\// && $3 > 0 && $4 ~ /^20[12]$/' "$T/b-reg/proxy.log" | wc -l; }

# The public side: an index (amd64, arm64) and two images sharing layers.
mklayer "$T/base.tgz" 192
mklayer "$T/amd.tgz" 96
mklayer "$T/arm.tgz" 64
mklayer "$T/app.tgz" 32
export HOIST_ROOT="$T/pub"
DA=$("$MK" "$T/pub" "$A/lib/base:amd64" linux/amd64 "$T/base.tgz" "$T/amd.tgz")
DB=$("$MK" "$T/pub" "$A/lib/base:arm64" linux/arm64/v8 "$T/base.tgz" "$T/arm.tgz")
DI=$("$MK" --index "$T/pub" "$A/lib/base:1" "$DA" "$DB")
DP=$("$MK" "$T/pub" "$A/lib/app:1" linux/amd64 "$T/base.tgz" "$T/amd.tgz" "$T/app.tgz")
DT=$("$MK" "$T/pub" "$A/tools/t:2" linux/amd64 "$T/base.tgz")
ok=0
for r in lib/base:1 lib/app:1 tools/t:2; do
	"$H" push --progress quiet "$A/$r" >/dev/null 2>"$T/err" || ok=1
done
check "seeded the public registry (an index and two images sharing layers)" [ $ok = 0 ]

# Connected side: a fresh store makes the bundle from the registry.
HOIST_ROOT="$T/conn" "$H" sync "$A/lib/base:1" "docker://$A/lib/app:1" "$A/tools/t:2" \
	--to "oci-archive:$T/bundle.tar" >"$T/out" 2>"$T/err"; st=$?
check "sync three images to one bundle file" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(cat "$T/err")"
is "$(raw_digest "oci-archive:$T/bundle.tar:1")" "$DI" "the bundle holds the index by its digest"
# The distinct blobs of the three images: layers and configs, shared ones once.
TOTAL=$($PY - "$T/bundle.tar" <<'EOF'
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
blob = lambda d: json.load(t.extractfile("blobs/sha256/" + d.split(":")[1]))
seen = set()
def walk(d):
    m = blob(d)
    if "manifests" in m:
        for c in m["manifests"]:
            walk(c["digest"])
    else:
        seen.update([m["config"]["digest"]] + [l["digest"] for l in m["layers"]])
for e in json.load(t.extractfile("index.json"))["manifests"]:
    walk(e["digest"])
print(len(seen))
EOF
)
check "the bundle holds $TOTAL distinct blobs (7 expected: 4 layers, 3+1 configs minus shared)" \
	[ "$TOTAL" -ge 7 ]

# Air-gapped side: SIGKILL in the middle of the upload into the internal
# registry. The proxy forwards 2 blob uploads and holds the next ones.
export HOIST_ROOT="$T/gap"
faults '{"stall_uploads_after": 2}'
: >"$T/b-reg/proxy.log"
"$H" sync "oci-archive:$T/bundle.tar" --to "docker://$PB/mirror" >"$T/out1" 2>"$T/err1" &
pid=$!
for _ in $(seq 1 300); do
	grep -q " STALL\$" "$T/b-reg/proxy.log" && break
	sleep 0.1
done
sleep 0.5
kill -9 "$pid" 2>/dev/null
wait "$pid"; st=$?
check "the first sync was killed mid-transfer (status $st)" [ $st -eq 137 ]
first=$(uploads)
is "$first" 2 "... after exactly 2 blobs reached the registry"
$SK inspect --raw --tls-verify=false "docker://$B/mirror/lib/base:1" >/dev/null 2>&1
check "... and the index is not tagged there" [ $? -ne 0 ]

faults '{}'
: >"$T/b-reg/proxy.log"
"$H" sync "oci-archive:$T/bundle.tar" --to "docker://$PB/mirror" >"$T/out2" 2>"$T/err2"; st=$?
check "the next sync completes" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(cat "$T/err2")"
second=$(uploads)
is "$second" "$((TOTAL - 2))" "... uploading only the $((TOTAL - 2)) blobs that were missing"
is "$(raw_digest "docker://$B/mirror/lib/base:1")" "$DI" "the index keeps its digest"
is "$(raw_digest "docker://$B/mirror/lib/base@$DB")" "$DB" "... and so does its arm64 manifest"
is "$(raw_digest "docker://$B/mirror/lib/app:1")" "$DP" "the second image keeps its digest"
is "$(raw_digest "docker://$B/mirror/tools/t:2")" "$DT" "the third image keeps its digest"
out=$(HOIST_ROOT="$T/pull" "$H" pull --all-platforms --progress quiet "$B/mirror/lib/base:1" 2>"$T/err")
is "$out" "$DI" "pulled back from the internal registry: the public digest, end to end"
: >"$T/b-reg/proxy.log"
"$H" sync "oci-archive:$T/bundle.tar" --to "docker://$PB/mirror" >/dev/null 2>"$T/err"
st=$?
check "a third sync succeeds" [ $st -eq 0 ]
is "$(uploads)" 0 "... and uploads nothing"

# Corrupted bundles. Each is synced from a fresh store into its own prefix:
# refused, naming the blob, with no tag in the store and nothing in the
# registry.
refused() { # NAME BUNDLE BLOB DESCRIPTION
	HOIST_ROOT="$T/c-$1" "$H" sync "oci-archive:$2" --to "docker://$B/$1" >/dev/null \
		2>"$T/err-$1"; st=$?
	check "$4: refused" [ $st -eq 1 ]
	[ $st -eq 1 ] || diag "$(cat "$T/err-$1")"
	check "... naming blob $3" grep -q "$3" "$T/err-$1"
	[ -z "$3" ] || grep -q "$3" "$T/err-$1" || diag "$(cat "$T/err-$1")"
	check "... tagging nothing in the store" \
		[ "$(HOIST_ROOT="$T/c-$1" "$H" images -q 2>/dev/null | wc -l)" = 0 ]
	repos=$(curl -s "http://$B/v2/_catalog" | grep -c "\"$1/")
	check "... and pushing nothing" [ "$repos" = 0 ]
}
# A flipped byte in the middle of the largest blob (the shared base layer).
big=$($PY - "$T/bundle.tar" "$T/flip.tar" <<'EOF'
import shutil, sys, tarfile
t = tarfile.open(sys.argv[1])
m = max((m for m in t.getmembers() if m.name.startswith("blobs/")), key=lambda m: m.size)
shutil.copy(sys.argv[1], sys.argv[2])
with open(sys.argv[2], "r+b") as f:
    f.seek(m.offset_data + m.size // 2)
    b = f.read(1)
    f.seek(m.offset_data + m.size // 2)
    f.write(bytes([b[0] ^ 0x01]))
print("sha256:" + m.name.split("/")[-1])
EOF
)
refused flip "$T/flip.tar" "$big" "a flipped byte in a blob of the bundle"

# Truncated in the middle of that same blob.
$PY - "$T/bundle.tar" "$T/trunc.tar" <<'EOF'
import sys, tarfile
t = tarfile.open(sys.argv[1])
m = max((m for m in t.getmembers() if m.name.startswith("blobs/")), key=lambda m: m.size)
data = open(sys.argv[1], "rb").read()
open(sys.argv[2], "wb").write(data[:m.offset_data + m.size // 2])
EOF
refused trunc "$T/trunc.tar" "$big" "a bundle truncated inside a blob"

# A manifest naming a layer the bundle does not carry (the app layer).
app=$($PY - "$T/bundle.tar" "$T/nolayer.tar" <<'EOF'
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
idx = json.load(t.extractfile("index.json"))
app = [e for e in idx["manifests"]
       if e.get("annotations", {}).get("io.containerd.image.name", "").endswith("lib/app:1")][0]
m = json.load(t.extractfile("blobs/sha256/" + app["digest"].split(":")[1]))
gone = m["layers"][-1]["digest"]
out = tarfile.open(sys.argv[2], "w")
for x in t.getmembers():
    if x.name != "blobs/sha256/" + gone.split(":")[1]:
        out.addfile(x, t.extractfile(x) if x.isfile() else None)
out.close()
print(gone)
EOF
)
refused nolayer "$T/nolayer.tar" "$app" "a manifest naming a blob missing from the bundle"

# An index whose arm64 manifest is not in the bundle.
$PY - "$T/bundle.tar" "$T/noarm.tar" "$DB" <<'EOF'
import sys, tarfile
t = tarfile.open(sys.argv[1])
out = tarfile.open(sys.argv[2], "w")
for x in t.getmembers():
    if x.name != "blobs/sha256/" + sys.argv[3].split(":")[1]:
        out.addfile(x, t.extractfile(x) if x.isfile() else None)
out.close()
EOF
HOIST_ROOT="$T/c-noarm" "$H" sync "oci-archive:$T/noarm.tar" --to "docker://$B/noarm" \
	>/dev/null 2>"$T/err"; st=$?
check "an index missing a platform: refused" [ $st -eq 1 ]
check "... naming the platform and the index" grep -q "platform linux/arm64/v8 of the index is missing" "$T/err"
[ $st -eq 1 ] || diag "$(cat "$T/err")"
check "... and pushing nothing" [ "$(curl -s "http://$B/v2/_catalog" | grep -c '"noarm/')" = 0 ]

finish
