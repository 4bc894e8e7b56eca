#!/bin/sh
# hoist chain on stand-ins of atom's docker/stock and docker/graphics
# (tests/chain/fixtures): the chain builds from an offline busybox base,
# every step's build args arrive, intermediates are tagged, a rebuild is all
# cache hits, a change in step 5 rebuilds steps 5..9 only, and build.sh's
# compat mode names things as build.sh does. TAP output.
set -u
H=${HOIST_BIN:?}; SRC=${HOIST_SRCDIR:?}
. "$SRC/tests/lib/tap.sh"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
case $(uname -m) in
x86_64) P=amd64 ;;
aarch64) P=aarch64 ;;
*) skip_all "the fixtures' args files are for amd64 and aarch64" ;;
esac

tmpdir W /tmp/hoist-chain-test.XXXXXX
export HOIST_ROOT="$W/store"
cp -r "$SRC/tests/chain/fixtures" "$W/atom"
A="$W/atom"
"$SRC/scripts/mkrootfs-busybox.sh" "$W/bb.tar"
"$H" import "$W/bb.tar" bb >/dev/null
check "import the busybox base" [ $? -eq 0 ]

# list: order and args files
"$H" chain list --platform $P "$A/docker/stock" >"$W/list" 2>&1
check "list: nine steps in numeric order" \
	[ "$(awk '{print $3}' "$W/list" | sed 's|.*/||' | tr '\n' ' ')" = \
	"01-Dockerfile-packages 02-Dockerfile-python 03-Dockerfile-blas 04-Dockerfile-python-numpy 05-Dockerfile-arrow 10-Dockerfile-c-cpp 20-Dockerfile-python-arrow 21-Dockerfile-python-redis 90-Dockerfile-redis " ]
"$H" chain list --platform aarch64 "$A/docker/stock" >"$W/list-arm" 2>&1
check "list: aarch64 takes the -aarch64-args files" \
	grep -q "03-Dockerfile-blas --build-arg 'BLAS_ARGS=TARGET=ARMV8'" "$W/list-arm"
"$H" chain list --platform linux/arm64 "$A/docker/stock" >"$W/list-arm2" 2>&1
check "list: linux/arm64 is aarch64" cmp -s "$W/list-arm" "$W/list-arm2"

# build stock then graphics
cd "$A" || exit 1
d1=$("$H" chain build --base bb -t atom:stock "$A/docker/stock" "$A/docker/graphics" 2>"$W/b1.log"); st=$?
check "chain build of stock + graphics" [ $st -eq 0 ]
[ $st -eq 0 ] || diag_file "$W/b1.log"
"$H" run atom:stock cat /chain/log >"$W/log1" 2>&1
check "steps ran in order, FROM the previous result" \
	[ "$(cut -d' ' -f1 "$W/log1" | tr '\n' ' ')" = "01 02 03 04 05 10 20 21 90 g10 g90 " ]
if [ $P = amd64 ]; then
	check "multi-line args file with comments and blanks arrives" \
		grep -qx '03 blas \[TARGET=HASWELL\] \[two words\] 0.3.10' "$W/log1"
	check "a \"\" value arrives empty" grep -qx '20 python-arrow \[\]' "$W/log1"
	check "graphics args file" grep -qx 'g90 vnc 24' "$W/log1"
fi
check "ADD from the context (the repository top) through .dockerignore" grep -q ' 0.3.10$' "$W/log1"
"$H" inspect atom:stock >"$W/inspect1"
check "ENV of early and late steps are in the result" \
	sh -c "grep -q CHAIN_PACKAGES=installed '$W/inspect1' && grep -q CHAIN_DONE=stock '$W/inspect1'"
check "LABEL of step 5 is in the result" grep -q '"org.example.arrow": "1"' "$W/inspect1"
"$H" images >"$W/images"
check "intermediates tagged NAME:chain-<folder>-<NN>-<descriptor>-<platform>" \
	sh -c "grep -q 'chain-stock-05-arrow-$P' '$W/images' && grep -q 'chain-graphics-90-vnc-$P' '$W/images'"

# no change: every Dockerfile is a cache hit, same digest
d2=$("$H" chain build --base bb -t atom:stock "$A/docker/stock" "$A/docker/graphics" 2>"$W/b2.log")
check "rebuild: same digest" [ "$d1" = "$d2" ]
check "rebuild: 11 Dockerfiles CACHED" [ "$(grep -c '\] CACHED sha256' "$W/b2.log")" = 11 ]

# a change in step 5 rebuilds 5..9 (and graphics on top), not 1..4
sed -i 's/05 arrow v1/05 arrow v2/' "$A/docker/stock/05-Dockerfile-arrow"
"$H" chain build --base bb -t atom:stock "$A/docker/stock" >/dev/null 2>"$W/b3.log"
cached=$(grep '\] CACHED sha256' "$W/b3.log" | sed 's/^\[chain \([0-9]*\)\/.*/\1/' | tr '\n' ' ')
built=$(grep '\] BUILT sha256' "$W/b3.log" | sed 's/^\[chain \([0-9]*\)\/.*/\1/' | tr '\n' ' ')
check "change in step 5: steps 1-4 cached ($cached)" [ "$cached" = "1 2 3 4 " ]
check "change in step 5: steps 5-9 rebuilt ($built)" [ "$built" = "5 6 7 8 9 " ]
"$H" run atom:stock cat /chain/log >"$W/log3" 2>&1
check "the changed step's result" grep -qx '05 arrow v2' "$W/log3"

# the base by name of a previous chain result (stacking in two commands)
"$H" chain build --base atom:stock -t atom:graphics --progress quiet "$A/docker/graphics" >/dev/null 2>"$W/b4.log"
"$H" run atom:graphics cat /chain/log >"$W/log4" 2>&1
check "stacking by naming the previous result as --base" \
	[ "$(cut -d' ' -f1 "$W/log4" | tr '\n' ' ')" = "01 02 03 04 05 10 20 21 90 g10 g90 " ]

# --progress plain shows each instruction with CACHED
"$H" chain build --base bb -t atom:stock --progress plain "$A/docker/stock" >/dev/null 2>"$W/b5.log"
check "--progress plain: instructions listed as CACHED" grep -q 'CACHED RUN' "$W/b5.log"

# build.sh compat: PLATFORM REPO TAG BASE_IMAGE FOLDER, from the docker/ folder
cd "$A/docker" || exit 1
"$H" chain compat $P atomrepo v1 bb stock >"$W/c.out" 2>"$W/c.log"; st=$?
check "compat: build.sh's positional arguments" [ $st -eq 0 ]
[ $st -eq 0 ] || diag_file "$W/c.log"
"$H" images >"$W/images2"
check "compat: result tagged REPO:TAG-FOLDER-PLATFORM" grep -q "atomrepo *v1-stock-$P" "$W/images2"
check "compat: steps tagged REPO:base-<file>-<folder>-<platform>" \
	grep -q "atomrepo *base-05-Dockerfile-arrow-stock-$P" "$W/images2"
check "compat: same result as chain build (same context, cache)" \
	[ "$(cat "$W/c.out")" = "$("$H" chain build --base bb --context .. --progress quiet stock 2>/dev/null)" ]
"$H" chain compat $P atomrepo v1 bb stock >/dev/null 2>"$W/c2.log"
check "compat: the second run is all cache hits" grep -q ' 0 rebuilt' "$W/c2.log"
"$H" chain compat $P atomrepo v1 bb >/dev/null 2>&1
check "compat: five arguments at least (usage error 2)" [ $? -eq 2 ]

# minimize + production (hoist minimize): the last folder's minimize-<platform>-args
cd "$A" || exit 1
"$H" chain build --base bb -t atom:full --production bb --production-tag atom:prod \
	docker/stock >"$W/p.out" 2>"$W/p.log"; st=$?
check "--production: the chain result minimized onto a base" [ $st -eq 0 ]
[ $st -eq 0 ] || diag_file "$W/p.log"
check "--production: size before and after reported" grep -q 'production image sha256:.* -> ' "$W/p.log"
"$H" run atom:prod cat /chain/log >"$W/plog" 2>&1
check "--production: ADDITIONAL_FILES are in the production image" cmp -s "$W/plog" "$W/log3"
"$H" run atom:prod test -e /atom/third-party/OpenBLAS/VERSION
check "--production: ... a file given by path too" [ $? -eq 0 ]
cd "$A/docker" || exit 1
"$H" chain compat $P atomrepo v2 bb stock bb >"$W/cp.out" 2>"$W/cp.log"; st=$?
check "compat with PRODUCTION_IMAGE" [ $st -eq 0 ]
[ $st -eq 0 ] || diag_file "$W/cp.log"
"$H" images >"$W/images3"
check "compat: REPO:TAG-FOLDER-PLATFORM is the production image" \
	sh -c "[ \"\$(awk '\$2==\"v2-stock-$P\" {print \$3}' '$W/images3')\" = \"\$(awk '\$2==\"base-production-stock-$P\" {print \$3}' '$W/images3')\" ]"
check "compat: the full image is REPO:base-minimize-FOLDER-PLATFORM" \
	grep -q "atomrepo *base-minimize-stock-$P" "$W/images3"

# several platforms: one chain per platform (aarch64 RUNs under qemu-user),
# joined in an index; each platform got its own args files
cd "$A" || exit 1
if [ $P = amd64 ] && [ -x /usr/bin/qemu-aarch64-static ] &&
	HOIST_BIN=$H "$SRC/tests/lib/mkmultiarch.sh" "$HOIST_ROOT" mbb >/dev/null 2>"$W/ma.log"; then
	"$H" chain build --platform amd64,aarch64 --base mbb -t atom:multi docker/stock \
		>/dev/null 2>"$W/m.log"; st=$?
	check "--platform amd64,aarch64 builds" [ $st -eq 0 ]
	[ $st -eq 0 ] || diag_file "$W/m.log"
	check "--platform amd64,aarch64: an index" grep -q '^\[chain\] index sha256:' "$W/m.log"
	"$H" run --platform linux/arm64 atom:multi sh -c 'uname -m; cat /chain/log' >"$W/mlog" 2>&1
	check "the arm64 image ran its RUNs as aarch64, with the -aarch64-args" \
		sh -c "grep -qx aarch64 '$W/mlog' && grep -qx '03 blas \[TARGET=ARMV8\] \[none\] 0.3.10' '$W/mlog' &&
			grep -qx '20 python-arrow \[-DARROW_ARMV8_ARCH=armv8-a\]' '$W/mlog'"
	"$H" chain build --platform amd64,aarch64 --base mbb -t atom:multi docker/stock \
		>/dev/null 2>"$W/m2.log"
	check "multi-platform rebuild: all cached" grep -q '18 Dockerfiles, 0 rebuilt' "$W/m2.log"
else
	skip "no qemu-aarch64-static or multi-arch busybox debs"
fi

# errors
mkdir -p "$W/empty"
"$H" chain build --base bb "$W/empty" >/dev/null 2>"$W/e1.log"
check "empty folder: clear error" grep -q 'holds no NN-Dockerfile' "$W/e1.log"
printf 'NOEQUALS\n' >"$A/docker/stock/packages-$P-args"
"$H" chain build --base bb "$A/docker/stock" >/dev/null 2>"$W/e2.log"
check "bad args file: file and line in the error" grep -q "packages-$P-args:1" "$W/e2.log"

finish
