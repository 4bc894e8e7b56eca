#!/bin/sh
# Make a multi-arch base image offline from Debian's busybox-static: one
# image per architecture (linux/amd64, linux/arm64, linux/arm/v7) imported
# with `hoist import --platform`, joined by `hoist manifest create`.
#
# Usage: tests/lib/mkmultiarch.sh STORE NAME
#   STORE  the hoist store (HOIST_ROOT) to fill
#   NAME   a repository without tag: the parts are tagged NAME:amd64,
#          NAME:arm64 and NAME:armhf, the index NAME:latest (its digest is
#          printed on stdout)
# Environment: HOIST_BIN (default: hoist in PATH), HOIST_SRCDIR (default: the
# checkout this script is in), HOIST_DEB_CACHE (default:
# $HOIST_SRCDIR/fixtures/cache/debs), HOIST_MULTIARCH_FORMAT (oci|docker).
#
# The .debs are downloaded once into the cache and reused (offline after
# that). The download uses a private apt state directory with
# APT::Architectures set for the call: dpkg's foreign architectures and the
# host's package lists stay untouched (adding armhf to dpkg once broke
# `apt-get update` on these machines: a mirror index size mismatch).
# Exit status: 0 done, 1 failure, 77 when the .debs are neither cached nor
# downloadable (the caller may skip).
#
# `mkmultiarch.sh --fetch CACHE_DIR` only downloads the .debs into
# CACHE_DIR/debs (scripts/prefetch-fixtures.sh does it while CI compiles).
set -eu
src=${HOIST_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cache=${HOIST_DEB_CACHE:-$src/fixtures/cache/debs}
fetch_only=false
if [ "${1:-}" = --fetch ]; then
	fetch_only=true
	cache=${2:?usage: mkmultiarch.sh --fetch CACHE_DIR}/debs
	set -- /nonexistent none
fi
store=${1:?usage: mkmultiarch.sh STORE NAME}
name=${2:?usage: mkmultiarch.sh STORE NAME}
H=${HOIST_BIN:-hoist}
fmt=${HOIST_MULTIARCH_FORMAT:-oci}
arches="amd64 arm64 armhf"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

tmp=$(mktemp -d /tmp/hoist-multiarch.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

have_all() {
	for a in $arches; do
		ls "$cache"/busybox-static_*_"$a".deb >/dev/null 2>&1 || return 1
	done
}

fetch() {
	st=$tmp/apt
	mkdir -p "$st/lists/partial" "$st/cache/archives/partial" "$st/dl" "$st/sources.d"
	# The host's mirror, but only its main suite: the security suite's armhf
	# index has been seen out of sync with its Release file (size mismatch).
	mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	[ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
	[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
	suite=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror ${suite:-bookworm} main" \
		>"$st/sources.list"
	opts="-q -o APT::Architectures::=amd64 -o APT::Architectures::=arm64
	      -o APT::Architectures::=armhf -o Dir::State::Lists=$st/lists
	      -o Dir::Cache=$st/cache -o Dir::State::status=/dev/null
	      -o Dir::Etc::SourceList=$st/sources.list -o Dir::Etc::SourceParts=$st/sources.d
	      -o Acquire::Languages=none -o APT::Sandbox::User=root"
	# shellcheck disable=SC2086
	apt-get $opts update >"$tmp/apt.log" 2>&1 || return 1
	# shellcheck disable=SC2086
	(cd "$st/dl" && apt-get $opts download busybox-static:amd64 busybox-static:arm64 \
		busybox-static:armhf) >>"$tmp/apt.log" 2>&1 || return 1
	mkdir -p "$cache"
	for f in "$st"/dl/*.deb; do
		cp "$f" "$cache/.tmp.$$" && mv "$cache/.tmp.$$" "$cache/$(basename "$f")"
	done
}

mkdir -p "$cache"
# One downloader at a time; the others wait and then find the cache filled.
exec 9>"$cache/.lock"
flock 9
if ! have_all; then
	if ! fetch || ! have_all; then
		echo "mkmultiarch: cannot download busybox-static .debs (offline and no cache in $cache)" >&2
		sed 's/^/mkmultiarch: /' "$tmp/apt.log" >&2 2>/dev/null || true
		exit 77
	fi
fi
$fetch_only && exit 0
export HOIST_ROOT="$store"
parts=""
for a in $arches; do
	case $a in
	amd64) p=linux/amd64 ;;
	arm64) p=linux/arm64 ;;
	armhf) p=linux/arm/v7 ;;
	esac
	deb=$(ls "$cache"/busybox-static_*_"$a".deb | sort | tail -n 1)
	# The rootfs tarball is cached beside its .deb: making one forks a few
	# thousand times (an applet link each), which takes seconds.
	tar=${deb%.deb}.rootfs-$SOURCE_DATE_EPOCH.tar
	if [ ! -s "$tar" ]; then
		mkdir -p "$tmp/x-$a"
		dpkg-deb -x "$deb" "$tmp/x-$a"
		sh "$src/scripts/mkrootfs-busybox.sh" "$tmp/$a.tar" "$tmp/x-$a/bin/busybox"
		mv "$tmp/$a.tar" "$tar"
	fi
	"$H" import --platform "$p" "$tar" "$name:$a" >/dev/null
	parts="$parts $name:$a"
done
# shellcheck disable=SC2086
"$H" manifest create --format "$fmt" "$name:latest" $parts
flock -u 9
