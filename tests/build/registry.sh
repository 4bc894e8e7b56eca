#!/bin/sh
# `hoist build` against a real registry on 127.0.0.1 (Debian's
# docker-registry, started by tests/registry/lib.sh): a FROM image missing
# from the store is pulled, `--push` and `--output type=registry` push the
# result, and skopeo sees what was pushed. TAP output.
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"

RP=$(free_port)
start_registry "$T/reg" plain "$RP" || skip_all "docker-registry did not start"
R=127.0.0.1:$RP
SK="skopeo --policy /etc/containers/policy.json"

# A base image in the registry only: import into a scratch store, push it.
"$HOIST_SRCDIR/scripts/mkrootfs-busybox.sh" "$T/bb.tar"
HOIST_ROOT="$T/seed" "$H" import "$T/bb.tar" "$R/base:1" >/dev/null
HOIST_ROOT="$T/seed" "$H" push --progress quiet "$R/base:1" >/dev/null 2>"$T/seed.err"
check "seeded $R/base:1" [ $? -eq 0 ]

mkdir -p "$T/ctx"
echo from-context >"$T/ctx/a.txt"
cat >"$T/ctx/Dockerfile" <<EOF
FROM $R/base:1
COPY a.txt /a.txt
RUN cat /a.txt > /ran
LABEL built.by=hoist
EOF
export HOIST_ROOT="$T/store"
out=$("$H" build --progress plain --push -t "$R/x:1" -t "$R/x:latest" "$T/ctx" 2>"$T/build.err"); st=$?
check "build FROM a registry image not in the store, --push" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(cat "$T/build.err")"
"$H" inspect "$R/base:1" >/dev/null 2>&1
check "the base was pulled into the store" [ $? -eq 0 ]
raw=$($SK inspect --raw --tls-verify=false "docker://$R/x:1" 2>/dev/null | sha256sum | cut -d' ' -f1)
check "skopeo sees the pushed manifest ($out)" [ "sha256:$raw" = "$out" ]
lbl=$($SK inspect --tls-verify=false "docker://$R/x:latest" 2>/dev/null |
	$PY -c 'import json,sys; print(json.load(sys.stdin)["Labels"]["built.by"])')
check "every -t name is pushed, config intact ($lbl)" [ "$lbl" = hoist ]
nl=$($SK inspect --tls-verify=false "docker://$R/x:1" | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["Layers"]))')
check "base layer + COPY + RUN layers ($nl)" [ "$nl" = 3 ]
check "RUN ran after the pull" [ "$("$H" run "$R/x:1" cat /ran 2>/dev/null)" = from-context ]

out2=$("$H" build -q --output "type=registry,name=$R/y:2" "$T/ctx" 2>"$T/build2.err"); st=$?
check "--output type=registry,name=REF pushes" [ $st -eq 0 ]
raw=$($SK inspect --raw --tls-verify=false "docker://$R/y:2" 2>/dev/null | sha256sum | cut -d' ' -f1)
check "skopeo sees it" [ "sha256:$raw" = "$out2" ]

"$H" build -q --push "$T/ctx" >/dev/null 2>"$T/build3.err"
check "--push without -t is an error" [ $? -ne 0 ]

cat >"$T/ctx/Dockerfile" <<EOF
FROM $R/missing:1
EOF
"$H" build -q "$T/ctx" >/dev/null 2>"$T/build4.err"; st=$?
check "a base missing everywhere fails clearly" \
	sh -c "[ $st -eq 1 ] && grep -q \"Dockerfile:1: no stage or local image named '$R/missing:1' (no stage before this one has a name), and the registry lookup failed: pulling '$R/missing:1': \" '$T/build4.err'"
finish
