#!/bin/sh
# Multi-platform builds (issue 6): `hoist build --platform
# linux/amd64,linux/arm64,linux/arm/v7` over the multi-arch busybox base of
# tests/lib/mkmultiarch.sh gives one index whose images ran their RUNs as
# x86_64, aarch64 and armv7l (foreign ones under qemu-user); the index is
# pushed to a loopback registry (skopeo sees three labelled entries) and
# `hoist pull --platform linux/arm/v7` of it into a fresh store gets the arm
# image. A cross-compiling Dockerfile (FROM --platform=$BUILDPLATFORM)
# runs its build stage natively for every target. --format docker writes a
# manifest list, --output type=oci the whole index. Then the same build as
# the unprivileged users hoistsub (subuid) and hoistnosub (single) through
# the private binfmt_misc path; the host's /proc/sys/fs/binfmt_misc must
# read the same afterwards. Needs root (test users). TAP.
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"
SRC=$HOIST_SRCDIR
BM=/proc/sys/fs/binfmt_misc
SK="skopeo --policy /etc/containers/policy.json"

"$SRC/tests/sandbox/users.sh" || skip_all "needs root to create the test users hoistsub/hoistnosub"
[ -x /usr/bin/qemu-aarch64-static ] && [ -x /usr/bin/qemu-arm-static ] ||
	skip_all "qemu-user-static is not installed (apt-get install qemu-user-static)"
command -v runuser >/dev/null || skip_all "runuser is not installed"

# The host's binfmt_misc as a string: mounted?, status, every entry.
host_state() {
	if grep -q " $BM binfmt_misc " /proc/mounts; then
		echo mounted
		for f in "$BM"/*; do echo "== $f"; cat "$f" 2>/dev/null; done
	else
		echo unmounted
	fi
}
before=$(host_state)
chmod 755 "$T"

export HOIST_BIN="$H"
"$SRC/tests/lib/mkmultiarch.sh" "$T/store" bb >/dev/null 2>"$T/ma.err"; st=$?
[ $st -eq 77 ] && skip_all "busybox-static .debs neither cached nor downloadable"
[ $st -eq 0 ] || { sed 's/^/# /' "$T/ma.err"; bail "mkmultiarch.sh failed"; }

PLATS=linux/amd64,linux/arm64,linux/arm/v7
mkdir -p "$T/arch" "$T/cross"
printf 'FROM bb\nRUN uname -m > /arch\n' >"$T/arch/Dockerfile"
cat >"$T/cross/Dockerfile" <<'EOF'
FROM --platform=$BUILDPLATFORM bb AS build
ARG TARGETARCH
RUN echo "built for $TARGETARCH on $(uname -m)" > /out

FROM bb
COPY --from=build /out /out
EOF

# index_platforms JSON-FILE: "mediaType os/arch[/variant] ..." of an index.
index_platforms() {
	$PY - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
out = [d.get("mediaType", "")]
for m in d.get("manifests", []):
    p = m.get("platform", {})
    out.append("/".join(x for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x))
print(" ".join(out))
EOF
}
OCI_IDX="application/vnd.oci.image.index.v1+json linux/amd64 linux/arm64 linux/arm/v7"
LIST_IDX="application/vnd.docker.distribution.manifest.list.v2+json linux/amd64 linux/arm64 linux/arm/v7"

# configs NAME: the config's architecture+variant per index entry ("-": absent).
configs() {
	"$H" inspect "$1" | $PY -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join((m["Config"]["architecture"] + m["Config"].get("variant", "")) if m.get("Config") else "-"
               for m in d["Manifests"]))'
}

# arches STORE-ENV-PREFIX IMAGE FILE: what FILE reads in each platform's image.
arches() {
	pre=$1 img=$2 file=$3 r=""
	for p in linux/amd64 linux/arm64 linux/arm/v7; do
		r="$r$($pre "$H" run --platform $p "$img" cat "$file" 2>&1)|"
	done
	echo "$r"
}

# ---- as root (the host's binfmt_misc entry when it has one) ----------------
RP=$(free_port)
start_registry "$T/reg" plain "$RP" || skip_all "docker-registry did not start"
R=127.0.0.1:$RP

t0=$(date +%s)
"$H" build --progress plain --platform "$PLATS" -t multi:1 -o "type=registry,name=$R/multi:1" \
	"$T/arch" >"$T/out" 2>"$T/err"; st=$?
check "root: build for three platforms and push ($(($(date +%s) - t0))s)" [ $st -eq 0 ]
[ $st -eq 0 ] || sed 's/^/# /' "$T/err"
idx=$(tail -n 1 "$T/out")
out=$(arches env multi:1 /arch)
check "root: /arch per platform ($out)" [ "$out" = "x86_64|aarch64|armv7l|" ]
check "root: progress names the platforms" grep -q '^\[linux/arm/v7 0 2/2\] RUN uname -m' "$T/err"
check "root: the arm RUNs were emulated" grep -q 'qemu-arm' "$T/err"
"$H" manifest inspect multi:1 >"$T/idx.json" 2>"$T/err"
out=$(index_platforms "$T/idx.json")
check "root: the index has three labelled entries ($out)" [ "$out" = "$OCI_IDX" ]
out=$(configs multi:1)
check "root: the configs name the platforms ($out)" [ "$out" = "amd64 arm64 armv7" ]
out=$("$H" inspect multi:1 | $PY -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')
check "root: -t names the index the build printed" [ "$out" = "$idx" ]

$SK inspect --raw --tls-verify=false "docker://$R/multi:1" >"$T/raw.json" 2>"$T/err"
check "skopeo reads the pushed tag" [ $? -eq 0 ]
out=$(index_platforms "$T/raw.json")
check "skopeo: one index with three labelled entries ($out)" [ "$out" = "$OCI_IDX" ]
out=sha256:$(sha256sum <"$T/raw.json" | cut -d' ' -f1)
check "skopeo: the pushed index is the built one" [ "$out" = "$idx" ]
$SK inspect --tls-verify=false --override-os linux --override-arch arm --override-variant v7 \
	"docker://$R/multi:1" >/dev/null 2>&1
check "skopeo: the arm/v7 image of the index is readable" [ $? -eq 0 ]

HOIST_ROOT="$T/fresh" "$H" pull --progress quiet --platform linux/arm/v7 "$R/multi:1" \
	>"$T/pulled" 2>"$T/err"
check "pull --platform linux/arm/v7 into a fresh store" [ $? -eq 0 ]
out=$(HOIST_ROOT="$T/fresh" "$H" run --platform linux/arm/v7 "$R/multi:1" cat /arch 2>&1)
check "the pulled image is the arm/v7 one ($out)" [ "$out" = armv7l ]
out=$(HOIST_ROOT="$T/fresh" configs "$R/multi:1")
check "only the arm/v7 image is in the fresh store ($out)" [ "$out" = "- - armv7" ]

# A cross-compiling Dockerfile: the build stage runs natively every time.
"$H" build --platform "$PLATS" -t cross:1 "$T/cross" >"$T/out" 2>"$T/err"; st=$?
check "cross: build" [ $st -eq 0 ]
[ $st -eq 0 ] || sed 's/^/# /' "$T/err"
out=$(arches env cross:1 /out)
check "cross: native build stage, per-platform TARGETARCH ($out)" \
	[ "$out" = "built for amd64 on x86_64|built for arm64 on x86_64|built for arm on x86_64|" ]
check "cross: the build stage's FROM is the build platform's" \
	grep -q '^\[linux/arm64 build 1/3\] FROM --platform=\$BUILDPLATFORM' "$T/err"
"$H" build --platform "$PLATS" -t cross:1 "$T/cross" >"$T/out2" 2>"$T/err"
check "cross: a rebuild is all cache hits, same index" \
	sh -c "[ \"\$(tail -n1 '$T/out')\" = \"\$(tail -n1 '$T/out2')\" ] && ! grep -v CACHED '$T/err' | grep -q ' RUN '"

# --format docker: a manifest list; one --platform: one image, no index.
"$H" build --platform "$PLATS" --format docker -t list:1 "$T/arch" >/dev/null 2>"$T/err"
check "--format docker: build" [ $? -eq 0 ]
"$H" manifest inspect list:1 >"$T/list.json" 2>/dev/null
out=$(index_platforms "$T/list.json")
check "--format docker writes a manifest list ($out)" [ "$out" = "$LIST_IDX" ]
"$H" build --platform arm64 -t one:1 "$T/arch" >/dev/null 2>"$T/err"
out=$("$H" inspect one:1 | $PY -c 'import json,sys; print(json.load(sys.stdin)["MediaType"])')
check "one --platform: a single image ($out)" [ "$out" = application/vnd.oci.image.manifest.v1+json ]
out=$("$H" run --platform linux/arm64 one:1 cat /arch)
check "one --platform arm64: /arch ($out)" [ "$out" = aarch64 ]
"$H" build --platform linux/arm64,aarch64 "$T/arch" >/dev/null 2>"$T/err"
check "a platform given twice (after normalisation) is refused" [ $? -eq 1 ]

# A single-platform base of another architecture: used, with a warning.
mkdir -p "$T/warn"
printf 'FROM bb:amd64\nRUN true\n' >"$T/warn/Dockerfile"
"$H" build --platform linux/amd64,linux/arm64 "$T/warn" >/dev/null 2>"$T/err"
check "a foreign single-platform base is used" [ $? -eq 0 ]
check "with one warning" [ "$(grep -c "base image 'bb:amd64' is for linux/amd64, not linux/arm64" "$T/err")" = 1 ]
printf 'FROM --platform=$NOPE bb\n' >"$T/warn/Dockerfile"
"$H" build "$T/warn" >/dev/null 2>"$T/err"; st=$?
check "FROM --platform expanding to nothing is an error" \
	sh -c "[ $st -ne 0 ] && grep -q \"Dockerfile:1: FROM --platform=''\" '$T/err'"

# --output type=oci: the index and all three images.
"$H" build --platform "$PLATS" -o "type=oci,dest=$T/layout" "$T/arch" >/dev/null 2>"$T/err"
check "--output type=oci" [ $? -eq 0 ]
out=$($PY - "$T/layout" <<'EOF'
import json, os, sys
L = sys.argv[1]
blob = lambda d: json.load(open(os.path.join(L, "blobs", *d.split(":"))))
top = json.load(open(os.path.join(L, "index.json")))["manifests"][0]
idx = blob(top["digest"])
arches = []
for m in idx["manifests"]:
    man = blob(m["digest"])
    cfg = blob(man["config"]["digest"])
    for l in man["layers"]:
        assert os.path.exists(os.path.join(L, "blobs", *l["digest"].split(":")))
    arches.append(cfg["architecture"] + cfg.get("variant", ""))
print(" ".join(arches))
EOF
)
check "the layout holds the index and three complete images ($out)" [ "$out" = "amd64 arm64 armv7" ]

check "root: host binfmt_misc unchanged" [ "$(host_state)" = "$before" ]

# ---- unprivileged users, private binfmt_misc (no host entry used) ----------
cache=${HOIST_DEB_CACHE:-$SRC/fixtures/cache/debs}
for a in amd64 arm64 armhf; do
	cp "$(ls "$cache"/busybox-static_*_"$a".rootfs-*.tar | sort | tail -n 1)" "$T/$a.tar"
done
chmod 644 "$T"/*.tar
chmod -R a+rX "$T/arch"
for m in subuid single; do
	case $m in subuid) u=hoistsub ;; single) u=hoistnosub ;; esac
	D="$T/$m"; mkdir -p "$D"; chown "$u": "$D"
	# HOIST_BINFMT=private: the private path even when the host has an entry.
	as() { runuser -u "$u" -- env -i PATH=/usr/bin:/bin HOME="$D" HOIST_ROOT="$D/store" \
		HOIST_BINFMT=private "$@"; }
	as "$H" import --platform linux/amd64 "$T/amd64.tar" bb:amd64 >/dev/null &&
		as "$H" import --platform linux/arm64 "$T/arm64.tar" bb:arm64 >/dev/null &&
		as "$H" import --platform linux/arm/v7 "$T/armhf.tar" bb:armhf >/dev/null &&
		as "$H" manifest create bb:latest bb:amd64 bb:arm64 bb:armhf >/dev/null
	check "$m: multi-arch base" [ $? -eq 0 ]
	t0=$(date +%s)
	as "$H" build --progress plain --identity "$m" --platform "$PLATS" -t multi:1 "$T/arch" \
		>"$D/out" 2>"$D/err"; st=$?
	check "$m: build for three platforms ($(($(date +%s) - t0))s)" [ $st -eq 0 ]
	[ $st -eq 0 ] || sed 's/^/# /' "$D/err"
	check "$m: private binfmt_misc path used" grep -q "private binfmt_misc entry 'qemu-aarch64'" "$D/err"
	out=$(arches as multi:1 /arch)
	check "$m: /arch per platform ($out)" [ "$out" = "x86_64|aarch64|armv7l|" ]
	check "$m: host binfmt_misc unchanged" [ "$(host_state)" = "$before" ]
done

finish
