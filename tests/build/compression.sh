#!/bin/sh
# --compression on cached steps (issue #13): a build whose steps are cache
# hits from a build in another compression (or level) gives the image a
# cold build in that compression gives, digest for digest, in both orders
# (gzip then zstd, zstd then gzip), and the layers are what their media
# types say (zstd -t / gzip -t, decompressed they hash to the diffIDs,
# skopeo copies the OCI layout). TAP output.
set -u
H=${HOIST_BIN:?}; SRC=${HOIST_SRCDIR:?}
. "$SRC/tests/lib/tap.sh"
mkbase=${HOIST_CORPORA:-}/buildkit-differential/base/mkbase.py
[ -f "$mkbase" ] || skip_all "no $mkbase"
[ -x /bin/busybox ] || skip_all "busybox-static is not installed"
for t in zstd gzip python3 skopeo; do
	command -v $t >/dev/null || skip_all "$t is not installed"
done
tmpdir T /tmp/hoist-compression-test.XXXXXX
base=$T/busybox-rootfs.tar
python3 "$mkbase" /bin/busybox "$base" >/dev/null || bail "cannot make the base rootfs"
export SOURCE_DATE_EPOCH=1700000000

C=$T/ctx
mkdir -p "$C"
echo a >"$C/a.txt"
cat >"$C/Dockerfile" <<'EOF'
FROM bb
COPY a.txt /sub/dir/a.txt
RUN mkdir -p /made/deep && echo x > /made/deep/f && seq 1 300000 > /made/big
WORKDIR /w/x
RUN echo y > y
EOF

# store NAME: a fresh store with the base imported
store() {
	$H --root "$T/$1" import "$base" bb >/dev/null || bail "import into $1"
}
# b STORE ARGS...: build, the digest on stdout, progress in $T/log
b() {
	s=$1; shift
	$H --root "$T/$s" build --progress plain "$@" "$C" 2>"$T/log" | tail -n 1
}

# The cold builds each order must match.
store cold-gzip; G=$(b cold-gzip --compression gzip)
store cold-zstd; Z=$(b cold-zstd --compression zstd)
store cold-gzip1; G1=$(b cold-gzip1 --compression gzip --compression-level 1)
store cold-zstd1; Z1=$(HOIST_COMPRESS_THREADS=1 b cold-zstd1 --compression zstd)
check "cold gzip and zstd builds ($G, $Z)" [ -n "$G" -a -n "$Z" -a "$G" != "$Z" ]
is "$Z1" "$Z" "a cold zstd build is the same with one compression thread"

# layers DIGEST STORE MEDIATYPE: every layer of the image has the media type,
# passes `zstd -t`/`gzip -t`, and decompresses to its diffID.
layers() {
	$H --root "$T/$2" save --format oci -o "$T/img.tar" "$1" >/dev/null 2>&1 &&
		rm -rf "$T/img" && mkdir "$T/img" && tar -C "$T/img" -xf "$T/img.tar" &&
		python3 - "$T/img" "$3" <<'PY'
import hashlib, json, subprocess, sys
o, want = sys.argv[1], sys.argv[2]
blob = lambda d: o + "/blobs/sha256/" + d[7:]
idx = json.load(open(o + "/index.json"))
m = json.load(open(blob(idx["manifests"][0]["digest"])))
c = json.load(open(blob(m["config"]["digest"])))
tool = "zstd" if want.endswith("zstd") else "gzip"
for l, diff in zip(m["layers"], c["rootfs"]["diff_ids"]):
    if l["mediaType"] != want:
        sys.exit("layer %s is %s" % (l["digest"], l["mediaType"]))
    subprocess.run([tool, "-t", "-q", blob(l["digest"])], check=True)
    raw = subprocess.run([tool, "-dc", blob(l["digest"])], check=True,
                         stdout=subprocess.PIPE).stdout
    if "sha256:" + hashlib.sha256(raw).hexdigest() != diff:
        sys.exit("layer %s does not decompress to %s" % (l["digest"], diff))
PY
}
ZMT=application/vnd.oci.image.layer.v1.tar+zstd
GMT=application/vnd.oci.image.layer.v1.tar+gzip
check_quiet "cold zstd: every layer zstd (the base's too), decompressing to its diffID" \
	layers "$Z" cold-zstd $ZMT
check_quiet "cold gzip: every layer gzip" layers "$G" cold-gzip $GMT

# gzip, then zstd on the same cache
store ab
is "$(b ab --compression gzip)" "$G" "gzip then zstd: the gzip build"
d=$(b ab --compression zstd)
is "$d" "$Z" "gzip then zstd: the cached zstd build is the cold zstd build's image"
check "gzip then zstd: its steps were cache hits" [ "$(grep -c ' CACHED ' "$T/log")" = 4 ]
check "gzip then zstd: the layers were recompressed (and said so)" \
	[ "$(grep -c ': zstd-3 from the gzip' "$T/log")" = 5 ]
check_quiet "gzip then zstd: every layer zstd, decompressing to its diffID" layers "$d" ab $ZMT
$H --root "$T/ab" build -q --compression zstd --output "type=oci,dest=$T/ab-oci" "$C" \
	>/dev/null 2>&1
check_quiet "gzip then zstd: skopeo copies the OCI layout (verifying every blob)" \
	skopeo copy "oci:$T/ab-oci" "dir:$T/ab-dir"
d=$(b ab --compression zstd)
is "$d" "$Z" "gzip then zstd: zstd again, same image"
check "gzip then zstd: zstd again recompresses nothing" [ "$(grep -c ' from the ' "$T/log")" = 0 ]
is "$(b ab --compression gzip)" "$G" "gzip then zstd: a later gzip build gets gzip"
check "gzip then zstd: ... without recompressing" [ "$(grep -c ' from the ' "$T/log")" = 0 ]
check_quiet "gzip then zstd: its layers are gzip" layers "$G" ab $GMT
d=$(b ab --compression gzip --compression-level 1)
is "$d" "$G1" "gzip then zstd: gzip level 1 on the cache is the cold level 1 image"

# A layer record naming a blob that is gone: the blob is made again. The
# zstd blobs of this store were all made by recompressing (no step record
# names one), so deleting them leaves the store sound.
for f in "$T"/ab/blobs/sha256/*; do
	case $(head -c 4 "$f" | od -An -tx1 | tr -d ' ') in 28b52ffd) rm -f "$f" ;; esac
done
d=$(b ab --compression zstd)
is "$d" "$Z" "gzip then zstd: zstd blobs deleted from the store, made again, same image"
check_quiet "gzip then zstd: the store verifies" $H --root "$T/ab" cache verify

# zstd, then gzip
store ba
is "$(b ba --compression zstd)" "$Z" "zstd then gzip: the zstd build"
d=$(b ba --compression gzip)
is "$d" "$G" "zstd then gzip: the cached gzip build is the cold gzip build's image"
check "zstd then gzip: its steps were cache hits" [ "$(grep -c ' CACHED ' "$T/log")" = 4 ]
check "zstd then gzip: the step layers were recompressed (the base is gzip already)" \
	[ "$(grep -c ': gzip-6 from the zstd-3 blob' "$T/log")" = 4 ]
check_quiet "zstd then gzip: every layer gzip, decompressing to its diffID" layers "$d" ba $GMT
is "$(b ba)" "$G" "zstd then gzip: the default compression is gzip"
is "$(b ba --compression zstd)" "$Z" "zstd then gzip: zstd again, same image"
d=$(HOIST_COMPRESS_THREADS=1 b ba --compression zstd --compression-level 1 --no-cache)
store cold-zstdl1; dl1=$(b cold-zstdl1 --compression zstd --compression-level 1)
is "$d" "$dl1" "--no-cache zstd level 1 is the cold build's"

finish
