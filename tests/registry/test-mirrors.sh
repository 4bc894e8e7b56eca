#!/bin/sh
# registries.conf against real registries on 127.0.0.1: `FROM debian:bookworm`
# and `hoist pull debian:bookworm` resolved to an internal registry by a
# rewrite, aliases and search registries, mirrors tried in order (one down,
# one without the image) before the location, a blocked prefix refused with
# its rule, and a local image winning over any registry. TAP output.
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"

RP=$(free_port); EP=$(free_port); PP=$(free_port); DOWN=$(free_port)
start_registry "$T/reg" plain "$RP" || skip_all "docker-registry did not start"
start_registry "$T/empty" plain "$EP" || skip_all "second docker-registry did not start"
start_proxy "$T/empty" "$PP" "$EP" || skip_all "proxy did not start"
R=127.0.0.1:$RP      # the internal registry, holding mirror/library/debian:bookworm
E=127.0.0.1:$PP      # a mirror that has nothing (404), through the recording proxy
D=127.0.0.1:$DOWN    # a mirror that is down (nothing listens)

# The internal registry's debian:bookworm is a busybox image.
"$HOIST_SRCDIR/scripts/mkrootfs-busybox.sh" "$T/bb.tar"
HOIST_ROOT="$T/seed" "$H" import "$T/bb.tar" "$R/mirror/library/debian:bookworm" >/dev/null
BB=$(HOIST_ROOT="$T/seed" "$H" push --progress quiet "$R/mirror/library/debian:bookworm" 2>"$T/seed.err")
check "seeded $R/mirror/library/debian:bookworm" [ -n "$BB" ]

cat >"$T/rewrite.conf" <<EOF
# docker.io's official images live in the internal registry
[[registry]]
prefix = "docker.io/library"
location = "$R/mirror/library"
EOF

# pull: the Docker Hub name, fetched from the rewritten location.
out=$(HOIST_ROOT="$T/s1" "$H" pull --registries-conf "$T/rewrite.conf" --progress quiet \
	debian:bookworm 2>"$T/err"); st=$?
check "pull debian:bookworm through a rewrite" eval '[ $st -eq 0 ] && [ "$out" = "$BB" ]'
[ $st -eq 0 ] || diag "$(cat "$T/err")"
HOIST_ROOT="$T/s1" "$H" images >"$T/images"
check "tagged under the name asked for" grep -q '^docker.io/library/debian  *bookworm\|^debian  *bookworm' "$T/images"

# build: FROM debian:bookworm with the file named by the environment.
mkdir -p "$T/ctx"
cat >"$T/ctx/Dockerfile" <<EOF
FROM debian:bookworm
RUN echo built-on-the-mirror > /from-mirror
EOF
HOIST_REGISTRIES_CONF="$T/rewrite.conf" HOIST_ROOT="$T/s2" "$H" build --progress plain \
	-t airgap/app:1 "$T/ctx" >"$T/build.out" 2>"$T/build.err"; st=$?
check "build FROM debian:bookworm through HOIST_REGISTRIES_CONF" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(tail -5 "$T/build.err")"
ran=$(HOIST_ROOT="$T/s2" "$H" run --rm airgap/app:1 cat /from-mirror 2>&1)
is "$ran" built-on-the-mirror "the RUN step ran in the mirrored busybox"

# Without registries.conf the same name goes to Docker Hub: prove it is not
# tried here by naming an unreachable Hub instead.
cat >"$T/hub-down.conf" <<EOF
[[registry]]
prefix = "docker.io"
location = "$D"
EOF
HOIST_ROOT="$T/s3" "$H" pull --registries-conf "$T/hub-down.conf" --progress quiet \
	debian:bookworm >/dev/null 2>"$T/err"; st=$?
check "an unreachable location fails the pull" [ $st -eq 1 ]
check "the error names the location tried" grep -q "$D" "$T/err"

# Mirrors in order: one down, one answering 404, then the location.
cat >"$T/mirrors.conf" <<EOF
[[registry]]
prefix = "docker.io/library"
location = "$R/mirror/library"

[[registry.mirror]]
location = "$D/down/library"

[[registry.mirror]]
location = "$E/empty/library"
EOF
: >"$T/empty/proxy.log"
out=$(HOIST_ROOT="$T/s4" "$H" pull --registries-conf "$T/mirrors.conf" --progress quiet \
	debian:bookworm 2>"$T/err"); st=$?
check "a mirror down and a mirror without the image fall through to the location" \
	eval '[ $st -eq 0 ] && [ "$out" = "$BB" ]'
[ $st -eq 0 ] || diag "$(cat "$T/err")"
check "the 404 mirror was asked for the rewritten name" \
	grep -q "/v2/empty/library/debian/manifests/bookworm" "$T/empty/proxy.log"

# A mirror that has it is used; the location is not asked for the manifest.
HOIST_ROOT="$T/seed" "$H" push --progress quiet "$R/mirror/library/debian:bookworm" \
	"$E/empty/library/debian:bookworm" >/dev/null 2>&1
: >"$T/empty/proxy.log"
out=$(HOIST_ROOT="$T/s5" "$H" pull --registries-conf "$T/mirrors.conf" --progress plain \
	debian:bookworm 2>"$T/err"); st=$?
check "the first mirror that has the image is used" eval '[ $st -eq 0 ] && [ "$out" = "$BB" ]'
check "its blobs came from the mirror" grep -q "/v2/empty/library/debian/blobs/" "$T/empty/proxy.log"

# Where each image came from: the location or mirror actually used.
HOIST_ROOT="$T/s1" "$H" images --origin >"$T/images"
check "images --origin: the rewritten location" \
	grep -q "^debian  *bookworm .* $R/mirror/library/debian:bookworm\$" "$T/images"
HOIST_ROOT="$T/s5" "$H" images --origin >"$T/images"
check "images --origin: the mirror, marked" \
	grep -q " $E/empty/library/debian:bookworm (mirror)\$" "$T/images"
HOIST_ROOT="$T/s4" "$H" images --format json >"$T/images.json"
check "images --format json: Origin of a fall-through pull is the location" \
	grep -q "\"Origin\":\"$R/mirror/library/debian:bookworm\"" "$T/images.json"
HOIST_ROOT="$T/s5" "$H" inspect debian:bookworm >"$T/inspect.json"
check_quiet "inspect: Origin.Source and Mirror" $PY -c '
import json, sys
o = json.load(open(sys.argv[1]))["Origin"]
assert o["Source"] == sys.argv[2] and o["Mirror"] is True and o["Pulled"].endswith("Z"), o
' "$T/inspect.json" "$E/empty/library/debian:bookworm"
HOIST_ROOT="$T/s4" "$H" import "$T/bb.tar" debian:bookworm >/dev/null
HOIST_ROOT="$T/s4" "$H" images --origin >"$T/images"
check "a tag moved by a local import has no origin" grep -q "^debian  *bookworm .* -\$" "$T/images"
HOIST_ROOT="$T/s4" "$H" inspect debian:bookworm >"$T/inspect.json"
check "... and inspect shows none" sh -c "! grep -q Origin '$T/inspect.json'"

# Every source failing: each one is named with its reason.
cat >"$T/none.conf" <<EOF
[[registry]]
prefix = "docker.io/library"
location = "$R/nothing-here"
[[registry.mirror]]
location = "$D/down"
EOF
HOIST_ROOT="$T/s6" "$H" pull --registries-conf "$T/none.conf" --progress quiet \
	debian:bookworm >/dev/null 2>"$T/err"; st=$?
check "no source has it: exit 1" [ $st -eq 1 ]
check "the error lists the mirror and the location" \
	grep -q "$D/down/debian:bookworm (mirror): .*; $R/nothing-here/debian:bookworm: .*404" "$T/err"
[ $st -eq 1 ] || diag "$(cat "$T/err")"

# Blocked: refused before any connection, naming the rule.
cat >"$T/blocked.conf" <<EOF
unqualified-search-registries = ["$R"]

[[registry]]
prefix = "$R/mirror"
blocked = true
EOF
HOIST_ROOT="$T/s7" "$H" pull --registries-conf "$T/blocked.conf" --progress quiet \
	"$R/mirror/library/debian:bookworm" >/dev/null 2>"$T/err"; st=$?
check "a blocked prefix is refused" [ $st -eq 1 ]
check "the error names the rule (file:line)" \
	grep -q "is blocked by $T/blocked.conf:3 (\[\[registry\]\] prefix '$R/mirror')" "$T/err"
[ $st -eq 1 ] || diag "$(cat "$T/err")"

# ... before any connection: a blocked prefix behind the recording proxy.
printf '[[registry]]\nprefix = "%s/empty"\nblocked = true\n' "$E" >"$T/blocked2.conf"
: >"$T/empty/proxy.log"
HOIST_ROOT="$T/s7" "$H" pull --registries-conf "$T/blocked2.conf" --progress quiet \
	"$E/empty/library/debian:bookworm" >/dev/null 2>"$T/err"; st=$?
check "a blocked registry is refused, naming its rule" \
	eval '[ $st -eq 1 ] && grep -q "is blocked by $T/blocked2.conf:1" "$T/err"'
is "$(wc -l <"$T/empty/proxy.log")" 0 "... without a single request to it"

# Aliases and search registries for short names.
cat >"$T/short.conf" <<EOF
unqualified-search-registries = ["$D", "$R"]
[aliases]
"bookworm-base" = "$R/mirror/library/debian"
EOF
out=$(HOIST_ROOT="$T/s8" "$H" pull --registries-conf "$T/short.conf" --progress quiet \
	bookworm-base:bookworm 2>"$T/err"); st=$?
check "an alias resolves a short name" eval '[ $st -eq 0 ] && [ "$out" = "$BB" ]'
HOIST_ROOT="$T/s8" "$H" inspect "$R/mirror/library/debian:bookworm" >/dev/null 2>&1
check "the resolved name is tagged too" [ $? -eq 0 ]
HOIST_ROOT="$T/s8" "$H" images --origin >"$T/images"
check "both names have the origin" [ "$(grep -c " $R/mirror/library/debian:bookworm\$" "$T/images")" = 2 ]
out=$(HOIST_ROOT="$T/s9" "$H" pull --registries-conf "$T/short.conf" --progress quiet \
	mirror/library/debian:bookworm 2>"$T/err"); st=$?
check "search registries: the first one down, the second has it" eval '[ $st -eq 0 ] && [ "$out" = "$BB" ]'
[ $st -eq 0 ] || diag "$(cat "$T/err")"

# A local image wins: with a registries.conf whose every source is down,
# FROM busybox builds from the store without contacting anything.
HOIST_ROOT="$T/s10" "$H" import "$T/bb.tar" busybox >/dev/null
cat >"$T/all-down.conf" <<EOF
unqualified-search-registries = ["$D"]
[[registry]]
prefix = "docker.io"
location = "$D"
EOF
printf 'FROM busybox\nRUN true\n' >"$T/ctx/Dockerfile"
HOIST_REGISTRIES_CONF="$T/all-down.conf" HOIST_ROOT="$T/s10" "$H" build --progress plain \
	"$T/ctx" >/dev/null 2>"$T/err"
check "FROM busybox uses the local image, whatever registries.conf says" [ $? -eq 0 ]

# A broken registries.conf is an error with its position, and only when a
# pull needs it.
printf '[[registry]]\nlocation = "https://x.example"\n' >"$T/bad.conf"
HOIST_ROOT="$T/s10" "$H" pull --registries-conf "$T/bad.conf" --progress quiet busybox \
	>/dev/null 2>"$T/err"; st=$?
check "a bad registries.conf fails the pull with file:line" \
	grep -q "$T/bad.conf:2: .*location 'https://x.example' must not have a scheme" "$T/err"
HOIST_REGISTRIES_CONF="$T/bad.conf" HOIST_ROOT="$T/s10" "$H" build --progress plain \
	"$T/ctx" >/dev/null 2>&1
check "a build that pulls nothing does not read it" [ $? -eq 0 ]

finish
