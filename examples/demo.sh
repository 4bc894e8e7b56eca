#!/bin/sh
# The README demo: make a base image offline from Debian's busybox-static,
# build examples/hello (a multi-stage Dockerfile with a RUN step) with it, write an OCI
# archive, and show what was built. Needs only hoist, tar and busybox-static.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
hoist=${HOIST:-hoist}
work=${DEMO_DIR:-$here/../out/demo}
mkdir -p "$work"
root="$work/store"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

echo "== the Dockerfile, as hoist parses it"
"$hoist" dockerfile dump "$here/hello/Dockerfile"

echo "== the build context after .dockerignore"
"$hoist" context ls "$here/hello"

echo "== a base image from Debian's busybox-static, made offline"
"$here/../scripts/mkrootfs-busybox.sh" "$work/busybox-rootfs.tar"
"$hoist" --root "$root" import "$work/busybox-rootfs.tar" demo/busybox:latest

echo "== the build"
"$hoist" --root "$root" build --progress plain -t demo/hello:latest \
	--output "type=oci-archive,dest=$work/hello.oci.tar" "$here/hello"

echo "== what the RUN step did, run in the image's sandbox"
"$hoist" --root "$root" run demo/hello:latest cat /srv/www/motd.txt

echo "== the image"
"$hoist" --root "$root" images
echo "OCI archive: $work/hello.oci.tar"
echo "digest: $("$hoist" --root "$root" inspect demo/hello:latest | sed -n 's/^ *"Digest": "\(sha256:[0-9a-f]*\)".*/\1/p' | head -n 1)"
