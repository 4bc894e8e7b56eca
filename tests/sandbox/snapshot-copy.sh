#!/bin/sh
# The snapshot fallback without overlayfs (issue 5): with
# HOIST_SNAPSHOTTER=copy a Dockerfile on the busybox fixture
# (tests/lib/mkmultiarch.sh, amd64 part) adds, modifies, chmods and deletes
# files, deletes a directory, replaces a directory with a file and a file
# with a directory; the RUN's layer must hold the whiteouts and contents,
# and the same build with the overlay snapshotter must give the same
# layers (SOURCE_DATE_EPOCH set: the same digests). In the three identity
# modes: root, hoistsub (subuid), hoistnosub (single). Needs root. TAP.
set -u
H=${HOIST_BIN:?}; SRC=${HOIST_SRCDIR:?}
. "$SRC/tests/lib/tap.sh"

"$SRC/tests/sandbox/users.sh" || skip_all "needs root to create the test users hoistsub/hoistnosub"
command -v jq >/dev/null || skip_all "jq not installed"

tmpdir W /tmp/hoist-snapcopy-test.XXXXXX
chmod 755 "$W"
at_exit 'umount "$W/ovl/m" 2>/dev/null'
export HOIST_BIN="$H"
"$SRC/tests/lib/mkmultiarch.sh" "$W/ma-store" ma >/dev/null 2>"$W/ma.err"; st=$?
[ $st -eq 77 ] && skip_all "busybox-static .debs neither cached nor downloadable"
[ $st -eq 0 ] || { diag_file "$W/ma.err" | tail -n 20; bail "mkmultiarch.sh failed"; }
cache=${HOIST_DEB_CACHE:-$SRC/fixtures/cache/debs}
cp "$(ls "$cache"/busybox-static_*_amd64.rootfs-*.tar | sort | tail -n 1)" "$W/bb.tar"
chmod 644 "$W/bb.tar"

as() {
	m=$1; shift
	case $m in
	root) env -i PATH=/usr/bin:/bin HOME="$W/root" SOURCE_DATE_EPOCH=1700000000 "$@" ;;
	subuid) runuser -u hoistsub -- env -i PATH=/usr/bin:/bin HOME="$W/subuid" \
		SOURCE_DATE_EPOCH=1700000000 "$@" ;;
	single) runuser -u hoistnosub -- env -i PATH=/usr/bin:/bin HOME="$W/single" \
		SOURCE_DATE_EPOCH=1700000000 "$@" ;;
	esac
}

# The layer digests of an OCI layout's (only) image, one a line.
layers() {
	m=$(jq -r '.manifests[0].digest' "$1/index.json" | cut -d: -f2)
	jq -r '.layers[].digest' "$1/blobs/sha256/$m"
}
blob() { echo "$1/blobs/sha256/$(echo "$2" | cut -d: -f2)"; }

# RUN 1 makes a tree (so the base has two lowers); RUN 2 changes it.
cat >"$W/Dockerfile" <<'EOF'
FROM bb
RUN mkdir -p /data/dir/sub /data/swap /data/f2d && echo a >/data/dir/sub/f && \
    echo keep >/data/keep && ln /data/keep /data/keeplink && echo gone >/data/gone && \
    echo x >/data/swap/inner && echo m >/data/mod && echo 1 >/data/f2d/old && \
    echo t >/data/tofile && ln -s keep /data/sym
RUN echo added >/data/added && echo more >>/data/mod && chmod 600 /etc/group && \
    rm /data/gone && rm -rf /data/dir && rm -rf /data/swap && echo file >/data/swap && \
    rm -rf /data/f2d && mkdir /data/f2d && echo in >/data/f2d/x && \
    rm /data/tofile && mkdir /data/tofile && rm -rf /var && mkdir /var && echo new >/var/new && \
    rm /data/sym && ln -s gone /data/sym && chown -R 1000:1000 /data/f2d
EOF
chmod 644 "$W/Dockerfile"

for m in ${HOIST_TEST_MODES:-root subuid single}; do
	D="$W/$m"; mkdir -p "$D/ctx"; cp "$W/Dockerfile" "$D/ctx/"
	case $m in subuid) chown -R hoistsub: "$D" ;; single) chown -R hoistnosub: "$D" ;; esac
	for s in copy overlay; do
		as $m "$H" --root "$D/$s" import "$W/bb.tar" bb >/dev/null
		as $m env HOIST_SNAPSHOTTER=$s "$H" --root "$D/$s" build --identity $m \
			--progress plain -t out --output "type=oci,dest=$D/$s-layout" "$D/ctx" \
			>/dev/null 2>"$D/$s.log"
		check "$m: build with HOIST_SNAPSHOTTER=$s" [ -f "$D/$s-layout/index.json" ]
		[ -f "$D/$s-layout/index.json" ] || diag_file "$D/$s.log" | tail -n 20
	done
	c=$(grep -c 'snapshot: full-tree comparison (HOIST_SNAPSHOTTER=copy)' "$D/copy.log")
	check "$m: the fallback is reported once ($c)" [ "$c" = 1 ]
	check "$m: the overlay build does not report it" \
		sh -c "! grep -q 'full-tree comparison' '$D/overlay.log'"

	L="$D/copy-layout"
	top=$(blob "$L" "$(layers "$L" | tail -n 1)")
	tar tzvf "$top" >"$D/copy.tv" 2>/dev/null
	tar tzf "$top" >"$D/copy.t" 2>/dev/null
	has() { grep -qx "$1" "$D/copy.t"; }
	check "$m: whiteouts for the deleted file and dir" sh -c \
		"grep -qx 'data/.wh.gone' '$D/copy.t' && grep -qx 'data/.wh.dir' '$D/copy.t'"
	check "$m: nothing below a deleted dir" sh -c "! grep -q '^data/dir/' '$D/copy.t'"
	check "$m: dir replaced by a file" sh -c \
		"[ \"\$(tar xzOf '$top' data/swap)\" = file ] && ! grep -q '^data/swap/' '$D/copy.t'"
	check "$m: file replaced by a dir is opaque" has 'data/tofile/.wh..wh..opq'
	check "$m: recreated dir is opaque with its new content" sh -c \
		"grep -qx 'var/.wh..wh..opq' '$D/copy.t' && grep -qx 'var/new' '$D/copy.t' &&
		 grep -qx 'data/f2d/x' '$D/copy.t' && ! grep -q 'data/f2d/old' '$D/copy.t'"
	check "$m: added and modified content" sh -c \
		"[ \"\$(tar xzOf '$top' data/added)\" = added ] &&
		 [ \"\$(tar xzOf '$top' data/mod | tr '\n' ' ')\" = 'm more ' ]"
	check "$m: chmod alone makes a change" sh -c \
		"grep -q '^-rw------- .* etc/group\$' '$D/copy.tv'"
	check "$m: replaced symlink" sh -c "grep -q 'data/sym -> gone' '$D/copy.tv'"
	check "$m: unchanged entries stay out" sh -c \
		"! grep -Eq '^(data/keep|data/keeplink|bin/busybox|etc/passwd)\$' '$D/copy.t'"
	owner=$(awk '$6=="data/f2d/x"{print $2}' "$D/copy.tv")
	if [ $m = single ]; then want=0/0; else want=1000/1000; fi
	check "$m: ownership as seen inside ($owner)" [ "$owner" = "$want" ]
	bl=$(blob "$L" "$(layers "$L" | sed -n 2p)")
	check "$m: hard link of the first RUN kept" sh -c \
		"tar tzvf '$bl' | grep -q 'data/keeplink link to data/keep'"

	O="$D/overlay-layout"
	tar tzf "$(blob "$O" "$(layers "$O" | tail -n 1)")" >"$D/overlay.t" 2>/dev/null
	check "$m: the overlay snapshotter gives the same paths" cmp -s "$D/copy.t" "$D/overlay.t"
	cmp -s "$D/copy.t" "$D/overlay.t" || diff "$D/copy.t" "$D/overlay.t" | sed 's/^/# /'
	check "$m: and the same layer digests" [ "$(layers "$L")" = "$(layers "$O")" ]

	# Single mode's apt.conf.d/zz-hoist-sandbox (a stub of hoist's own, for
	# every RUN in an image with /etc/apt/apt.conf.d) copies its directories
	# up: they stay out of the layer of a RUN that changes nothing there, in
	# every mode alike (found by the apt differential,
	# tests/build/apt-differential.sh; /etc itself may be there, for the
	# /etc/hosts stub, as in BuildKit).
	mkdir -p "$D/stub"
	printf 'FROM bb\nRUN mkdir -p /etc/apt/apt.conf.d\nRUN true\n' >"$D/stub/Dockerfile"
	case $m in subuid) chown -R hoistsub: "$D/stub" ;; single) chown -R hoistnosub: "$D/stub" ;; esac
	for s in copy overlay; do
		as $m env HOIST_SNAPSHOTTER=$s "$H" --root "$D/$s" build --identity $m \
			--output "type=oci,dest=$D/stub-$s" "$D/stub" >/dev/null 2>"$D/stub-$s.log"
		got=$(tar tzf "$(blob "$D/stub-$s" "$(layers "$D/stub-$s" | tail -n 1)")" 2>&1 | tr '\n' ' ')
		check "$m: $s: the apt stub's directories stay out of the layer ($got)" \
			sh -c "! printf '%s\n' '$got' | grep -q etc/apt"
	done

	# The result runs, and the store keeps no run directory.
	out=$(as $m "$H" --root "$D/copy" run --identity $m out sh -c \
		'cat /data/mod /data/swap; ls /data/f2d; test -e /data/gone || echo gone-ok' | tr '\n' ' ')
	check "$m: the image runs ($out)" [ "$out" = "m more file x gone-ok " ]
	left=$(ls "$D/copy/tmp" 2>/dev/null | grep -E '^(run|probe)-' || true)
	check "$m: run directories removed" [ -z "$left" ]
	as $m env HOIST_SNAPSHOTTER=bogus "$H" --root "$D/copy" run --identity $m out true \
		2>"$D/bogus.err"
	check "$m: a bad HOIST_SNAPSHOTTER is an error" grep -q "HOIST_SNAPSHOTTER='bogus'" "$D/bogus.err"
done

# auto: a store on overlayfs, which refuses to hold an upper directory, so
# the probe fails and the copy takes over; same layers as real overlay.
if [ -d "$W/root/overlay-layout" ]; then
	mkdir -p "$W/ovl/l" "$W/ovl/u" "$W/ovl/w" "$W/ovl/m"
	if mount -t overlay overlay -o "lowerdir=$W/ovl/l,upperdir=$W/ovl/u,workdir=$W/ovl/w" \
		"$W/ovl/m" 2>/dev/null; then
		S="$W/ovl/m/store"
		as root "$H" --root "$S" import "$W/bb.tar" bb >/dev/null
		as root "$H" --root "$S" build --identity root --progress plain -t out \
			--output "type=oci,dest=$W/ovl-layout" "$W/root/ctx" >/dev/null 2>"$W/ovl.log"
		check "auto: a store on overlayfs builds" [ -f "$W/ovl-layout/index.json" ]
		[ -f "$W/ovl-layout/index.json" ] || diag_file "$W/ovl.log" | tail -n 20
		check "auto: the fallback is reported with its reason" \
			grep -q 'snapshot: full-tree comparison (overlayfs unavailable: ' "$W/ovl.log"
		check "auto: the same layer digests as overlay" \
			[ "$(layers "$W/ovl-layout")" = "$(layers "$W/root/overlay-layout")" ]
		umount "$W/ovl/m"
	else
		nok "auto: mounting a test overlay as root"
	fi
fi
finish
