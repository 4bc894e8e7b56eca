#!/bin/sh
# The CLI contract: --help, --version, exit status 0 / 1 / 2, and that every
# command listed in `hoist --help` answers `hoist CMD --help` with status 0.
set -u
. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
H=${HOIST_BIN:?}

out=$("$H" --help); st=$?
check "hoist --help exits 0" [ $st -eq 0 ]
check "hoist --help lists commands" sh -c 'echo "$1" | grep -q "^Commands:"' _ "$out"
"$H" --version | grep -Eq '^hoist version [0-9]+\.[0-9]+\.[0-9]+'; check "hoist --version" [ $? -eq 0 ]
"$H" >/dev/null 2>&1; check "no command exits 2" [ $? -eq 2 ]
"$H" no-such-command >/dev/null 2>&1; check "unknown command exits 2" [ $? -eq 2 ]
"$H" --no-such-option >/dev/null 2>&1; check "unknown global option exits 2" [ $? -eq 2 ]
for c in $(echo "$out" | sed -n '/^Commands:/,/^$/p' | awk 'NR>1 && NF {print $1}'); do
	"$H" "$c" --help >/dev/null 2>&1; check "hoist $c --help exits 0" [ $? -eq 0 ]
	"$H" "$c" --no-such-flag >/dev/null 2>&1; check "hoist $c with an unknown flag exits 2" [ $? -eq 2 ]
done

# hoist run: the option it does not know, on one line (issue #13)
opts="options: -e/--env, -v/--volume, -w/--workdir, -u/--user, --network, --hostname, --entrypoint, --rm, --identity, --isolation, --commit, --progress, --platform, --pull, --offline, --registries-conf, --insecure-registry, --tls-ca, -h/--help"
err=$("$H" run -it bb sh 2>&1); st=$?
is "$st $err" "2 hoist run: unknown option '-it' (the command always gets hoist's stdin, stdout and stderr); $opts" "hoist run -it names the option"
err=$("$H" run -e FOO=1 --frobnicate bb 2>&1); st=$?
is "$st $err" "2 hoist run: unknown option '--frobnicate'; $opts" "hoist run --frobnicate names the option"
err=$("$H" run --env 2>&1); st=$?
is "$st $err" "2 hoist run: option '--env' needs a value; $opts" "hoist run --env without a value"

# hoist run of an index without this machine's platform (issue #13): no
# sandbox is needed to get there, only an index of foreign images.
if [ -x /bin/busybox ]; then
	T=$(mktemp -d /tmp/hoist-cli.XXXXXX)
	base=$T/busybox-rootfs.tar
	"$HOIST_SRCDIR/scripts/mkrootfs-busybox.sh" "$base" >/dev/null
	R="$H --root $T/root"
	$R import --platform linux/arm64 "$base" bb:arm64 >/dev/null &&
		$R import --platform linux/arm/v7 "$base" bb:arm >/dev/null &&
		$R import --platform linux/amd64 "$base" bb:amd64 >/dev/null &&
		$R manifest create localhost/bb:foreign bb:arm64 bb:arm >/dev/null &&
		$R manifest create localhost/bb:part bb:arm64 bb:amd64 >/dev/null
	check "an index of foreign images" [ $? -eq 0 ]
	if [ "$(uname -m)" = x86_64 ]; then
		err=$($R run localhost/bb:foreign true 2>&1); st=$?
		is "$st $err" "125 hoist: image 'localhost/bb:foreign' has no linux/amd64 image: it holds linux/arm64, linux/arm/v7; run one with 'hoist run --platform linux/arm64 localhost/bb:foreign'" \
			"hoist run of an index without this platform names the ones it has"
		# as `hoist pull --platform linux/arm64` leaves it: the amd64
		# manifest listed but not in the store
		amd=$($R manifest inspect --raw bb:amd64 | sha256sum | cut -d' ' -f1)
		rm -f "$T/root/blobs/sha256/$amd"
		err=$($R run localhost/bb:part true 2>&1); st=$?
		is "$st $err" "125 hoist: image 'localhost/bb:part' has no linux/amd64 image in the store: it holds linux/arm64 (not pulled: linux/amd64); run one with 'hoist run --platform linux/arm64 localhost/bb:part', or 'hoist pull --platform linux/amd64 localhost/bb:part' fetches this one" \
			"hoist run of an index whose platform was not pulled says how to pull it"
		err=$($R run --platform linux/s390x localhost/bb:foreign true 2>&1); st=$?
		is "$st $err" "125 hoist: image 'localhost/bb:foreign' has no linux/s390x image: it holds linux/arm64, linux/arm/v7; run one with 'hoist run --platform linux/arm64 localhost/bb:foreign'" \
			"hoist run --platform of a platform the index lacks"
	else
		skip "the expected texts name linux/amd64 (this is $(uname -m))"
	fi
	rm -rf "$T"
else
	skip_or_fail "busybox-static is not installed"
fi
finish
