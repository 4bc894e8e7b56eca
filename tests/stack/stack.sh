#!/bin/sh
# hoist stack on the datahub tests/data/stack_* trees (tests/stack/fixtures,
# busybox stand-ins) in a temporary git repository, against Debian's
# docker-registry on 127.0.0.1: the rebuild set after a change in a leaf, a
# branch, a BuildAll path, an ignored path; a second build with nothing
# changed builds nothing (input-hash label found in the registry); info,
# test and tag-stable. TAP output.
set -u
HOIST_MKIMAGE=${HOIST_MKIMAGE:-/bin/true}
export HOIST_MKIMAGE
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"
need git
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
FIX="$HOIST_SRCDIR/tests/stack/fixtures"

PORT=$(free_port)
start_registry "$T/reg" plain "$PORT" || bail "registry did not start"
R=127.0.0.1:$PORT
"$HOIST_SRCDIR/scripts/mkrootfs-busybox.sh" "$T/bb.tar"
newstore() { # a fresh store holding only the offline busybox:1.33
	export HOIST_ROOT="$T/store.$1"
	"$H" import "$T/bb.tar" busybox:1.33 >/dev/null
}
newstore 1

G() { git -C "$T/repo" -c user.email=t@example.com -c user.name=t "$@"; }
mkdir -p "$T/repo/tests_common"
cp -r "$FIX/stack_1" "$T/repo/images"
echo "shared" >"$T/repo/tests_common/conftest.py"
echo "docs" >"$T/repo/README.md"
G init -q -b main && G add -A && G commit -qm init
SPEC="$T/repo/images/spec.yml"

# plan: "build NAME ..." names, sorted as the plan prints them (parents first)
plan() { "$H" stack plan "$SPEC" --tag t "$@" 2>"$T/plan.err" | awk '$1 == "build" {print $2}' | tr '\n' ' '; }

check "plan --all: everything" [ "$(plan --all)" = "base branch-A branch-B leaf-A1 leaf-B1 leaf-B2 " ]
check "plan with nothing changed: nothing" [ "$(plan --since HEAD)" = "" ]
echo 2 >>"$T/repo/images/leaf-B1/version.txt"
check "change in a leaf: just it" [ "$(plan --since HEAD)" = "leaf-B1 " ]
"$H" stack plan "$SPEC" --tag t --since HEAD >"$T/plan.out"
check "plan says why" grep -q 'leaf-B1 .*changed: leaf-B1/version.txt' "$T/plan.out"
G checkout -q -- images
echo 2 >>"$T/repo/images/branch-B/version.txt"
check "change in a branch: it and its descendants" [ "$(plan --since HEAD)" = "branch-B leaf-B1 leaf-B2 " ]
"$H" stack plan "$SPEC" --tag t --since HEAD >"$T/plan.out"
check "descendants say 'parent rebuilt'" grep -q 'leaf-B2 .*parent rebuilt: branch-B' "$T/plan.out"
G checkout -q -- images
echo more >>"$T/repo/tests_common/conftest.py"
check "change to a BuildAll path outside the spec folder: everything" \
	[ "$(plan --since HEAD)" = "base branch-A branch-B leaf-A1 leaf-B1 leaf-B2 " ]
G checkout -q -- tests_common
sed -i 's/^plans:/# edited\nplans:/' "$SPEC"
check "change to spec.yml (BuildAll): everything" \
	[ "$(plan --since HEAD)" = "base branch-A branch-B leaf-A1 leaf-B1 leaf-B2 " ]
G checkout -q -- images
echo x >"$T/repo/images/leaf-A1/README.md"
mkdir -p "$T/repo/images/branch-A/docs" && echo x >"$T/repo/images/branch-A/docs/a.md"
check "ChangeIgnore paths are ignored (untracked ones too)" [ "$(plan --since HEAD)" = "" ]
"$H" stack plan "$SPEC" --tag t --since HEAD >"$T/plan.out"
check "plan lists the ignored changes" grep -q '# ignored change leaf-A1/README.md' "$T/plan.out"
echo new >"$T/repo/images/base/extra.txt"
check "an untracked file in the root: the whole tree" \
	[ "$(plan --since HEAD)" = "base branch-A branch-B leaf-A1 leaf-B1 leaf-B2 " ]
rm -rf "$T/repo/images/base/extra.txt" "$T/repo/images/leaf-A1/README.md" "$T/repo/images/branch-A/docs"
check "--only: exactly the named images" [ "$(plan --all --only leaf-A1 --only base)" = "base leaf-A1 " ]
"$H" stack plan "$SPEC" --only nope >/dev/null 2>&1
check "--only of an unknown image fails" [ $? -eq 1 ]
check "default tag: <tag.prefix>-<branch> (no prefix in stack_1: the branch)" \
	sh -c "'$H' stack plan '$SPEC' | grep -q 'fakeuser/base:main'"

# build and push everything
B() { "$H" stack build "$SPEC" --registry "$R" --push "$@"; }
B --all --tag t1 >"$T/b1.out" 2>"$T/b1.log"; st=$?
check "build --all --push" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(cat "$T/b1.log")"
check "six images built" grep -q '6 images built' "$T/b1.log"
# built_before A B LOG: A's "built" line comes before B's (jobs run side by side)
built_before() {
	a=$(grep -n "^\[stack\] built $1 " "$3" | cut -d: -f1)
	b=$(grep -n "^\[stack\] built $2 " "$3" | cut -d: -f1)
	[ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]
}
order_ok=1
for pc in base:branch-A base:branch-B branch-A:leaf-A1 branch-B:leaf-B1 branch-B:leaf-B2; do
	built_before "${pc%%:*}" "${pc#*:}" "$T/b1.log" || order_ok=0
done
check "order: each parent built before its children" [ $order_ok = 1 ]
code=$(curl -s -o /dev/null -w '%{http_code}' -I \
	-H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$R/v2/fakeuser/leaf-b2/manifests/t1")
check "leaf-b2:t1 is in the registry" [ "$code" = 200 ]
"$H" inspect "docker://$R/fakeuser/leaf-b2:t1" >"$T/remote.json" 2>&1
check "its config carries org.hoist.input-hash" grep -q 'org.hoist.input-hash' "$T/remote.json"
"$H" run "$R/fakeuser/leaf-b2:t1" cat /stack.log >"$T/stacklog" 2>&1
check "leaf-B2 was built FROM branch-B FROM base (BASE_IMAGE)" \
	[ "$(tr '\n' ' ' <"$T/stacklog")" = "base branch-B leaf-B2 " ]

# nothing changed, even from an empty store: nothing is built
newstore 2
B --all --tag t1 >/dev/null 2>"$T/b2.log"
check "second build, fresh store: 0 images built" grep -q '0 images built' "$T/b2.log"
check "each found up to date in the registry" [ "$(grep -c 'up to date .* in the registry' "$T/b2.log")" = 6 ]

# a change in one leaf, committed; the parent comes from the registry
echo 2 >>"$T/repo/images/leaf-B1/version.txt"
G commit -qam "leaf-B1 v2"
B --since HEAD~1 --tag t1 >/dev/null 2>"$T/b3.log"; st=$?
check "leaf change: one image built" sh -c "[ $st -eq 0 ] && grep -q '1 image built' '$T/b3.log'"
[ $st -eq 0 ] || diag "$(cat "$T/b3.log")"
check "leaf change: it is leaf-B1" grep -q 'built leaf-B1' "$T/b3.log"
"$H" run "$R/fakeuser/leaf-b1:t1" cat /versions/leaf-B1 >"$T/v" 2>&1
check "the new leaf-B1 has the change" [ "$(tr '\n' ' ' <"$T/v")" = "leaf-B1 1 2 " ]

# a change in a branch
echo 2 >>"$T/repo/images/branch-B/version.txt"
G commit -qam "branch-B v2"
B --since HEAD~1 --tag t1 >/dev/null 2>"$T/b4.log"
check "branch change: three images built" grep -q '3 images built' "$T/b4.log"
check "branch change: branch-B, leaf-B1, leaf-B2" \
	[ "$(grep '^\[stack\] built' "$T/b4.log" | awk '{print $3}' | sort | tr '\n' ' ')" = "branch-B leaf-B1 leaf-B2 " ]
B --all --tag t1 >/dev/null 2>"$T/b5.log"
check "then --all: nothing left to build" grep -q '0 images built' "$T/b5.log"

# BuildAll: everything is planned, but identical inputs are not rebuilt
echo more >>"$T/repo/tests_common/conftest.py"
G commit -qam "tests_common"
B --since HEAD~1 --tag t1 >/dev/null 2>"$T/b6.log"
check "BuildAll change: six planned, all already in the registry" \
	sh -c "[ \"\$(grep -c 'up to date' '$T/b6.log')\" = 6 ] && grep -q '0 images built' '$T/b6.log'"

# BuildAll + a leaf change, fresh store: the parents are up to date in the
# registry (not in the store) and are pulled for the one child rebuilt
newstore 5
echo again >>"$T/repo/tests_common/conftest.py"
echo 2 >>"$T/repo/images/leaf-A1/version.txt"
G commit -qam "tests_common + leaf-A1"
B --since HEAD~1 --tag t1 >/dev/null 2>"$T/b7.log"; st=$?
check "BuildAll + leaf: five up to date, leaf-A1 built on the registry's parent" \
	sh -c "[ $st -eq 0 ] && [ \"\$(grep -c 'up to date' '$T/b7.log')\" = 5 ] && grep -q '1 image built' '$T/b7.log'"
[ $st -eq 0 ] || diag "$(cat "$T/b7.log")"
"$H" run "$R/fakeuser/leaf-a1:t1" cat /stack.log >"$T/a1log" 2>&1
check "leaf-A1 holds base and branch-A" [ "$(tr '\n' ' ' <"$T/a1log")" = "base branch-A leaf-A1 " ]

# local-only builds compare with the store
newstore 3
"$H" stack build "$SPEC" --all --tag loc --jobs 1 >/dev/null 2>"$T/l1.log"
"$H" stack build "$SPEC" --all --tag loc >/dev/null 2>"$T/l2.log"
check "without --push: second build finds the store's labels" \
	sh -c "grep -q '6 images built' '$T/l1.log' && grep -q '0 images built' '$T/l2.log'"
check "--jobs 1: one image at a time, in the plan's order" \
	[ "$(grep '^\[stack\] built' "$T/l1.log" | awk '{print $3}' | tr '\n' ' ')" = "base branch-A branch-B leaf-A1 leaf-B1 leaf-B2 " ]

# info, test
"$H" stack info "$SPEC" --tag loc -o "$T/info.md" 2>"$T/info.log"; st=$?
check "info writes a report" [ $st -eq 0 ]
check "info: the commands' output, in sections" \
	sh -c "grep -q '^## OS Name' '$T/info.md' && grep -qx 'GNU/Linux' '$T/info.md' && grep -qx 'leaf-B2 1' '$T/info.md'"
"$H" stack test "$SPEC" --tag loc >"$T/test.out" 2>&1
check "test: leaf-B2's test/ scripts pass inside it" \
	[ "$(grep -c '^ok leaf-B2' "$T/test.out")" = 2 ]
printf '#!/bin/sh\ntest -f /nonexistent\n' >"$T/repo/images/leaf-B2/test/03-fails.sh"
"$H" stack test "$SPEC" --tag loc >"$T/test2.out" 2>&1; st=$?
check "test: a failing script is reported and fails the command" \
	sh -c "[ $st -eq 1 ] && grep -q '^not ok leaf-B2 03-fails.sh (status 1)' '$T/test2.out'"
rm "$T/repo/images/leaf-B2/test/03-fails.sh"

# tag-stable: manifests retagged in the registry
"$H" stack tag-stable "$SPEC" --registry "$R" --tag t1 >"$T/ts.out" 2>"$T/ts.log"; st=$?
check "tag-stable" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(cat "$T/ts.log")"
dig() { curl -s -I -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"http://$R/v2/$1/manifests/$2" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}'; }
d1=$(dig fakeuser/leaf-b2 t1)
check "stable = t1" [ -n "$d1" -a "$(dig fakeuser/leaf-b2 stable)" = "$d1" ]
check "plan postfix (PLAN_0: -stable): t1-stable = t1" [ "$(dig fakeuser/leaf-b2 t1-stable)" = "$d1" ]

# stack_0: FROM fakeuser/base (the parent's image_name) finds the parent's build
newstore 4
cp -r "$FIX/stack_0" "$T/s0"
"$H" stack build "$T/s0/spec.yml" --all --tag x --registry "$R" >/dev/null 2>"$T/s0.log"; st=$?
check "stack_0 builds (FROM <parent image_name>)" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(cat "$T/s0.log")"
"$H" run "$R/fakeuser/leaf:x" cat /stack.log >"$T/s0log" 2>&1
check "stack_0 leaf holds base and branch" [ "$(tr '\n' ' ' <"$T/s0log")" = "base branch leaf " ]

# stack_3: plans' tag_prefix
cp -r "$FIX/stack_3" "$T/s3"
git -C "$T/s3" init -q -b feature/x
"$H" stack plan "$T/s3/spec.yml" --plan PYTHON39 >"$T/s3.out" 2>&1
check "--plan: tag <plan tag_prefix>-<branch>, '/' made '-'" grep -q 'fakeuser/base:2021.3-feature-x' "$T/s3.out"

# spec errors
printf 'images:\n  a:\n    image_name: x/a\n    depend_on: b\n  b:\n    image_name: x/b\n    depend_on: a\n' >"$T/cyc.yml"
"$H" stack plan "$T/cyc.yml" --tag t 2>"$T/cyc.err"
check "a depend_on cycle is an error with a line" grep -q 'cyc.yml:[0-9]*: image .* depend_on cycle' "$T/cyc.err"
finish
