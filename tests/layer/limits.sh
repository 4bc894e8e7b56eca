#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Hostile sizes and streams (issue #21), from the CLI, each limit at its
# value and just past it (lowered through its HOIST_LIMIT_* variable; see
# docs/security.md): gzip trailers (CRC-32, ISIZE), empty blobs, sparse
# entries, the inflated size and ratio of a layer, entries per layer, layers
# per image, JSON document sizes, index nesting, descriptor sizes against
# the bytes received; through import, load, ADD, hoist run and FROM.
set -u
H=${HOIST_BIN:?}
SRC=${HOIST_SRCDIR:?}
. "$SRC/tests/lib/tap.sh"
command -v python3 >/dev/null || skip_all "python3 is not installed"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
[ "$(id -u)" = 0 ] || skip_all "needs root (hoist run in the root identity mode)"

tmpdir T /tmp/hoist-limits.XXXXXX
R="$H --root $T/store"
cd "$T" || exit 1
"$SRC/scripts/mkrootfs-busybox.sh" "$T/bb.tar"

cat >gen.py <<'PY'
import gzip, hashlib, io, json, os, struct, sys, tarfile, zlib

def hdr(name, size, typ=b"0", extra=None):
    ti = tarfile.TarInfo(name); ti.size = size; ti.mode = 0o644; ti.mtime = 1700000000
    if typ == b"5":
        ti.type = tarfile.DIRTYPE; ti.size = 0
    b = bytearray(ti.tobuf(format=tarfile.USTAR_FORMAT))
    if typ not in (b"0", b"5"):
        b[156:157] = typ
    if extra:
        extra(b)
    b[148:156] = b" " * 8
    b[148:156] = ("%06o\0 " % sum(b[:512])).encode()
    return bytes(b)

def tar_file(data, name="f"):
    """One file, then the end-of-archive blocks: no record padding."""
    pad = (-len(data)) % 512
    return hdr(name, len(data)) + data + b"\0" * pad + b"\0" * 1024

def tar_entries(n):
    out = b""
    for i in range(n):
        out += hdr("d%d" % i, 0, b"5")
    return out + b"\0" * 1024

def gnu_sparse():
    def realsize(b):  # realsize 2^40 in base-256 at offset 483
        b[483:495] = b"\x80" + (1 << 40).to_bytes(11, "big")
    return hdr("big", 0, b"S", realsize) + b"\0" * 1024

def pax_sparse():
    recs = b""
    for k, v in [("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0"),
                 ("GNU.sparse.name", "big"), ("GNU.sparse.realsize", str(1 << 40))]:
        r = " %s=%s\n" % (k, v)
        n = len(r) + 1
        n = len(str(n + len(str(n)))) + len(r)
        recs += (str(n) + r).encode()
    pad = (-len(recs)) % 512
    return hdr("PaxHeaders/big", len(recs), b"x") + recs + b"\0" * pad + \
        hdr("big", 512) + b"\0" * 512 + b"\0" * 1024

def gz(data):
    return gzip.compress(data, mtime=0)

def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()

def docker_archive(out, name, layers):
    """layers: list of (file name, blob bytes, diff_id bytes)"""
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers",
                                 "diff_ids": [sha(d) for _, _, d in layers]}}).encode()
    man = json.dumps([{"Config": "config.json", "RepoTags": [name],
                       "Layers": [n for n, _, _ in layers]}]).encode()
    with tarfile.open(out, "w") as t:
        for n, b in [("config.json", cfg), ("manifest.json", man)] + \
                    [(n, b) for n, b, _ in layers]:
            ti = tarfile.TarInfo(n); ti.size = len(b); t.addfile(ti, io.BytesIO(b))

def oci_layout(out, name, layers, depth=0, layer_size=None, cfg_pad=0):
    """An OCI layout dir: `depth` indexes above the manifest."""
    blobs = {}
    def put(b):
        blobs[sha(b)] = b
        return sha(b)
    cfg = {"architecture": "amd64", "os": "linux", "config": {},
           "rootfs": {"type": "layers", "diff_ids": [sha(d) for _, d in layers]}}
    cfgb = json.dumps(cfg).encode()
    if cfg_pad:
        base = len(json.dumps(dict(cfg, pad="")).encode())
        cfgb = json.dumps(dict(cfg, pad="x" * (cfg_pad - base))).encode()
        assert len(cfgb) == cfg_pad, len(cfgb)
    ls = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(b),
           "size": len(b) if layer_size is None else layer_size} for b, _ in layers]
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": put(cfgb), "size": len(cfgb)},
                      "layers": ls}).encode()
    top = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(man),
           "size": len(man), "platform": {"architecture": "amd64", "os": "linux"}}
    for _ in range(depth):
        idx = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                          "manifests": [top]}).encode()
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": put(idx),
               "size": len(idx)}
    top["annotations"] = {"io.containerd.image.name": name}
    os.makedirs(out + "/blobs/sha256", exist_ok=True)
    for d, b in blobs.items():
        open(out + "/blobs/sha256/" + d[7:], "wb").write(b)
    open(out + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
    open(out + "/index.json", "w").write(json.dumps({"schemaVersion": 2, "manifests": [top]}))

MB = 1 << 20
cmd = sys.argv[1]
if cmd == "gzips":
    raw = tar_file(b"hello world\n" * 100)
    g = gz(raw)
    def w(n, b): open(n, "wb").write(b)
    w("good.tar.gz", g)
    b = bytearray(g); b[-8] ^= 0xff; w("badcrc.tar.gz", b)
    b = bytearray(g); b[-1] ^= 0x01; w("badsize.tar.gz", b)
    w("notrailer.tar.gz", g[:-8])
    w("garbage.tar.gz", g + b"garbage")
    w("zeropad.tar.gz", g + b"\0" * 100)
    w("multi.tar.gz", gz(raw[:512]) + gz(raw[512:]))
    w("empty.tar", b"")
    w("emptygz.tar.gz", gz(b""))
    w("gnu-sparse.tar", gnu_sparse())
    w("pax-sparse.tar", pax_sparse())
elif cmd == "size":   # OUT N [zeros|random]: a gzip'd tar of exactly N bytes
    n = int(sys.argv[3])
    data_len = n - 512 - 1024
    assert data_len >= 0 and data_len % 512 == 0
    data = os.urandom(data_len) if sys.argv[4] == "random" else b"\0" * data_len
    t = tar_file(data)
    assert len(t) == n
    open(sys.argv[2], "wb").write(gz(t))
elif cmd == "entries":  # OUT N
    open(sys.argv[2], "wb").write(tar_entries(int(sys.argv[3])))
elif cmd == "docker":  # OUT NAME BLOBFILE... (gzip'd or plain tars)
    ls = []
    for f in sys.argv[4:]:
        b = open(f, "rb").read()
        # raw deflate after the 10-byte header: a bad trailer is kept
        d = zlib.decompressobj(-15).decompress(b[10:]) if b[:2] == b"\x1f\x8b" else b
        ls.append((os.path.basename(f), b, d))
    docker_archive(sys.argv[2], sys.argv[3], ls)
elif cmd == "oci":  # OUT NAME NLAYERS DEPTH [LAYER_SIZE|-] [CFG_SIZE]
    n, depth = int(sys.argv[4]), int(sys.argv[5])
    lsize = None if len(sys.argv) < 7 or sys.argv[6] == "-" else int(sys.argv[6])
    cpad = int(sys.argv[7]) if len(sys.argv) > 7 else 0
    ls = []
    for i in range(n):
        raw = tar_file(b"layer %d\n" % i, "f%d" % i)
        ls.append((gz(raw), raw))
    oci_layout(sys.argv[2], sys.argv[3], ls, depth, lsize, cpad)
PY
gen() { python3 gen.py "$@"; }

# refused LABEL WANT CMD...: CMD exits non-zero and says WANT.
refused() {
	local label=$1 want=$2 out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] && case $out in *"$want"*) true ;; *) false ;; esac; then
		ok "$label"
	else
		nok "$label (exit $rc): $out"
	fi
}

gen gzips
check_quiet "a base image" sh -c "python3 gen.py docker base.tar lim/base:1 bb.tar && $R load -q -i base.tar"

# --- gzip trailers and empty blobs (finding 4) ---
check_quiet "import of a good gzip tar" $R import good.tar.gz lim/good
check_quiet "import of a multi-member gzip tar" $R import multi.tar.gz lim/multi
check_quiet "import of a gzip tar with zero padding after it" $R import zeropad.tar.gz lim/zeropad
refused "a bad CRC-32 is refused" "'badcrc.tar.gz': gzip: incorrect data check" \
	$R import badcrc.tar.gz lim/x
refused "a bad ISIZE is refused" "'badsize.tar.gz': gzip: incorrect length check" \
	$R import badsize.tar.gz lim/x
refused "a gzip stream without its trailer is refused" "'notrailer.tar.gz': the gzip stream is truncated" \
	$R import notrailer.tar.gz lim/x
refused "garbage after the gzip stream is refused" "'garbage.tar.gz': data after the end of the gzip stream" \
	$R import garbage.tar.gz lim/x
refused "a zero-byte file is not a tar" "'empty.tar': empty (0 bytes): not a tar" \
	$R import empty.tar lim/x
refused "a gzip of nothing is not a tar" "'emptygz.tar.gz': at byte 0: no tar data" \
	$R import emptygz.tar.gz lim/x
# through load: the layer blob is read at FROM and hoist run
gen docker badcrc-img.tar lim/badcrc:1 bb.tar badcrc.tar.gz
check_quiet "load an image whose layer has a bad CRC (blobs only)" $R load -q -i badcrc-img.tar
refused "hoist run refuses the bad CRC" "gzip: incorrect data check" $R run lim/badcrc:1 true
mkdir -p ctx-badcrc
printf 'FROM lim/badcrc:1\nENV A=b\n' >ctx-badcrc/Dockerfile
refused "a build FROM it refuses the bad CRC" "gzip: incorrect data check" $R build -q -t lim/o ctx-badcrc
gen docker empty-img.tar lim/empty:1 bb.tar empty.tar
refused "load refuses an empty layer blob" "layer 'empty.tar' is empty (0 bytes): not a layer" \
	$R load -q -i empty-img.tar

# --- sparse entries (finding 2) ---
refused "import refuses a GNU sparse entry" "entry 'big': GNU sparse file entries are not supported" \
	$R import gnu-sparse.tar lim/x
refused "import refuses a PAX sparse entry of 2^40 bytes" "entry 'big': GNU sparse file entries are not supported" \
	$R import pax-sparse.tar lim/x
mkdir -p ctx-sparse
cp pax-sparse.tar ctx-sparse/
printf 'FROM lim/base:1\nADD pax-sparse.tar /x/\n' >ctx-sparse/Dockerfile
refused "ADD refuses a sparse entry" "entry 'big': GNU sparse file entries are not supported" \
	$R build -q -t lim/o ctx-sparse
gen docker sparse-img.tar lim/sparse:1 bb.tar gnu-sparse.tar
check_quiet "load an image with a sparse layer (blobs only)" $R load -q -i sparse-img.tar
refused "hoist run refuses the sparse layer" "GNU sparse file entries are not supported" \
	$R run lim/sparse:1 true
printf 'FROM lim/sparse:1\nENV A=b\n' >ctx-sparse/Dockerfile
refused "a build FROM it refuses the sparse layer" "GNU sparse file entries are not supported" \
	$R build -q -t lim/o ctx-sparse

# --- inflated size of a layer (finding 5) ---
L="HOIST_LIMIT_LAYER_SIZE=1M"
gen size at.tar.gz 1048576 random
gen size past.tar.gz 1049088 random
check_quiet "a layer of exactly HOIST_LIMIT_LAYER_SIZE imports" env $L $R import at.tar.gz lim/at
refused "512 bytes more are refused" "'past.tar.gz': more than 1 MiB of tar data (the limit, HOIST_LIMIT_LAYER_SIZE)" \
	env $L $R import past.tar.gz lim/x
gen docker past-img.tar lim/past:1 bb.tar past.tar.gz
check_quiet "load an image with that layer" $R load -q -i past-img.tar
refused "hoist run refuses it" "HOIST_LIMIT_LAYER_SIZE" env $L $R run lim/past:1 true
check_quiet "with the default limit hoist run takes it" $R run lim/past:1 true
mkdir -p ctx-size
cp past.tar.gz ctx-size/
printf 'FROM lim/base:1\nADD past.tar.gz /x/\n' >ctx-size/Dockerfile
refused "ADD refuses it" "HOIST_LIMIT_LAYER_SIZE" env $L $R build -q -t lim/o ctx-size

# the ratio rule: zeros compress ~1000:1; past HOIST_LIMIT_LAYER_RATIO_FROM
# the ratio must stay under HOIST_LIMIT_LAYER_RATIO
Q="HOIST_LIMIT_LAYER_RATIO_FROM=1M HOIST_LIMIT_LAYER_RATIO=100"
gen size zat.tar.gz 1048576 zeros
gen size zpast.tar.gz 1049088 zeros
gen size rnd.tar.gz 2097152 random
check_quiet "a bomb up to HOIST_LIMIT_LAYER_RATIO_FROM imports" env $Q $R import zat.tar.gz lim/zat
refused "512 bytes more are refused as a bomb" "inflate to more than 1 MiB, over 100 times as many" \
	env $Q $R import zpast.tar.gz lim/x
check_quiet "an incompressible 2 MiB layer passes the ratio rule" env $Q $R import rnd.tar.gz lim/rnd
gen docker bomb-img.tar lim/bomb:1 bb.tar zpast.tar.gz
check_quiet "load an image with the bomb" $R load -q -i bomb-img.tar
refused "hoist run refuses the bomb" "HOIST_LIMIT_LAYER_RATIO" env $Q $R run lim/bomb:1 true
printf 'FROM lim/bomb:1\nENV A=b\n' >ctx-size/Dockerfile
refused "a build FROM it refuses the bomb" "HOIST_LIMIT_LAYER_RATIO" env $Q $R build -q -t lim/o ctx-size

# --- entries per layer ---
gen entries e10.tar 10
gen entries e11.tar 11
check_quiet "10 entries at HOIST_LIMIT_LAYER_ENTRIES=10" env HOIST_LIMIT_LAYER_ENTRIES=10 $R import e10.tar lim/e10
refused "11 are refused" "'e11.tar': more than 10 entries" env HOIST_LIMIT_LAYER_ENTRIES=10 $R import e11.tar lim/x

# --- images: layers, JSON sizes, index depth, descriptor sizes (finding 6) ---
gen oci l3 lim/l3:1 3 0
gen oci l4 lim/l4:1 4 0
check_quiet "3 layers at HOIST_LIMIT_IMAGE_LAYERS=3 (OCI layout)" env HOIST_LIMIT_IMAGE_LAYERS=3 $R load -q -i l3
refused "4 are refused" "4 layers, more than 3 (the limit, HOIST_LIMIT_IMAGE_LAYERS)" \
	env HOIST_LIMIT_IMAGE_LAYERS=3 $R load -q -i l4
check_quiet "(docker archive)" sh -c "python3 gen.py docker d3.tar lim/d3:1 good.tar.gz good.tar.gz good.tar.gz && env HOIST_LIMIT_IMAGE_LAYERS=3 $R load -q -i d3.tar"
refused "4 are refused (docker archive)" "more than 3 (the limit, HOIST_LIMIT_IMAGE_LAYERS)" \
	sh -c "python3 gen.py docker d4.tar lim/d4:1 good.tar.gz good.tar.gz good.tar.gz good.tar.gz && env HOIST_LIMIT_IMAGE_LAYERS=3 $R load -q -i d4.tar"
refused "a stored image past the limit is refused where it is used" "HOIST_LIMIT_IMAGE_LAYERS" \
	env HOIST_LIMIT_IMAGE_LAYERS=2 $R run lim/l3:1 true
refused "10,000 layers are refused by default" "10000 layers, more than 1000" \
	sh -c "python3 gen.py oci l10k lim/l10k:1 10000 0 && $R load -q -i l10k"

gen oci big lim/big:1 1 0 - 2048
check_quiet "a 2 KiB config at HOIST_LIMIT_JSON_SIZE=2K" env HOIST_LIMIT_JSON_SIZE=2K $R load -q -i big
gen oci big1 lim/big1:1 1 0 - 2049
refused "2049 bytes are refused" "2 KiB" env HOIST_LIMIT_JSON_SIZE=2K $R load -q -i big1

gen oci depth1 lim/depth1:1 1 1
gen oci depth2 lim/depth2:1 1 2
check_quiet "an index one deep at HOIST_LIMIT_INDEX_DEPTH=1" env HOIST_LIMIT_INDEX_DEPTH=1 $R load -q -i depth1
refused "two deep are refused" "indexes nested more than 1 deep (the limit, HOIST_LIMIT_INDEX_DEPTH)" \
	env HOIST_LIMIT_INDEX_DEPTH=1 $R load -q -i depth2

gen oci huge lim/huge:1 1 0 9223372036854775807
refused "a layer descriptor of 2^63-1 bytes is refused" "the descriptor says 9223372036854775807 bytes, the blob has" \
	$R load -q -i huge
check "nothing of it is tagged" sh -c "! $R images 2>/dev/null | grep -q lim/huge"

# --- a full disk: the error names the step, the layer and the file ---
mkdir -p small
if mount -t tmpfs -o size=6M tmpfs small 2>/dev/null; then
	at_exit "umount '$T/small'"
	S="$H --root $T/small/store"
	gen size big.tar.gz 3145728 random
	check_quiet "import a 3 MiB layer into a 6 MiB store" $S import big.tar.gz lim/big
	mkdir -p ctx-full
	printf 'FROM lim/big\nRUN true\n' >ctx-full/Dockerfile
	refused "RUN names the step, the layer and the file" \
		"ctx-full/Dockerfile:2: RUN: unpacking layer for root mode: 'sha256:" \
		$S build -q ctx-full
	refused "... and what failed" "': entry 'f': write: No space left on device" $S build -q ctx-full
	# a RUN whose layer does not fit: the step and the store's path
	umount "$T/small" && mount -t tmpfs -o size=8M tmpfs small
	check_quiet "import busybox into an 8 MiB store" $S import bb.tar lim/bb
	printf 'FROM lim/bb\nRUN head -c 3145728 /dev/urandom >/f\n' >ctx-full/Dockerfile
	refused "a layer that does not fit names the step and the path" \
		"ctx-full/Dockerfile:2: RUN head -c 3145728 /dev/urandom >/f: cannot write blob to '$T/small/store/tmp': No space left on device" \
		$S build -q ctx-full
else
	skip_or_fail "cannot mount a small tmpfs for the full-disk check"
fi
finish
