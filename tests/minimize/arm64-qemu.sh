#!/bin/sh
# hoist minimize of an arm64 image built under qemu-user: the Debian bookworm
# arm64 minbase (tests/lib/debian-arm64-base.sh, cached in fixtures/cache/),
# imported as linux/arm64; `hoist build --platform linux/arm64` of a
# Dockerfile FROM it whose RUN steps (apt-get install gcc libc6-dev
# libpng-dev libjansson-dev, gcc of a C program linked with -lpng16 -lz
# -ljansson) run emulated through hoist's private binfmt_misc; then
# `hoist minimize` onto the plain minbase, which has libz but neither libpng
# nor libjansson. The closure is read from ELF headers, natively. The
# production image runs the program under qemu, carries the two libraries,
# lacks gcc; a later RUN deleting libpng makes minimize fail naming it, with
# no image tagged; --install runs the arm64 base's apt-get under qemu. The negative build reuses the cached apt and gcc steps.
# Needs the network (apt's mirror) and root on the first run (the fixture).
# Takes 5-15 minutes warm (emulated apt and gcc), plus the fixture cold.
# TAP output.
set -u
H=${HOIST_BIN:?}; SRC=${HOIST_SRCDIR:?}; FIX=${HOIST_FIXTURES:?}
. "$SRC/tests/lib/tap.sh"
t0=$(date +%s)
elapsed() { echo "# $1: $(($(date +%s) - t0)) s since the start"; }

command -v qemu-aarch64-static >/dev/null 2>&1 || skip_all "qemu-user-static is not installed"
W=$(mktemp -d /tmp/hoist-minimize-arm64.XXXXXX)
trap 'rm -rf "$W"' EXIT
base=$("$SRC/tests/lib/debian-arm64-base.sh" "$FIX/cache" 2>"$W/base.err"); st=$?
[ $st -eq 77 ] && skip_all "no Debian arm64 minbase: $(tail -n 1 "$W/base.err")"
[ $st -eq 0 ] || { sed 's/^/# /' "$W/base.err"; bail "could not make the Debian arm64 base image"; }
elapsed "arm64 minbase ready ($base)"

S=$W/store
hoist() { "$H" --root "$S" "$@"; }
P=linux/arm64
L=/usr/lib/aarch64-linux-gnu

hoist import --platform $P "$base" deb-arm64 >/dev/null
check "import the arm64 minbase as linux/arm64" [ $? -eq 0 ]
check "its config says arm64" sh -c "'$H' --root '$S' inspect deb-arm64 | grep -q '\"architecture\": *\"arm64\"'"

# The apt step comes first and alone, so the negative build below (same
# prefix) takes it, and the gcc step, from the build cache.
mkdir -p "$W/ctx"
cat >"$W/ctx/Dockerfile" <<'DF'
FROM deb-arm64
RUN apt-get update -q && \
    apt-get install -y -q --no-install-recommends gcc libc6-dev libpng-dev libjansson-dev && \
    rm -rf /var/lib/apt/lists/*
COPY <<'EOF' /src/prog.c
#include <stdio.h>
#include <stdlib.h>
#include <png.h>
#include <zlib.h>
#include <jansson.h>
int main(void)
{
	json_t *o = json_pack("{s:i}", "hoist", 7);
	char *s = json_dumps(o, JSON_COMPACT);
	printf("png %s, zlib %s, jansson %s\n", png_get_libpng_ver(NULL), zlibVersion(), s);
	free(s);
	json_decref(o);
	return 0;
}
EOF
RUN gcc -O2 -o /usr/local/bin/prog /src/prog.c -lpng16 -lz -ljansson && /usr/local/bin/prog
DF
cp "$W/ctx/Dockerfile" "$W/ctx/Dockerfile.nolib"
echo "RUN rm -f $L/libpng16.so*" >>"$W/ctx/Dockerfile.nolib"

tb=$(date +%s)
hoist build --platform $P --progress plain -t dev "$W/ctx" >"$W/build.log" 2>&1
st=$?
tb=$(($(date +%s) - tb))
check "build the dev image under qemu: apt-get gcc libc6-dev libpng-dev libjansson-dev, gcc (${tb} s)" [ $st -eq 0 ]
[ $st -eq 0 ] || { tail -n 30 "$W/build.log" | sed 's/^/# /'; echo "1..$n"; exit 1; }
elapsed "dev image built"
check "the dev image's config says arm64" sh -c "'$H' --root '$S' inspect dev | grep -q '\"architecture\": *\"arm64\"'"
want=$(hoist run --platform $P dev /usr/local/bin/prog 2>&1)
echo "# dev: $want"
case $want in "png 1.6."*", zlib 1."*', jansson {"hoist":7}') ok "the program runs in the dev image under qemu" ;;
*) nok "the program runs in the dev image under qemu" ;; esac
check "the ELF is aarch64" sh -c "'$H' --root '$S' run --platform $P dev sh -c 'od -An -tx1 -j18 -N2 /usr/local/bin/prog' | grep -q 'b7 00'"

hoist minimize dev --base deb-arm64 --platform $P -t prod -v >"$W/min.out" 2>"$W/min.err"
st=$?
check "hoist minimize dev --base deb-arm64 --platform $P -t prod" [ $st -eq 0 ]
sed 's/^/# /' "$W/min.out" "$W/min.err"
check "closure lists libpng16.so.16" grep -q "^lib  *$L/libpng16.so.16.* needed by /usr/local/bin/prog" "$W/min.out"
check "closure lists libjansson.so.4" grep -q "^lib  *$L/libjansson.so.4.* needed by /usr/local/bin/prog" "$W/min.out"
check "closure lists libz.so.1" grep -q "^lib  *$L/libz.so.1.* needed by /usr/local/bin/prog" "$W/min.out"
check "closure lists libm.so.6, needed by libpng" grep -q "^lib  *$L/libm.so.6 .*needed by $L/libpng16" "$W/min.out"
check "closure lists the aarch64 loader" grep -q '^interp .*ld-linux-aarch64.so.1' "$W/min.out"
check "no x86_64 path in the closure" sh -c "! grep -q 'x86_64' '$W/min.out'"
check "the layer skips what the base has (libz, libc, the loader)" \
	grep -q '^closure: [0-9]* files; layer: [0-9]* entries ([1-9][0-9]* already in the base)' "$W/min.out"
before=$(sed -n 's/^size before: .*(\(.*\) compressed)/\1/p' "$W/min.out")
after=$(sed -n 's/^size after:  .*(\(.*\) compressed)/\1/p' "$W/min.out")
check "sizes reported (before $before, after $after)" [ -n "$before" -a -n "$after" ]
elapsed "minimized"

check "the production image's config says arm64" sh -c "'$H' --root '$S' inspect prod | grep -q '\"architecture\": *\"arm64\"'"
got=$(hoist run --platform $P prod /usr/local/bin/prog 2>&1)
check "the program runs in the production image under qemu ($got)" [ "$got" = "$want" ]
hoist run --platform $P deb-arm64 sh -c "test ! -e $L/libpng16.so.16 && test ! -e $L/libjansson.so.4"
check "the minbase lacks libpng16 and libjansson" [ $? -eq 0 ]
hoist run --platform $P prod sh -c "test -f $L/libpng16.so.16 && test -f $L/libjansson.so.4"
check "so the minimize layer brought them" [ $? -eq 0 ]
hoist run --platform $P prod sh -c 'test ! -e /usr/bin/gcc && test ! -e /usr/include/png.h && test ! -e /src/prog.c'
check "the production image lacks gcc, the -dev headers and the source" [ $? -eq 0 ]
check "the history names the minimize step" [ "$(hoist inspect prod | grep -c 'hoist minimize dev')" -ge 1 ]

# Negative: libpng deleted in a later RUN layer (whiteouts). All other
# steps are cache hits.
tb=$(date +%s)
hoist build --platform $P --progress plain -f "$W/ctx/Dockerfile.nolib" -t dev-nolib "$W/ctx" >"$W/build2.log" 2>&1
st=$?
tb=$(($(date +%s) - tb))
check "dev-nolib: libpng removed in a RUN layer, apt and gcc steps cached (${tb} s)" [ $st -eq 0 ]
[ $st -eq 0 ] || tail -n 30 "$W/build2.log" | sed 's/^/# /'
hoist minimize dev-nolib --base deb-arm64 --platform $P -t prod-nolib >"$W/nolib.out" 2>"$W/nolib.err"
st=$?
sed 's/^/# /' "$W/nolib.err"
check "a missing library fails minimize (status $st)" [ $st -ne 0 ]
check "and is reported by name" grep -q "'libpng16.so.16' needed by '/usr/local/bin/prog' not found in the image" "$W/nolib.err"
hoist inspect prod-nolib >/dev/null 2>&1
check "no production image is tagged" [ $? -ne 0 ]

# Production packages on an arm64 base: its apt-get runs under qemu.
hoist minimize dev --base deb-arm64 --platform $P -t prod-hello --no-default-paths \
	--add /usr/local/bin/prog --install hello >"$W/hello.out" 2>"$W/hello.err"
st=$?
check "--install hello: the arm64 base's apt-get under qemu" [ $st -eq 0 ]
[ $st -eq 0 ] || tail -n 20 "$W/hello.err" | sed 's/^/# /'
got=$(hoist run --platform $P prod-hello hello 2>&1)
check "the production package runs ($got)" [ "$got" = "Hello, world!" ]
got=$(hoist run --platform $P prod-hello /usr/local/bin/prog 2>&1)
check "and so does the program ($got)" [ "$got" = "$want" ]
elapsed "--install done"

elapsed "done"
echo "1..$n"
[ $failed -eq 0 ]
