#!/bin/sh
# Build hoist's own container image with hoist (contrib/container/Dockerfile)
# and optionally save it as a docker-archive. No registry, no network beyond
# Debian's apt archive (for the base, once):
#
#   1. the base: a Debian bookworm minbase root filesystem tar (mmdebstrap,
#      made and cached by tests/sandbox/debian-base.sh in fixtures/cache/,
#      or --base TAR), imported as hoist-base/debian:bookworm-minbase. That is
#      the package set of Debian's slim image, without its dpkg filter of
#      docs, man pages and locales;
#   2. the context: rootfs/opt/hoist/bin/hoist (the binary given, its ELF
#      interpreter and DT_RPATH rewritten by patchelf to /opt/hoist/lib),
#      rootfs/opt/hoist/lib/ (every shared library it links or dlopen()s
#      and what those need, the loader and libc too, copied under the
#      names they are asked for: hoist does not
#      depend on the base's libraries, so the in-place rung may replace
#      them), a link /usr/local/bin/hoist, the host's CA bundle
#      (/etc/ssl/certs/ca-certificates.crt, which libcurl reads; minbase
#      has no ca-certificates; a copy in /opt/hoist/etc/ for --tls-ca after
#      in-place RUNs) and the store directory /var/lib/hoist
#      (mode 1777);
#   3. hoist build -t NAME with SOURCE_DATE_EPOCH (default: the last commit's
#      time), so the same binary and base give the same image digest.
#
# Usage: contrib/container/mkimage.sh [-t NAME] [--base TAR] [-o ARCHIVE]
#   -t NAME       the image's name (default hoist:latest)
#   --base TAR    the minbase tar (default: made/cached in fixtures/cache)
#   -o ARCHIVE    also save the image there (docker-archive, for docker load,
#                 podman load, or hoist push from another store)
# Environment: HOIST (the binary to build with and to put in the image;
# default build/src/cli/hoist), HOIST_ROOT (the store to build in),
# SOURCE_DATE_EPOCH.
# Prints the image digest (hoist build's --iidfile) on stdout.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
H=${HOIST:-$src/build/src/cli/hoist}
name=hoist:latest
base=''
out=''
while [ $# -gt 0 ]; do
	case $1 in
	-t) name=${2:?-t NAME}; shift 2 ;;
	--base) base=${2:?--base TAR}; shift 2 ;;
	-o) out=${2:?-o ARCHIVE}; shift 2 ;;
	*) echo "mkimage: unknown argument '$1' (usage: mkimage.sh [-t NAME] [--base TAR] [-o ARCHIVE])" >&2
	   exit 2 ;;
	esac
done
[ -x "$H" ] || { echo "mkimage: '$H' is not an executable hoist (build it: make build, or set HOIST)" >&2; exit 1; }
command -v ldd >/dev/null || { echo "mkimage: ldd not found (libc-bin)" >&2; exit 1; }
command -v patchelf >/dev/null || { echo "mkimage: patchelf not found (apt-get install patchelf)" >&2; exit 1; }
if [ -z "$base" ]; then
	base=$("$src/tests/sandbox/debian-base.sh" "$src/fixtures/cache") ||
		{ echo "mkimage: cannot make the Debian minbase tar (tests/sandbox/debian-base.sh; needs mmdebstrap)" >&2; exit 1; }
fi
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$src" log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH

tmp=$(mktemp -d /tmp/hoist-mkimage.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
ctx=$tmp/ctx
r=$ctx/rootfs
mkdir -p "$r/opt/hoist/bin" "$r/opt/hoist/lib" "$r/usr/local/bin" "$r/etc/ssl/certs" \
	"$r/var/lib/hoist" "$r/workspace"
chmod 1777 "$r/var/lib/hoist"
cp "$src/contrib/container/Dockerfile" "$ctx/Dockerfile"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
	cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/"
	# a copy in the kept tree: after in-place RUNs /etc is the image's
	mkdir -p "$r/opt/hoist/etc"
	cp /etc/ssl/certs/ca-certificates.crt "$r/opt/hoist/etc/"
else
	echo "mkimage: warning: no /etc/ssl/certs/ca-certificates.crt here: the image trusts no CA (apt-get install ca-certificates)" >&2
fi

# What hoist loads: what it links (ldd) and what it dlopen()s on first
# use (src/registry/curl-dl.c, src/layer/archive-dl.c, src/util/sha256.c),
# with what those need. ldd lines: "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1
# (0x...)" and the loader "/lib64/ld-linux-x86-64.so.2 (0x...)".
DLOPENED="libcurl.so.4 libarchive.so.13 libcrypto.so.3"
objs=$H
for so in $DLOPENED; do
	p=$(ldconfig -p | awk -v so="$so" '$1 == so && /x86-64|x32|64bit/ {print $NF; exit}')
	[ -n "$p" ] || p=$(ldconfig -p | awk -v so="$so" '$1 == so {print $NF; exit}')
	[ -n "$p" ] || { echo "mkimage: '$so' is not installed here (hoist loads it: make deps)" >&2; exit 1; }
	objs="$objs $p"
done
: >"$tmp/libs"
for o in $objs; do
	ldd "$o" >"$tmp/ldd" || { echo "mkimage: ldd '$o' failed" >&2; exit 1; }
	if grep 'not found' "$tmp/ldd" >&2; then
		echo "mkimage: '$o' needs a library this host lacks" >&2
		exit 1
	fi
	case $o in "$H") ;; *) echo "$o" >>"$tmp/libs" ;; esac
	awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' "$tmp/ldd" >>"$tmp/libs"
done
interp=
n=0
for lib in $(sort -u "$tmp/libs"); do
	[ -e "$r/opt/hoist/lib/$(basename "$lib")" ] && continue
	cp -L "$lib" "$r/opt/hoist/lib/$(basename "$lib")"
	case $lib in */ld-linux*) interp=/opt/hoist/lib/$(basename "$lib") ;; esac
	n=$((n + 1))
done
[ -n "$interp" ] || { echo "mkimage: no ELF interpreter in ldd's output for '$H'" >&2; exit 1; }
cp "$H" "$r/opt/hoist/bin/hoist"
# DT_RPATH, not RUNPATH: it applies to the libraries' own needs as well.
patchelf --set-interpreter "$interp" --force-rpath --set-rpath /opt/hoist/lib "$r/opt/hoist/bin/hoist"
chmod -R a+rX,go-w "$r/opt/hoist"
chmod 0755 "$r/opt/hoist/bin/hoist"
ln -s /opt/hoist/bin/hoist "$r/usr/local/bin/hoist"
echo "mkimage: hoist and $n libraries in /opt/hoist" >&2

"$H" import "$base" hoist-base/debian:bookworm-minbase >/dev/null
"$H" build -q --iidfile "$tmp/iid" -t "$name" "$ctx" >/dev/null
if [ -n "$out" ]; then
	"$H" save -o "$out" "$name"
fi
cat "$tmp/iid"
echo
