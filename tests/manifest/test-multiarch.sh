#!/bin/sh
# Multi-arch indexes end to end: the busybox-static fixture for amd64, arm64
# and armhf joined by `hoist manifest create`, inspected, saved, pushed to
# Debian's docker-registry on 127.0.0.1, read back with skopeo, pulled for
# one platform into a fresh store; manifest-tool specs joining tags pushed
# separately; and a qemu-user sanity check for the sandbox work.
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"
need python3 dpkg-deb flock
MA=$HOIST_SRCDIR/tests/lib/mkmultiarch.sh
SK="skopeo --override-os linux"

# jq-less JSON checks: jget FILE PYTHON-EXPR (d is the document)
jget() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# ---- the fixture ----------------------------------------------------------
rc=0
HOIST_BIN=$H "$MA" "$T/store" localhost/bb >"$T/idx.digest" 2>"$T/ma.err" || rc=$?
if [ $rc -eq 77 ]; then
	cat "$T/ma.err" >&2
	skip_all "busybox-static .debs neither cached nor downloadable"
fi
check "mkmultiarch.sh makes the fixture" test $rc -eq 0
[ $rc -eq 0 ] || { diag "$(cat "$T/ma.err")"; finish; }
IDX=$(cat "$T/idx.digest")

$H manifest inspect localhost/bb >"$T/local.json"
check "local index has three entries" \
	test "$(jget "$T/local.json" 'len(d["manifests"])')" = 3
plats=$(jget "$T/local.json" '" ".join("/".join([m["platform"]["os"], m["platform"]["architecture"]] + ([m["platform"]["variant"]] if "variant" in m["platform"] else [])) for m in d["manifests"])')
check "entries labelled linux/amd64 linux/arm64 linux/arm/v7 ($plats)" \
	test "$plats" = "linux/amd64 linux/arm64 linux/arm/v7"
check "index media type is OCI" \
	test "$(jget "$T/local.json" 'd["mediaType"]')" = application/vnd.oci.image.index.v1+json
amd=$($H manifest inspect --raw localhost/bb:amd64 | sha256sum | cut -d' ' -f1)
check "first entry is the amd64 image" \
	test "$(jget "$T/local.json" 'd["manifests"][0]["digest"]')" = "sha256:$amd"
$H manifest inspect --raw localhost/bb | sha256sum | cut -d' ' -f1 >"$T/raw.sum"
check "--raw prints the stored bytes" test "sha256:$(cat "$T/raw.sum")" = "$IDX"

# Docker manifest list and annotations
$H manifest create --format docker localhost/bb:list localhost/bb:amd64 localhost/bb:arm64 \
	>/dev/null
check "--format docker writes a manifest list" test "$($H manifest inspect localhost/bb:list |
	jget /dev/stdin 'd["mediaType"]')" = application/vnd.docker.distribution.manifest.list.v2+json
$H manifest create --annotation org.opencontainers.image.source=https://example.org/bb \
	localhost/bb:ann localhost/bb:amd64 >/dev/null
check "--annotation lands in the index" test "$($H manifest inspect localhost/bb:ann |
	jget /dev/stdin 'd["annotations"]["org.opencontainers.image.source"]')" = https://example.org/bb
$H manifest create localhost/bb:dup localhost/bb:arm64 localhost/bb:arm64 >/dev/null
check "the same image twice is listed once" test "$($H manifest inspect localhost/bb:dup |
	jget /dev/stdin 'len(d["manifests"])')" = 1
$H manifest create localhost/bb:flat localhost/bb:latest >/dev/null
check "an index as a REF is flattened" test "$($H manifest inspect localhost/bb:flat |
	jget /dev/stdin 'len(d["manifests"])')" = 3
rc=0; $H manifest create localhost/bb:x localhost/bb:nope 2>"$T/err" || rc=$?
check "unknown REF fails with exit 1" test $rc -eq 1
rc=0; $H manifest create --format xml localhost/bb:x localhost/bb:amd64 2>/dev/null || rc=$?
check "unknown --format is a usage error" test $rc -eq 2
rc=0; $H manifest create --format docker --annotation a=b localhost/bb:x localhost/bb:amd64 \
	2>"$T/err" || rc=$?
check "annotations on a Docker list are refused" test $rc -eq 1

# ---- save: the OCI layout and docker-archive carry the index ---------------
$H save --format oci -o "$T/multi.tar" localhost/bb:latest
check "hoist save --format oci of the index" test -s "$T/multi.tar"
$SK inspect --raw "oci-archive:$T/multi.tar" >"$T/saved.json" 2>"$T/err" || diag "$(cat "$T/err")"
check "the saved layout's image is the index" \
	test "$(jget "$T/saved.json" 'len(d.get("manifests", []))')" = 3
mkdir -p "$T/lay" && tar -C "$T/lay" -xf "$T/multi.tar"
for d in $(jget "$T/local.json" '" ".join(m["digest"][7:] for m in d["manifests"])'); do
	[ -f "$T/lay/blobs/sha256/$d" ] || nok "saved layout lacks manifest $d"
done
check "every platform's manifest is in the saved layout" true
$H save -o "$T/docker.tar" localhost/bb:latest
check "hoist save (docker format) of the index" test -s "$T/docker.tar"

# ---- push to a real registry -----------------------------------------------
P=$(free_port)
start_registry "$T/reg" plain "$P" || { nok "registry starts"; finish; }
R=127.0.0.1:$P
$H manifest push --progress quiet localhost/bb:latest "$R/multi:latest" >"$T/pushed" 2>"$T/err"
check "manifest push exits 0" test $? -eq 0
check "pushed digest is the local index's" test "$(cat "$T/pushed")" = "$IDX"
$SK inspect --tls-verify=false --raw "docker://$R/multi:latest" >"$T/remote.json"
check "skopeo: one index with three entries" \
	test "$(jget "$T/remote.json" 'len(d["manifests"])')" = 3
rplats=$(jget "$T/remote.json" '" ".join("/".join([m["platform"]["os"], m["platform"]["architecture"]] + ([m["platform"]["variant"]] if "variant" in m["platform"] else [])) for m in d["manifests"])')
check "skopeo: entries labelled ($rplats)" test "$rplats" = "linux/amd64 linux/arm64 linux/arm/v7"
check "skopeo: same bytes as the local index" \
	test "sha256:$(sha256sum <"$T/remote.json" | cut -d' ' -f1)" = "$IDX"
$SK inspect --tls-verify=false --override-arch arm --override-variant v7 \
	"docker://$R/multi:latest" >"$T/sk-arm.json"
# (this skopeo prints no Variant; the pull below checks the variant)
check "skopeo resolves arm/v7 to the arm image" \
	test "$(jget "$T/sk-arm.json" 'd["Architecture"]')" = arm
$H manifest inspect "docker://$R/multi:latest" >"$T/ri.json"
check "manifest inspect docker://" test "$(jget "$T/ri.json" 'len(d["manifests"])')" = 3

# pull one platform into a fresh store
HOIST_ROOT=$T/store2 $H pull --progress quiet --platform linux/arm/v7 "$R/multi:latest" \
	>/dev/null 2>"$T/err"
check "pull --platform linux/arm/v7 into a fresh store" test $? -eq 0
HOIST_ROOT=$T/store2 $H inspect "$R/multi:latest" >"$T/pulled.json"
got=$(jget "$T/pulled.json" '",".join(m["Config"]["architecture"] + "/" + m["Config"].get("variant", "") for m in d["Manifests"] if m.get("Config"))')
check "the pulled image is arm/v7 and only that ($got)" test "$got" = "arm/v7"
HOIST_ROOT=$T/store2 $H pull --progress quiet --platform arm64/v8 "$R/multi:latest" >/dev/null
HOIST_ROOT=$T/store2 $H inspect "$R/multi:latest" >"$T/pulled.json"
got=$(jget "$T/pulled.json" '",".join(sorted(m["Config"]["architecture"] for m in d["Manifests"] if m.get("Config")))')
check "pull --platform arm64/v8 adds the arm64 image ($got)" test "$got" = "arm,arm64"
if [ "$(uname -m)" = x86_64 ]; then
	err=$(HOIST_ROOT=$T/store2 $H run "$R/multi:latest" true 2>&1)
	check "hoist run of the partly pulled index names what it holds and how to pull ($err)" \
		test "$err" = "hoist: image '$R/multi:latest' has no linux/amd64 image in the store: it holds linux/arm64, linux/arm/v7 (not pulled: linux/amd64); run one with 'hoist run --platform linux/arm64 $R/multi:latest', or 'hoist pull --platform linux/amd64 $R/multi:latest' fetches this one"
fi

# ---- manifest push --from-spec ----------------------------------------------
a=$($H push --progress quiet localhost/bb:amd64 "$R/spec:amd64")
b=$($H push --progress quiet localhost/bb:arm64 "$R/spec:arm64")
cat >"$T/spec.yml" <<EOF
image: $R/spec:latest
tags: ['1.0']
manifests:
  - image: $R/spec:amd64
    platform:
      architecture: amd64
      os: linux
  # no platform: read from the image config
  - image: $R/spec:arm64
EOF
# a fresh store: nothing may be pulled (no layers anywhere)
HOIST_ROOT=$T/store3 $H manifest push --progress quiet --from-spec "$T/spec.yml" \
	>"$T/spec.digest" 2>"$T/err"
rc=$?; [ $rc -eq 0 ] || diag "$(cat "$T/err")"
check "manifest push --from-spec exits 0" test $rc -eq 0
$SK inspect --tls-verify=false --raw "docker://$R/spec:latest" >"$T/spec.json"
check "spec index: two entries" test "$(jget "$T/spec.json" 'len(d["manifests"])')" = 2
check "spec index: digests equal the parts'" \
	test "$(jget "$T/spec.json" '" ".join(m["digest"] for m in d["manifests"])')" = "$a $b"
check "spec index: arm64 platform read from its config" \
	test "$(jget "$T/spec.json" 'd["manifests"][1]["platform"]["architecture"]')" = arm64
check "spec index digest printed" \
	test "sha256:$(sha256sum <"$T/spec.json" | cut -d' ' -f1)" = "$(cat "$T/spec.digest")"
$SK inspect --tls-verify=false --raw "docker://$R/spec:1.0" >"$T/spec10.json"
check "spec's extra tag names the same index" cmp -s "$T/spec.json" "$T/spec10.json"
check "no blob was pulled" test ! -d "$T/store3/blobs/sha256" -o -z "$(ls "$T/store3/blobs/sha256" 2>/dev/null)"

$H manifest push --progress quiet --annotation org.example.k=v --from-spec "$T/spec.yml" \
	>/dev/null 2>"$T/err"
$SK inspect --tls-verify=false --raw "docker://$R/spec:latest" >"$T/spec-ann.json"
check "--from-spec --annotation: OCI index with the annotation" \
	test "$(jget "$T/spec-ann.json" 'd["mediaType"] + " " + d["annotations"]["org.example.k"]')" = \
	"application/vnd.oci.image.index.v1+json v"

# parts in another repository of the registry: mounted, manifests linked in
c=$($H push --progress quiet localhost/bb:armhf "$R/other/bb:armhf")
cat >"$T/spec2.yml" <<EOF
image: $R/joined
manifests:
  - image: $R/spec:amd64
    platform: {architecture: amd64, os: linux}
  - image: $R/other/bb:armhf
    platform: {architecture: arm, os: linux, variant: v7}
EOF
$H manifest push --progress quiet --format docker --from-spec "$T/spec2.yml" >/dev/null 2>"$T/err"
rc=$?; [ $rc -eq 0 ] || diag "$(cat "$T/err")"
check "--from-spec with parts from other repositories" test $rc -eq 0
$SK inspect --tls-verify=false --raw "docker://$R/joined:latest" >"$T/j.json"
check "joined: Docker list with the parts' digests" \
	test "$(jget "$T/j.json" 'd["mediaType"] + " " + " ".join(m["digest"] for m in d["manifests"])')" = \
	"application/vnd.docker.distribution.manifest.list.v2+json $a $c"
$SK inspect --tls-verify=false --override-arch arm --override-variant v7 \
	"docker://$R/joined:latest" >/dev/null 2>"$T/err"
check "joined: the armhf image is complete in the new repository" test $? -eq 0

# failures: another registry, a missing part, a bad spec
printf 'image: %s/x\nmanifests:\n  - image: 127.0.0.2:1/y:z\n' "$R" >"$T/bad1.yml"
rc=0; $H manifest push --progress quiet --from-spec "$T/bad1.yml" 2>"$T/err" || rc=$?
check "a part on another registry is refused" \
	sh -c "[ $rc -eq 1 ] && grep -q 'another registry' '$T/err'"
printf 'image: %s/x\nmanifests:\n  - image: %s/spec:nope\n' "$R" "$R" >"$T/bad2.yml"
rc=0; $H manifest push --progress quiet --from-spec "$T/bad2.yml" 2>"$T/err" || rc=$?
check "a missing part fails" test $rc -eq 1
printf 'image: x\nmanifests:\n  - image: [y\n' >"$T/bad3.yml"
rc=0; $H manifest push --from-spec "$T/bad3.yml" 2>"$T/err" || rc=$?
check "bad YAML names the file and line" \
	sh -c "[ $rc -eq 1 ] && grep -q 'bad3.yml:[0-9]' '$T/err'"
rc=0; $H manifest push --format docker localhost/bb 2>/dev/null || rc=$?
check "--format without --from-spec is a usage error" test $rc -eq 2

# ---- qemu-user sanity for the sandbox work ----------------------------------
deb=$(ls "$HOIST_SRCDIR"/fixtures/cache/debs/busybox-static_*_arm64.deb 2>/dev/null | tail -n 1)
if command -v qemu-aarch64-static >/dev/null && [ -n "$deb" ]; then
	mkdir -p "$T/qa" && dpkg-deb -x "$deb" "$T/qa"
	check "arm64 busybox runs under qemu-aarch64-static" \
		test "$(qemu-aarch64-static "$T/qa/bin/busybox" uname -m)" = aarch64
	deb=$(ls "$HOIST_SRCDIR"/fixtures/cache/debs/busybox-static_*_armhf.deb | tail -n 1)
	mkdir -p "$T/qh" && dpkg-deb -x "$deb" "$T/qh"
	check "armhf busybox runs under qemu-arm-static" \
		test "$(qemu-arm-static "$T/qh/bin/busybox" uname -m)" = armv7l
else
	skip_or_fail "qemu-user-static is not installed"
fi

finish
