#!/bin/sh
# Print the path of a local flat apt repository holding the .deb files the
# apt differential (tests/build/apt-differential.sh) installs, with every
# dependency the Debian bookworm minbase base lacks, making it on first use
# and caching it under CACHE_DIR (fixtures/cache/), keyed by month, mirror
# and package list, as the rootfs fixtures are.
#
# The packages are downloaded once, with the host's apt (the host is Debian
# 12 like the base), from the configured Debian mirror's bookworm main,
# the suite debian-base.sh makes the base from. apt runs with a private
# configuration (sources, lists, cache, no apt.conf.d of the host) and the
# base's own dpkg status as its status file, so it fetches exactly what an
# apt-get install in the base would. The index (Packages) is made by
# dpkg-scanpackages (dpkg-dev, which build-essential brings). A build then
# needs no network: the repository is bind-mounted from the build context
# and named in sources as `deb [trusted=yes] file:/repo ./`.
#
# The first caller makes it under a lock (flock on a file in the cache); a
# second caller waits for that lock, then finds the directory.
# Usage: apt-debs.sh CACHE_DIR BASE_TAR   prints the repository's directory
#        exit 77: cannot be made here (no apt-get or dpkg-scanpackages)
set -eu
cache=${1:?cache dir}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd) # apt's Dir:: settings want absolute paths
base=${2:?base tar}
# What the differential installs (its Dockerfile's groups). libcap2-bin is
# only a Recommends of iputils-ping, but without setcap its postinst falls
# back to a setuid ping: named here so that ping gets its capability.
PKGS="ca-certificates curl libcap2-bin iputils-ping sudo passwd tzdata python3 git
openssh-client locales adduser plocate build-essential"
PKGS=$(echo $PKGS)
mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
	awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit} /^deb / && $2 ~ /\/debian\/?$/ {print $2; exit}')
mirror=${mirror:-http://deb.debian.org/debian}
key=$(printf '%s' "$mirror" | sha256sum | cut -c1-12)
pkey=$(printf '%s' "$PKGS" | sha256sum | cut -c1-8)
out="$cache/apt-debs-$(date +%Y%m)-$key-$pkey"
if [ -s "$out/Packages" ]; then echo "$out"; exit 0; fi

command -v apt-get >/dev/null 2>&1 || { echo "apt-get not found" >&2; exit 77; }
command -v dpkg-scanpackages >/dev/null 2>&1 ||
	{ echo "dpkg-scanpackages not installed (apt-get install dpkg-dev)" >&2; exit 77; }

if [ -z "${HOIST_APT_DEBS_LOCKED:-}" ]; then
	HOIST_APT_DEBS_LOCKED=1 exec flock -o "$cache/.apt-debs.lock" sh "$0" "$@"
fi
tmp="$cache/tmp-$$-apt-debs"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
rm -rf "$tmp"
mkdir -p "$tmp/parts" "$tmp/lists/partial" "$tmp/archives/partial" "$tmp/repo"
tar -xOf "$base" ./var/lib/dpkg/status >"$tmp/status"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb [signed-by=$keyring] $mirror bookworm main" >"$tmp/sources.list"
# APT_CONFIG is read before the parts directory, so the host's apt.conf.d
# (proxies, docker-clean hooks, other architectures) does not apply.
cat >"$tmp/apt.conf" <<EOF
Dir::Etc::parts "$tmp/parts";
Dir::Etc::main "/dev/null";
Dir::Etc::sourcelist "$tmp/sources.list";
Dir::Etc::sourceparts "$tmp/parts";
Dir::Etc::preferences "/dev/null";
Dir::Etc::preferencesparts "$tmp/parts";
Dir::State "$tmp";
Dir::State::lists "$tmp/lists";
Dir::State::status "$tmp/status";
Dir::Cache "$tmp";
Dir::Cache::archives "$tmp/archives";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
APT::Install-Recommends "false";
Acquire::Languages "none";
APT::Sandbox::User "root";
EOF
export APT_CONFIG="$tmp/apt.conf"
apt-get -q update >&2
# shellcheck disable=SC2086
apt-get -q -y --download-only install $PKGS >&2
mv "$tmp"/archives/*.deb "$tmp/repo/"
(cd "$tmp/repo" && dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null)
chmod -R a+rX "$tmp/repo"
mv "$tmp/repo" "$out"
echo "$out"
