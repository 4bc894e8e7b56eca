#!/bin/sh
# hoist minimize on foreign architectures, without emulation: Debian's
# pigz, zlib1g and libc6 .debs for arm64 and armhf (downloaded once with a
# private apt state, cached in fixtures/cache/debs) unpacked into a rootfs
# that also holds an x86_64 libz.so.1 in /usr/local/lib, listed first by
# its ld.so.conf: the closure of /usr/bin/pigz must take the library of its
# own ABI, the right loader, and run under qemu-user when it is installed.
# Needs the network on first use. TAP output.
set -u
H=${HOIST_BIN:?}; FIX=${HOIST_FIXTURES:?}
. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
command -v dpkg-deb >/dev/null || skip_all "dpkg-deb is not installed"
cache=$FIX/cache/debs
tmpdir W /tmp/hoist-minimize-foreign.XXXXXX
export HOIST_ROOT="$W/store"
pkgs="pigz:arm64 zlib1g:arm64 libc6:arm64 pigz:armhf zlib1g:armhf libc6:armhf zlib1g:amd64"
have() { for p in $pkgs; do ls "$cache/${p%%:*}_"*"_${p##*:}.deb" >/dev/null 2>&1 || return 1; done; }
if ! have; then
	st=$W/apt; mkdir -p "$st/lists/partial" "$st/cache/archives/partial" "$st/dl" "$st/sources.d"
	mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main" >"$st/sources.list"
	opts="-q -o APT::Architectures::=amd64 -o APT::Architectures::=arm64
	      -o APT::Architectures::=armhf -o Dir::State::Lists=$st/lists
	      -o Dir::Cache=$st/cache -o Dir::State::status=/dev/null
	      -o Dir::Etc::SourceList=$st/sources.list -o Dir::Etc::SourceParts=$st/sources.d
	      -o Acquire::Languages=none -o APT::Sandbox::User=root"
	# shellcheck disable=SC2086
	{ apt-get $opts update && (cd "$st/dl" && apt-get $opts download $pkgs); } >"$W/apt.log" 2>&1 ||
		skip_all "cannot download the foreign .debs (offline?)"
	mkdir -p "$cache"
	for f in "$st"/dl/*.deb; do cp "$f" "$cache/.tmp.$$" && mv "$cache/.tmp.$$" "$cache/$(basename "$f")"; done
fi

for arch in arm64 armhf; do
	case $arch in
	arm64) triplet=aarch64-linux-gnu; ld=ld-linux-aarch64.so.1; qemu=qemu-aarch64-static ;;
	armhf) triplet=arm-linux-gnueabihf; ld=ld-linux-armhf.so.3; qemu=qemu-arm-static ;;
	esac
	R=$W/root-$arch; mkdir -p "$R/etc" "$R/usr/local/lib"
	for p in pigz zlib1g libc6; do dpkg-deb -x "$cache/${p}_"*"_$arch.deb" "$R"; done
	# The distractor: an x86_64 libz.so.1 first in the search.
	A=$W/amd64; mkdir -p "$A"; dpkg-deb -x "$cache/zlib1g_"*"_amd64.deb" "$A"
	cp -L "$(find "$A" -name 'libz.so.1' | head -n1)" "$R/usr/local/lib/libz.so.1"
	echo /usr/local/lib >"$R/etc/ld.so.conf"
	tar -C "$R" -cf "$W/$arch.tar" .
	mkdir -p "$W/empty/etc"; tar -C "$W/empty" -cf "$W/empty.tar" .
	"$H" import --platform "linux/$arch" "$W/$arch.tar" "foreign-$arch" >/dev/null &&
		"$H" import --platform "linux/$arch" "$W/empty.tar" "base-$arch" >/dev/null
	check "$arch: import the rootfs and an empty base" [ $? -eq 0 ]
	"$H" minimize "foreign-$arch" --base "base-$arch" --platform "linux/$arch" \
		--no-default-paths --add /usr/bin/pigz -v -t "prod-$arch" >"$W/out" 2>&1
	check "$arch: hoist minimize (status $?)" [ $? -eq 0 ]
	sed 's/^/# /' "$W/out"
	check "$arch: libz.so.1 of its own ABI" grep -q "^lib .*/$triplet/libz.so.1.* needed by /usr/bin/pigz" "$W/out"
	check "$arch: the x86_64 libz.so.1 is passed over" sh -c "! grep -q '/usr/local/lib/libz' '$W/out'"
	check "$arch: its loader $ld" grep -q "^interp .*$ld" "$W/out"
	check "$arch: libc.so.6" grep -q "^lib .*/$triplet/libc.so.6" "$W/out"
	if command -v "$qemu" >/dev/null 2>&1; then
		got=$("$H" run --platform "linux/$arch" "prod-$arch" /usr/bin/pigz --version 2>&1)
		check "$arch: pigz runs in the production image under qemu ($got)" \
			sh -c "echo '$got' | grep -q '^pigz '"
	else
		ok "$arch: run under qemu # SKIP $qemu is not installed"
	fi
done
finish
