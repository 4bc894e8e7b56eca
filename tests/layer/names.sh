#!/bin/sh
# File names are bytes: names outside ASCII (UTF-8 as Debian's
# ca-certificates ships, Latin-1 bytes that are not UTF-8), names and link
# targets longer than the ustar fields, paths longer than 255 bytes and hard
# links to such names go through every path that writes or reads a layer,
# byte for byte, in every identity mode, whatever the locale:
#   COPY from the context, ADD of tars written by GNU tar (gnu and posix
#   formats) and Python's tarfile, RUN (both snapshotters), the rootfs a RUN
#   sees, save/load, import, minimize; and outside readers of hoist's
#   layers: umoci, podman, GNU tar and Python's tarfile.
# Listings are made with the same busybox inside the images and on the host.
# Needs root (test users, podman). TAP output.
set -u
H=${HOIST_BIN:?}
SRC=${HOIST_SRCDIR:?}
. "$SRC/tests/lib/tap.sh"
[ -x /bin/busybox ] || skip_all "busybox-static is not installed"
"$SRC/tests/sandbox/users.sh" || skip_all "needs root to create the test users hoistsub/hoistnosub"
command -v python3 >/dev/null || skip_all "python3 is not installed"

if [ -n "${HOIST_NAMES_KEEP:-}" ]; then T=$HOIST_NAMES_KEEP; mkdir -p "$T"; else tmpdir T /tmp/hoist-names.XXXXXX; fi
chmod 755 "$T"
cd "$T" || bail "cd"
export SOURCE_DATE_EPOCH=1700000000

# The names. $(printf) keeps the script itself ASCII.
u8=$(printf 'F\305\221tan\303\272s\303\255tv\303\241ny') # Főtanúsítvány
l1=$(printf 'caf\351')                                 # café in Latin-1: not UTF-8
jp=$(printf '\346\227\245\346\234\254\350\252\236')    # 日本語
long150=$(printf 'n%.0s' $(seq 1 150))
long200u=$(printf "$u8%.0s" $(seq 1 10))               # 10 x 17 bytes = 170, non-ASCII
d100=$(printf 'd%.0s' $(seq 1 100))
mkdir -p names/sub "names/$d100/$d100"
echo utf8 >"names/$u8.pem"
echo latin1 >"names/$l1"
echo jp >"names/sub/$jp.txt"
echo long >"names/$long150"
echo longu >"names/$long200u"
echo deep >"names/$d100/$d100/$(printf 'f%.0s' $(seq 1 80))-$l1"
ln -s "$u8.pem" "names/988a38cb.0"
ln -s "../$long200u/$long150/$(printf 't%.0s' $(seq 1 60))" "names/sub/long-target"
ln -s "$l1" "names/sub/to-latin1"
ln "names/$u8.pem" "names/hl-$l1"
printf 'spaces = and "quotes"\n' >"names/a b = $u8 \"q\""

# listing DIR: one line per entry, bytes as they are, then sha256'd. The same
# busybox script runs inside the images.
cat >list.sh <<'EOF'
cd "$1" || exit 1
find . | LC_ALL=C sort | while IFS= read -r f; do
	t=$(stat -c %F "$f")
	case $t in
	"regular file"|"regular empty file") printf '%s|f|%s|%s\n' "$f" "$(stat -c %s "$f")" "$(cat "$f")" ;;
	"symbolic link") printf '%s|l|%s\n' "$f" "$(readlink "$f")" ;;
	*) printf '%s|%s\n' "$f" "$t" ;;
	esac
done
EOF
cp list.sh names/.list.sh
want=$(busybox sh list.sh names | sha256sum)
busybox sh list.sh names >want.txt

# Tars of the names from real writers, for ADD and import.
tar --format=gnu -cf gnu.tar -C names .
tar --format=posix -cf posix.tar -C names .
python3 - <<'EOF'
import os, tarfile
for fmt, out in ((tarfile.PAX_FORMAT, "py-pax.tar"), (tarfile.GNU_FORMAT, "py-gnu.tar")):
    with tarfile.open(out, "w", format=fmt, encoding="utf-8", errors="surrogateescape") as t:
        t.add("names", arcname=".")
EOF
"$SRC/scripts/mkrootfs-busybox.sh" bb.tar >/dev/null || bail "busybox rootfs"
cp list.sh ctx-list.sh

# The build context: the names plus a Dockerfile that copies, adds and runs.
mkdir ctx
cp -a names ctx/names
cp gnu.tar posix.tar py-pax.tar py-gnu.tar list.sh ctx/
cat >ctx/Dockerfile <<'EOF'
FROM bb
COPY list.sh /list.sh
COPY names/ /copied/
ADD gnu.tar /add-gnu/
ADD posix.tar /add-posix/
ADD py-pax.tar /add-py-pax/
ADD py-gnu.tar /add-py-gnu/
RUN mkdir /made && cd /made && \
    echo latin1 >"$(printf 'caf\351')" && echo utf8 >"$(printf 'F\305\221tan\303\272s\303\255tv\303\241ny').pem" && \
    ln -s "$(printf 'caf\351')" to-latin1 && ln "$(printf 'caf\351')" "hl-$(printf '\346\227\245')" && \
    mkdir -p "$(printf 'd%.0s' $(seq 1 100))/$(printf 'e%.0s' $(seq 1 100))" && \
    echo deep >"$(printf 'd%.0s' $(seq 1 100))/$(printf 'e%.0s' $(seq 1 100))/$(printf 'f%.0s' $(seq 1 80))-$(printf '\351')" && \
    rm "/copied/$(printf 'caf\351')"
EOF
# what the RUN makes, made on the host the same way
mkdir made && (cd made && echo latin1 >"$l1" && echo utf8 >"$u8.pem" && ln -s "$l1" to-latin1 &&
	ln "$l1" "hl-$(printf '\346\227\245')" && dd="$d100/$(printf 'e%.0s' $(seq 1 100))" && mkdir -p "$dd" &&
	echo deep >"$dd/$(printf 'f%.0s' $(seq 1 80))-$(printf '\351')")
want_made=$(busybox sh list.sh made | sha256sum)
cp -a names copied-want && rm "copied-want/$l1"
want_copied=$(busybox sh list.sh copied-want | sha256sum)

as() {
	m=$1
	shift
	case $m in
	root) env -i PATH=/usr/bin:/bin HOME="$T/root" SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH "$@" ;;
	subuid) runuser -u hoistsub -- env -i PATH=/usr/bin:/bin HOME="$T/subuid" SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH "$@" ;;
	single) runuser -u hoistnosub -- env -i PATH=/usr/bin:/bin HOME="$T/single" SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH "$@" ;;
	esac
}

# inside IMAGE DIR: the listing of DIR in IMAGE, made by the image's busybox
inside() {
	as "$m" "$H" --root "$S" run --identity "$m" "$1" sh /list.sh "$2" 2>&1 | sha256sum
}

digests=""
for m in root subuid single; do
	D="$T/$m"
	S="$D/store"
	mkdir -p "$D"
	case $m in subuid) chown hoistsub: "$D" ;; single) chown hoistnosub: "$D" ;; esac
	chmod -R a+rX "$T/ctx" "$T/bb.tar"
	as $m "$H" --root "$S" import "$T/bb.tar" bb >/dev/null
	as $m "$H" --root "$S" build --identity $m -t names --output "type=oci,dest=$D/oci" "$T/ctx" >"$D/log" 2>&1
	st=$?
	check "$m: the build with COPY, ADD and RUN of such names succeeds" [ $st -eq 0 ]
	[ $st -eq 0 ] || { tail -n 5 "$D/log" | sed 's/^/# /'; continue; }
	is "$(inside names /copied)" "$want_copied" "$m: COPY, then the RUN's whiteout of a Latin-1 name"
	for a in gnu posix py-pax py-gnu; do
		is "$(inside names /add-$a)" "$want" "$m: ADD of a $a tar"
	done
	is "$(inside names /made)" "$want_made" "$m: names a RUN made"
	digests="$digests $(as $m "$H" --root "$S" inspect names | sed -n 's/^ *"Digest": "\(sha256:[0-9a-f]*\)".*/\1/p' | head -n 1)"
done
set -- $digests
check "one image digest in the three identity modes ($*)" [ $# -eq 3 -a "${1:-x}" = "${2:-y}" -a "${2:-x}" = "${3:-y}" ]

# The copy snapshotter (no overlayfs) diffs the RUN's tree itself: the same image.
S="$T/copysnap"
"$H" --root "$S" import "$T/bb.tar" bb >/dev/null
HOIST_SNAPSHOTTER=copy "$H" --root "$S" build -t names "$T/ctx" >"$T/copysnap.log" 2>&1
check "the copy snapshotter builds it" [ $? -eq 0 ]
got=$("$H" --root "$S" inspect names | sed -n 's/^ *"Digest": "\(sha256:[0-9a-f]*\)".*/\1/p' | head -n 1)
is "$got" "${1:-none}" "the copy snapshotter gives the same image digest"

m=root
S="$T/root/store"
D="$T/root"

# import of tars written by GNU tar and Python: the names as they were
for a in gnu posix py-pax py-gnu; do
	if "$H" --root "$S" import "$a.tar" "imp-$a" >/dev/null 2>"$a.err"; then
		# the imported image has no busybox: list its files through a build
		printf 'FROM bb\nCOPY list.sh /list.sh\nCOPY --from=imp-%s / /imp/\n' "$a" >"df-$a"
		"$H" --root "$S" build -q -f "df-$a" -t "chk-$a" ctx >/dev/null 2>&1
		is "$(inside "chk-$a" /imp)" "$want" "import of a $a tar keeps every name"
	else
		nok "import of a $a tar: $(cat "$a.err")"
	fi
done

# save, then load into a fresh store: the same image, the same names
"$H" --root "$S" save -o saved.tar names && "$H" --root "$T/store2" load -i saved.tar >/dev/null 2>&1 ||
	"$H" --root "$T/store2" load saved.tar >/dev/null 2>&1
S2="$T/store2"
out=$("$H" --root "$S2" run names sh /list.sh /copied 2>&1 | sha256sum)
is "$out" "$want_copied" "save and load keep the names"

# minimize: /etc/ssl (a default path) with ca-certificates' non-ASCII name
mkdir -p mctx
cat >mctx/Dockerfile <<EOF
FROM bb
RUN mkdir -p /etc/ssl/certs && echo cert >"/etc/ssl/certs/NetLock_Arany_=Class_Gold=_$u8.pem" && \
    ln -s "NetLock_Arany_=Class_Gold=_$u8.pem" /etc/ssl/certs/988a38cb.0 && echo l1 >"/etc/ssl/$l1"
EOF
"$H" --root "$S" build -q -t withssl mctx >/dev/null 2>&1
"$H" --root "$S" minimize withssl --base bb -t minimized >min.log 2>&1
st=$?
check "minimize copies /etc/ssl with its non-ASCII names" [ $st -eq 0 ]
[ $st -eq 0 ] || sed 's/^/# /' min.log | tail -n 3
is "$("$H" --root "$S" run minimized sh -c 'readlink /etc/ssl/certs/988a38cb.0; cat /etc/ssl/certs/*.pem /etc/ssl/ca*' 2>&1)" \
	"NetLock_Arany_=Class_Gold=_$u8.pem
cert
l1" "the minimized image has the names and the link"

# Outside readers of hoist's layers.
O="$T/root/oci"
if command -v umoci >/dev/null 2>&1; then
	umoci unpack --rootless --image "$O:latest" "$T/umoci" >/dev/null 2>&1 ||
		umoci unpack --rootless --image "$O" "$T/umoci" >/dev/null 2>&1
	is "$(busybox sh list.sh "$T/umoci/rootfs/copied" | sha256sum)" "$want_copied" "umoci unpacks the same names"
	is "$(busybox sh list.sh "$T/umoci/rootfs/made" | sha256sum)" "$want_made" "umoci: the names the RUN made"
elif [ -n "${HOIST_TEST_NO_SKIP:-}" ]; then nok "umoci is not installed"; fi

python3 - "$O" "$l1" >py.out 2>&1 <<'EOF'
import json, os, sys, tarfile
o = sys.argv[1]
idx = json.load(open(os.path.join(o, "index.json")))
man = json.load(open(os.path.join(o, "blobs/sha256", idx["manifests"][0]["digest"][7:])))
names = set()
for l in man["layers"]:
    with tarfile.open(os.path.join(o, "blobs/sha256", l["digest"][7:]), encoding="utf-8", errors="surrogateescape") as t:
        for m in t:
            names.add(os.fsencode(m.name))
want = [b"copied/caf\xe9"[:0] + b"made/caf\xe9", b"made/F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.pem", b"copied/.wh.caf\xe9"]
missing = [w for w in want if w not in names]
print("missing:", missing)
sys.exit(1 if missing else 0)
EOF
check_quiet "Python's tarfile reads the raw names from hoist's layers" sh -c "cat '$T/py.out'; grep -q 'missing: \[\]' '$T/py.out'"

last=$(python3 -c 'import json,sys;o=sys.argv[1];i=json.load(open(o+"/index.json"));m=json.load(open(o+"/blobs/sha256/"+i["manifests"][0]["digest"][7:]));print(m["layers"][-1]["digest"][7:])' "$O")
tar -tzf "$O/blobs/sha256/$last" --quoting-style=literal >gnutar.out 2>&1
check "GNU tar lists the RUN layer's Latin-1 name as bytes" grep -q "^made/$l1\$" gnutar.out
check "GNU tar reads the 300-byte path" grep -q "^made/$d100/e" gnutar.out

# podman runs the image and sees the same bytes
if command -v podman >/dev/null 2>&1; then
	"$H" --root "$S" save -o names-docker.tar names
	podman load -i names-docker.tar >/dev/null 2>&1
	out=$(timeout 120 podman run --rm --network=host --runtime /usr/sbin/runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
		docker.io/library/names:latest sh /list.sh /made 2>&1 | sha256sum)
	is "$out" "$want_made" "podman sees the names the RUN made"
	podman rmi -f docker.io/library/names:latest >/dev/null 2>&1
elif [ -n "${HOIST_TEST_NO_SKIP:-}" ]; then nok "podman is not installed"; fi
finish
