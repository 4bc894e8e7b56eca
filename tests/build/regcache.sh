#!/bin/sh
# Build caches shared through a registry (docs/cache.md): two runners with
# two fresh stores and one registry with token auth. Runner A (logged in)
# builds a two-stage Dockerfile with --cache-to type=registry,mode=max;
# runner B (anonymous: pull-only tokens) builds it with --cache-from. Every
# RUN writes random bytes into its layer, so B's image having A's digest
# proves that no RUN ran on B; the plain progress lines are counted too.
# Then one context file changes on B: exactly the steps after it run.
# --no-cache ignores --cache-from. TAP output.
#
# Three parts (each within the time a test has under ASan), as $1: "registry"
# (type=registry, a changed file, --no-cache, mode=min/max and cache ls
# --remote, a poisoned registry cache), "other" (type=local, type=inline)
# and "fleet" (two platforms, hoist stack).
PART=${1:?registry, other or fleet}
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"
[ "${1:-}" = fleet ] && need git
$PY -c 'import jwt, cryptography' 2>/dev/null || skip_all "python3-jwt is not installed"

TP=$(free_port)
RP=$(free_port)
start_registry "$T/reg" token "$RP" "$TP" || skip_all "docker-registry (token) did not start"
R=127.0.0.1:$RP
export SOURCE_DATE_EPOCH=1700000000

# Runner A's credentials; B has none (anonymous pulls only).
export DOCKER_CONFIG="$T/docker-a"
echo testpass | "$H" login -u test --password-stdin "$R" >/dev/null 2>"$T/login.err"
check "runner A logs in through the token server" [ $? -eq 0 ]

"$HOIST_SRCDIR/scripts/mkrootfs-busybox.sh" "$T/bb.tar"
HOIST_ROOT="$T/seed" "$H" import "$T/bb.tar" "$R/base:1" >/dev/null &&
	HOIST_ROOT="$T/seed" "$H" push --progress quiet "$R/base:1" >/dev/null 2>"$T/seed.err"
check "seeded $R/base:1" [ $? -eq 0 ]

mkdir -p "$T/ctx"
echo one >"$T/ctx/a.txt"
echo two >"$T/ctx/b.txt"
cat >"$T/ctx/Dockerfile" <<EOF
FROM $R/base:1 AS builder
COPY a.txt /a.txt
RUN head -c 64 /dev/urandom > /rand-builder && cat /a.txt > /built
ENV STAGE=builder
FROM $R/base:1
COPY b.txt /b.txt
COPY --from=builder /built /built
RUN head -c 64 /dev/urandom > /rand-final && cat /built /b.txt > /out
LABEL cached=yes
EOF

# ran FILE: the steps a plain build log shows as run (not CACHED, not FROM).
steps() { grep -E '^\[[^]]* [0-9]+/[0-9]+\] ' "$1" | grep -v '\] FROM '; }
ran() { steps "$1" | grep -vc '\] CACHED '; }
cached() { steps "$1" | grep -c '\] CACHED '; }
both() { [ "$1" = "$2" ] && [ "$3" = "$4" ]; }

A="$T/runner-a" B="$T/runner-b"
if [ "$PART" != fleet ]; then
# Part "other" exports to a directory instead (skopeo reads it below).
if [ "$PART" = registry ]; then to="type=registry,ref=$R/cache:main,mode=max"; else to="type=local,dest=$T/lc,mode=max"; fi
da=$(HOIST_ROOT=$A "$H" build --progress plain --cache-to "$to" "$T/ctx" 2>"$T/a.log"); st=$?
check "runner A builds and exports the cache" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(tail -20 "$T/a.log")"
check "runner A ran its 7 steps ($(ran "$T/a.log"))" [ "$(ran "$T/a.log")" = 7 ]
fi

if [ "$PART" = registry ]; then
mt=$(skopeo inspect --raw --tls-verify=false --creds test:testpass "docker://$R/cache:main" 2>/dev/null |
	$PY -c 'import json,sys; print(json.load(sys.stdin)["config"]["mediaType"])')
check "the cache is an OCI manifest with hoist's config media type ($mt)" \
	[ "$mt" = application/vnd.hoist.cache.config.v1+json ]
export DOCKER_CONFIG="$T/docker-b"
db=$(HOIST_ROOT=$B "$H" build --progress plain \
	--cache-from "type=registry,ref=$R/cache:main" "$T/ctx" 2>"$T/b.log"); st=$?
check "runner B builds with --cache-from (anonymous)" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(tail -20 "$T/b.log")"
check "runner B: every step CACHED ($(cached "$T/b.log") cached, $(ran "$T/b.log") ran)" \
	both "$(ran "$T/b.log")" 0 "$(cached "$T/b.log")" 7
check "runner B: the same image digest, so no RUN ran ($db)" [ "${db:-none}" = "$da" ]
bytes=$(sed -n 's/.*cache: 7 steps from --cache-from, \([0-9]*\) bytes downloaded.*/\1/p' "$T/b.log")
diag "fully cached build on a fresh runner: $bytes bytes downloaded (cache record and layers)"
check "runner B reports the bytes it downloaded" [ -n "$bytes" ]
out=$(HOIST_ROOT=$B "$H" run "$db" cat /out 2>/dev/null)
check "runner B's image works" [ "$out" = "$(printf 'one\ntwo')" ]

# One context file changes: the final stage's COPY b.txt and what follows run.
echo three >"$T/ctx/b.txt"
HOIST_ROOT=$B "$H" build --progress plain --cache-from "$R/cache:main" "$T/ctx" \
	>/dev/null 2>"$T/b2.log"; st=$?
check "runner B after a change to b.txt" [ $st -eq 0 ]
check "exactly COPY b.txt, COPY --from, RUN, LABEL ran ($(ran "$T/b2.log"))" \
	both "$(ran "$T/b2.log")" 4 "$(cached "$T/b2.log")" 3
first=$(steps "$T/b2.log" | grep -v '\] CACHED ' | head -1)
check "the first step that ran is COPY b.txt ($first)" grep -q 'COPY b.txt' <<EOF
$first
EOF
echo two >"$T/ctx/b.txt"

# --no-cache ignores --cache-from (a fresh store: nothing local either).
HOIST_ROOT="$T/runner-c" "$H" build --progress plain --no-cache \
	--cache-from "type=registry,ref=$R/cache:main" "$T/ctx" >/dev/null 2>"$T/c.log"
check "--no-cache ignores --cache-from ($(ran "$T/c.log") ran)" [ "$(ran "$T/c.log")" = 7 ]


# mode=min: only the final image's steps (not the builder stage's).
export DOCKER_CONFIG="$T/docker-a"
# (and a cache ref that does not exist: a warning, not a failure)
HOIST_ROOT=$A "$H" build --progress plain --cache-to "type=registry,ref=$R/cache:min" \
	--cache-from "type=registry,ref=$R/cache:nosuch" "$T/ctx" >/dev/null 2>"$T/a2.log"; st=$?
check "a missing cache ref is a warning, not a failure" \
	sh -c "[ $st -eq 0 ] && grep -q \"cache: cannot import '$R/cache:nosuch'\" '$T/a2.log'"
nr=$("$H" cache ls --remote "$R/cache:min" 2>"$T/ls.err" | tail -n +2 | wc -l)
check "mode=min exports the final stage's 4 steps ($nr)" [ "$nr" = 4 ]
nr=$("$H" cache ls --remote "$R/cache:main" 2>>"$T/ls.err" | tail -n +2 | wc -l)
check "mode=max exports all 7 ($nr)" [ "$nr" = 7 ]
[ -s "$T/ls.err" ] && diag "$(cat "$T/ls.err")"

# A poisoned cache: the registry's copy of the RUN layer of the final stage
# is overwritten (its digest no longer matches), then truncated.
last=$(skopeo inspect --raw --tls-verify=false --creds test:testpass "docker://$R/cache:main" |
	$PY -c 'import json,sys; print(json.load(sys.stdin)["layers"][-1]["digest"])')
hex=${last#sha256:}
f="$T/reg/data/docker/registry/v2/blobs/sha256/$(echo "$hex" | cut -c1-2)/$hex/data"
check "found the registry's blob file" [ -f "$f" ]
cp "$f" "$T/good-blob"
head -c 100 /dev/urandom | dd of="$f" bs=1 seek=10 conv=notrunc 2>/dev/null
export DOCKER_CONFIG="$T/docker-b"
dp=$(HOIST_ROOT="$T/runner-e" "$H" build --progress plain --cache-from "$R/cache:main" \
	"$T/ctx" 2>"$T/e.log"); st=$?
check "a blob with the wrong digest: the build succeeds" [ $st -eq 0 ]
check "with a warning" grep -q "cache: record .* is not used" "$T/e.log"
check "and the step ran instead ($(ran "$T/e.log") ran)" [ "$(ran "$T/e.log")" -ge 1 ]
out=$(HOIST_ROOT="$T/runner-e" "$H" run "$dp" cat /out 2>/dev/null)
check "the image is correct" [ "$out" = "$(printf 'one\ntwo')" ]
HOIST_ROOT="$T/runner-e" "$H" cache verify >/dev/null 2>&1
check "and the store is sound" [ $? -eq 0 ]
head -c 50 "$T/good-blob" >"$f"
dp=$(HOIST_ROOT="$T/runner-f" "$H" build --progress plain --cache-from "$R/cache:main" \
	"$T/ctx" 2>"$T/f.log"); st=$?
check "a truncated blob: a warning and a correct build" \
	sh -c "[ $st -eq 0 ] && grep -q 'cache: record .* is not used' '$T/f.log'"
cp "$T/good-blob" "$f"

fi

if [ "$PART" = other ]; then
# type=local: an OCI layout that skopeo reads, then a fresh runner from it.
export DOCKER_CONFIG="$T/docker-a"
mt=$(skopeo inspect --raw "oci:$T/lc:latest" 2>/dev/null |
	$PY -c 'import json,sys; print(json.load(sys.stdin)["config"]["mediaType"])')
check "skopeo reads the layout ($mt)" [ "$mt" = application/vnd.hoist.cache.config.v1+json ]
dl=$(HOIST_ROOT="$T/runner-l" "$H" build --progress plain \
	--cache-from "type=local,src=$T/lc" "$T/ctx" 2>"$T/l2.log")
check "type=local: every step CACHED ($(ran "$T/l2.log") ran)" \
	both "$(ran "$T/l2.log")" 0 "$(cached "$T/l2.log")" 7
check "type=local: the same image digest" [ "${dl:-none}" = "$da" ]
# A truncated blob in the directory: a miss with a warning, a correct build.
lb=$($PY -c 'import json,sys; m=json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"][7:]; print(json.load(open(sys.argv[1]+"/blobs/sha256/"+m))["layers"][-1]["digest"][7:])' "$T/lc")
cp "$T/lc/blobs/sha256/$lb" "$T/lgood"
head -c 40 "$T/lgood" >"$T/lc/blobs/sha256/$lb"
dl=$(HOIST_ROOT="$T/runner-l2" "$H" build --progress plain \
	--cache-from "type=local,src=$T/lc" "$T/ctx" 2>"$T/l3.log"); st=$?
check "type=local, truncated blob: a warning and a build" \
	sh -c "[ $st -eq 0 ] && grep -q 'cache: record .* is not used' '$T/l3.log'"
out=$(HOIST_ROOT="$T/runner-l2" "$H" run "$dl" cat /out 2>/dev/null)
check "type=local, truncated blob: the image is correct" [ "$out" = "$(printf 'one\ntwo')" ]

# Records for another platform under this platform's keys (the configs say
# s390x; config, manifest and index.json rewritten to match): misses.
cp "$T/lgood" "$T/lc/blobs/sha256/$lb"
cp -r "$T/lc" "$T/lc-plat"
$PY - "$T/lc-plat" <<'EOP'
import hashlib, json, sys
d = sys.argv[1]
def put(data):
    h = hashlib.sha256(data).hexdigest()
    open(d + "/blobs/sha256/" + h, "wb").write(data)
    return "sha256:" + h, len(data)
idx = json.load(open(d + "/index.json"))
m = json.load(open(d + "/blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
c = json.load(open(d + "/blobs/sha256/" + m["config"]["digest"][7:]))
for r in c["records"]:
    rc = json.loads(r["config"]); rc["architecture"] = "s390x"; r["config"] = json.dumps(rc)
m["config"]["digest"], m["config"]["size"] = put(json.dumps(c).encode())
idx["manifests"][0]["digest"], idx["manifests"][0]["size"] = put(json.dumps(m).encode())
json.dump(idx, open(d + "/index.json", "w"))
EOP
dl=$(HOIST_ROOT="$T/runner-l3" "$H" build --progress plain \
	--cache-from "type=local,src=$T/lc-plat" "$T/ctx" 2>"$T/l4.log"); st=$?
check "records of another platform: misses ($(ran "$T/l4.log") ran), with warnings" \
	sh -c "[ $st -eq 0 ] && [ $(ran "$T/l4.log") = 7 ] && grep -q 'is for another platform' '$T/l4.log'"
out=$(HOIST_ROOT="$T/runner-l3" "$H" run "$dl" cat /out 2>/dev/null)
check "records of another platform: the image is correct" [ "$out" = "$(printf 'one\ntwo')" ]

# type=inline: the records travel in the pushed image's config, the final
# image's steps only (mode=min: the image has no other stage's layers).
"$H" build --cache-to type=inline,mode=max "$T/ctx" >/dev/null 2>"$T/i0.log"
check "type=inline,mode=max is a usage error" grep -q "type=inline exports the final image's steps only" "$T/i0.log"
for bad in type=gha type=local "type=registry,ref=$R/c,mode=mid" "type=registry,ref=$R/c,foo=1"; do
	"$H" build --cache-to "$bad" "$T/ctx" >/dev/null 2>"$T/bad.err"
	check "--cache-to '$bad' is a usage error: $(head -1 "$T/bad.err")" [ $? -eq 2 ]
done
# The same build also exports a registry cache: the cache and the image
# share their layers by digest, so no layer is uploaded twice (the second
# push mounts it from the first repository).
di=$(HOIST_ROOT=$A "$H" build --progress plain --cache-to type=inline --push \
	--cache-to "type=registry,ref=$R/cache:app" -t "$R/app:latest" "$T/ctx" 2>"$T/i1.log"); st=$?
check "type=inline build and push" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(tail -5 "$T/i1.log")"
twice=$(grep ': transferring' "$T/i1.log" | cut -d: -f1 | sort | uniq -d | wc -l)
mounted=$(grep -c ': mounted' "$T/i1.log")
check "cache and image push: no blob uploaded twice ($twice), $mounted mounted" \
	both "$twice" 0 "$([ "$mounted" -ge 1 ] && echo y)" y
export DOCKER_CONFIG="$T/docker-b"
di2=$(HOIST_ROOT="$T/runner-i" "$H" build --progress plain --cache-to type=inline \
	--cache-from "$R/app:latest" "$T/ctx" 2>"$T/i2.log")
fin=$(steps "$T/i2.log" | grep -c '^\[1 .*\] CACHED ')
check "type=inline: the final stage's 4 steps CACHED ($fin; the builder's 3 ran)" \
	both "$fin" 4 "$(ran "$T/i2.log")" 3
check "type=inline: the same image digest (the builder's random bytes are not copied)" \
	[ "${di2:-none}" = "$di" ]
HOIST_ROOT="$T/runner-i2" "$H" build --progress plain --cache-from "$R/base:1" "$T/ctx" \
	>/dev/null 2>"$T/i3.log"
check "an image without records: a warning, a build" \
	grep -q "is an image without cache records" "$T/i3.log"

fi

if [ "$PART" = fleet ]; then
A="$T/runner-a"
# Two platforms: the cache is an OCI index of one cache manifest each.
# (FROM scratch and no RUN: no emulator needed.)
mkdir -p "$T/mp"
echo mp >"$T/mp/a.txt"
printf 'FROM scratch\nCOPY a.txt /a\nENV X=1\n' >"$T/mp/Dockerfile"
export DOCKER_CONFIG="$T/docker-a"
dm=$(HOIST_ROOT=$A "$H" build --progress plain --platform linux/amd64,linux/arm64 \
	--cache-to "type=registry,ref=$R/cache:multi,mode=max" "$T/mp" 2>"$T/m1.log"); st=$?
check "two platforms with --cache-to" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(tail -5 "$T/m1.log")"
plats=$(skopeo inspect --raw --tls-verify=false --creds test:testpass "docker://$R/cache:multi" 2>/dev/null |
	$PY -c 'import json,sys; print(" ".join(sorted(m["platform"]["architecture"] for m in json.load(sys.stdin)["manifests"])))')
check "the cache is an index with one entry per platform ($plats)" [ "$plats" = "amd64 arm64" ]
export DOCKER_CONFIG="$T/docker-b"
dm2=$(HOIST_ROOT="$T/runner-m" "$H" build --progress plain --platform linux/amd64,linux/arm64 \
	--cache-from "type=registry,ref=$R/cache:multi" "$T/mp" 2>"$T/m2.log")
nc=$(grep -c '\] CACHED ' "$T/m2.log")
check "two platforms from the cache index: all 4 steps CACHED ($nc)" [ "$nc" = 4 ]
check "two platforms: the same index digest" [ "${dm2:-none}" = "$dm" ]

# hoist chain: each step with its own cache (REF's tag gets -NN-descriptor).
mkdir -p "$T/ch/steps"
for k in one two; do
	printf 'ARG BASE_IMAGE\nFROM $BASE_IMAGE\nRUN head -c 32 /dev/urandom > /r-%s\n' $k \
		>"$T/ch/steps/0$([ $k = one ] && echo 1 || echo 2)-Dockerfile-$k"
done
export DOCKER_CONFIG="$T/docker-a"
dc=$(cd "$T/ch" && HOIST_ROOT=$A "$H" chain build --base "$R/base:1" steps \
	--cache-to "type=registry,ref=$R/cache:chain,mode=max" 2>"$T/c1.log"); st=$?
check "chain: runner A with --cache-to" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(tail -5 "$T/c1.log")"
nr=$("$H" cache ls --remote "$R/cache:chain-02-two" 2>/dev/null | tail -n +2 | wc -l)
check "chain: step 02-two has its own cache ($nr record)" [ "$nr" = 1 ]
export DOCKER_CONFIG="$T/docker-b"
dc2=$(cd "$T/ch" && HOIST_ROOT="$T/runner-c" "$H" chain build --base "$R/base:1" steps \
	--cache-from "type=registry,ref=$R/cache:chain" 2>"$T/c2.log")
check "chain: runner B gets the same digest from the caches, no RUN ran" [ "${dc2:-none}" = "$dc" ]

# hoist stack: every image with its own cache (REF's tag gets -IMAGE).
# Runner A builds three images (base, branch-B, leaf-B1); runner B, fresh,
# after a change in the leaf rebuilds only it, its RUN a hit of A's cache.
{
	export DOCKER_CONFIG="$T/docker-a"
	G() { git -C "$T/repo" -c user.email=t@example.com -c user.name=t "$@"; }
	mkdir -p "$T/repo"
	cp -r "$HOIST_SRCDIR/tests/stack/fixtures/stack_1" "$T/repo/images"
	G init -q -b main && G add -A && G commit -qm init
	SPEC="$T/repo/images/spec.yml"
	HOIST_ROOT="$T/stack-a" "$H" import "$T/bb.tar" busybox:1.33 >/dev/null
	HOIST_ROOT="$T/stack-a" "$H" stack build "$SPEC" --registry "$R" --push --all --tag t1 \
		--only base --only branch-B --only leaf-B1 --cache-to "type=registry,ref=$R/cache:stack,mode=max" --log-dir "$T/sla" \
		>/dev/null 2>"$T/sa.log"; st=$?
	check "stack: runner A builds three images with --cache-to" [ $st -eq 0 ]
	[ $st -eq 0 ] || diag "$(tail -5 "$T/sa.log")"
	nr=$("$H" cache ls --remote "$R/cache:stack-leaf-B1" 2>/dev/null | tail -n +2 | wc -l)
	check "stack: each image has its own cache ($nr records for leaf-B1)" [ "$nr" = 2 ]
	echo 2 >>"$T/repo/images/leaf-B1/version.txt"
	HOIST_ROOT="$T/stack-b" "$H" import "$T/bb.tar" busybox:1.33 >/dev/null
	HOIST_ROOT="$T/stack-b" "$H" stack build "$SPEC" --registry "$R" --push --since HEAD \
		--tag t1 --cache-from "type=registry,ref=$R/cache:stack" --log-dir "$T/slb" \
		>/dev/null 2>"$T/sb.log"; st=$?
	check "stack: runner B after a change in leaf-B1" [ $st -eq 0 ]
	[ $st -eq 0 ] || diag "$(tail -5 "$T/sb.log")"
	check "stack: only leaf-B1 was built" sh -c "grep -q '1 images\? built' '$T/sb.log'"
	check "stack: its RUN was a hit of runner A's cache, its COPY ran" \
		sh -c "grep -q 'CACHED RUN dd' '$T/slb/leaf-B1.log' && ! grep -q 'CACHED COPY' '$T/slb/leaf-B1.log'"
	grep -q "CACHED RUN dd" "$T/slb/leaf-B1.log" || diag "$(cat "$T/slb/leaf-B1.log" 2>&1)"
}
fi
finish
