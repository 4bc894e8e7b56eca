#!/bin/sh
# hoist minimize end to end: a Debian bookworm minbase image (mmdebstrap,
# cached in fixtures/cache/), a dev image made from it with `hoist run
# --commit` (apt-get install gcc + -dev packages, then a C program linked
# with -lz -lcrypto in /usr/local/bin and a tool with RUNPATH $ORIGIN/../lib
# in /opt/tool), minimized onto the minbase. The production image runs the
# programs, lacks gcc, skips what the base already has (libz), and a library
# deleted in a later layer is reported by name. Needs the network (apt's
# mirror). TAP output.
set -u
H=${HOIST_BIN:?}; SRC=${HOIST_SRCDIR:?}; FIX=${HOIST_FIXTURES:?}
. "$SRC/tests/lib/tap.sh"
base=$("$SRC/tests/sandbox/debian-base.sh" "$FIX/cache"); st=$?
[ $st -eq 77 ] && skip_all "mmdebstrap is not installed"
[ $st -eq 0 ] || bail "could not make the Debian base image"

tmpdir W /tmp/hoist-minimize-test.XXXXXX
export HOIST_ROOT="$W/store"
mkdir -p "$W/src"
cat >"$W/src/app.c" <<'C'
#include <stdio.h>
#include <zlib.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
int main(void)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)"hoist", 5, md);
	printf("zlib %s, %s, sha256 %02x%02x\n", zlibVersion(),
	       OpenSSL_version(OPENSSL_VERSION), md[0], md[1]);
	return 0;
}
C
cat >"$W/src/tool.c" <<'C'
#include <stdio.h>
int toolib(void);
int main(void) { printf("tool %d\n", toolib()); return 0; }
C
echo 'int toolib(void) { return 42; }' >"$W/src/toolib.c"
cat >"$W/src/build.sh" <<'SH'
set -e
apt-get update -q
apt-get install -y -q --no-install-recommends gcc libc6-dev zlib1g-dev libssl-dev
gcc -O2 -o /usr/local/bin/app /src/app.c -lz -lcrypto
mkdir -p /opt/tool/bin /opt/tool/lib
gcc -shared -fPIC -Wl,-soname,libtool42.so.1 -o /opt/tool/lib/libtool42.so.1.0 /src/toolib.c
ln -s libtool42.so.1.0 /opt/tool/lib/libtool42.so.1
gcc -o /opt/tool/bin/tool /src/tool.c /opt/tool/lib/libtool42.so.1.0 '-Wl,-rpath,$ORIGIN/../lib'
/usr/local/bin/app
/opt/tool/bin/tool
SH

"$H" import "$base" deb >/dev/null
check "import the Debian minbase" [ $? -eq 0 ]
"$H" run -v "$W/src:/src:ro" --commit dev deb sh /src/build.sh >"$W/dev.log" 2>&1
st=$?
check "dev image: gcc, zlib1g-dev, libssl-dev, app and tool built" [ $st -eq 0 ]
[ $st -eq 0 ] || { tail -n 20 "$W/dev.log" | sed 's/^/# /'; finish; }
want=$("$H" run dev /usr/local/bin/app)

"$H" minimize dev --base deb -t prod --path /opt/tool -v >"$W/min.out" 2>"$W/min.err"
st=$?
check "hoist minimize dev --base deb -t prod --path /opt/tool" [ $st -eq 0 ]
sed 's/^/# /' "$W/min.out" "$W/min.err"
check "closure lists libcrypto.so.3" grep -q 'libcrypto.so.3' "$W/min.out"
check "closure lists libz.so.1" grep -q 'libz.so.1' "$W/min.out"
check "closure lists the interpreter" grep -q '^interp .*ld-linux' "$W/min.out"
check "closure lists libtool42 through \$ORIGIN" grep -q '/opt/tool/lib/libtool42.so.1.0' "$W/min.out"
before=$(sed -n 's/^size before: .*(\(.*\) compressed)/\1/p' "$W/min.out")
after=$(sed -n 's/^size after:  .*(\(.*\) compressed)/\1/p' "$W/min.out")
check "sizes reported (before $before, after $after)" [ -n "$before" -a -n "$after" ]

got=$("$H" run prod /usr/local/bin/app 2>&1)
check "the program runs in the production image ($got)" [ "$got" = "$want" ]
got=$("$H" run prod /opt/tool/bin/tool 2>&1)
check "the --path tool runs in the production image ($got)" [ "$got" = "tool 42" ]
"$H" run prod sh -c 'test ! -e /usr/bin/gcc && test ! -e /usr/include/zlib.h'
check "the production image lacks gcc and the -dev headers" [ $? -eq 0 ]
"$H" run prod sh -c 'test -e /usr/lib/x86_64-linux-gnu/libcrypto.so.3'
check "the production image has libcrypto.so.3" [ $? -eq 0 ]
check "the history names the minimize step" [ "$("$H" inspect prod | grep -c 'hoist minimize dev')" -ge 1 ]

"$H" run --commit dev-nolibz dev sh -c 'rm -f /usr/lib/x86_64-linux-gnu/libz.so*' >/dev/null 2>&1
check "dev-nolibz: libz removed in a RUN layer (whiteouts)" [ $? -eq 0 ]
"$H" minimize dev-nolibz --base deb -t prod-nolibz >"$W/nolibz.out" 2>"$W/nolibz.err"
st=$?
sed 's/^/# /' "$W/nolibz.err"
check "a library deleted in a later layer fails minimize (status $st)" [ $st -eq 1 ]
check "and is reported by name" grep -q "'libz.so.1' needed by '/usr/local/bin/app' not found in the image" "$W/nolibz.err"
"$H" minimize dev-nolibz --base deb -t prod-nolibz --allow-missing >"$W/nolibz2.out" 2>"$W/nolibz2.err"
check "--allow-missing makes it a warning" [ $? -eq 0 ] 
check "warning names the library" grep -q "libz.so.1" "$W/nolibz2.err"

"$H" minimize dev --base deb -t prod-hello --no-default-paths --add /usr/local/bin/app \
	--install hello >"$W/hello.out" 2>"$W/hello.err"
st=$?
check "--install hello (apt-get in the sandbox)" [ $st -eq 0 ]
[ $st -eq 0 ] || tail -n 20 "$W/hello.err" | sed 's/^/# /'
got=$("$H" run prod-hello hello 2>&1)
check "the production package runs ($got)" [ "$got" = "Hello, world!" ]
got=$("$H" run prod-hello /usr/local/bin/app 2>&1)
check "and so does the program ($got)" [ "$got" = "$want" ]
"$H" run prod-hello sh -c 'test ! -e /opt/tool'
check "--no-default-paths: only what --add names" [ $? -eq 0 ]

finish
