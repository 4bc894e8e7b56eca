#!/bin/sh
# hoist sync yaml:FILE: the image list `skopeo sync --src yaml` reads
# (registry -> images -> tags, `[]` for every tag, images-by-tag-regex,
# tls-verify) against a real registry: the images it names and only those
# are copied, with their digests; keys hoist does not implement, bad
# regexes and a regex matching nothing are errors at file:line; offline,
# nothing is listed. TAP output.
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"

AP=$(free_port); BP=$(free_port)
start_registry "$T/a-reg" plain "$AP" || skip_all "docker-registry did not start"
start_registry "$T/b-reg" plain "$BP" || skip_all "second docker-registry did not start"
A=127.0.0.1:$AP
B=127.0.0.1:$BP
SK="skopeo --policy /etc/containers/policy.json"
raw_digest() { echo "sha256:$($SK inspect --raw --tls-verify=false "$1" 2>/dev/null | sha256sum | cut -d' ' -f1)"; }

mklayer "$T/l1.tgz" 32
mklayer "$T/l2.tgz" 16
export HOIST_ROOT="$T/pub"
ok=0
for t in 1.0 1.1 1.2-rc 2.0; do
	"$MK" "$T/pub" "$A/lib/base:$t" linux/amd64 "$T/l1.tgz" >/dev/null
	"$H" push --progress quiet "$A/lib/base:$t" >/dev/null 2>&1 || ok=1
done
for t in a b; do
	"$MK" "$T/pub" "$A/tools/x:$t" linux/amd64 "$T/l2.tgz" "$T/l1.tgz" >/dev/null
	"$H" push --progress quiet "$A/tools/x:$t" >/dev/null 2>&1 || ok=1
done
DX=$("$MK" "$T/pub" "$A/pinned/y:p" linux/amd64 "$T/l2.tgz")
"$H" push --progress quiet "$A/pinned/y:p" >/dev/null 2>&1 || ok=1
check "seeded the source registry" [ $ok = 0 ]

cat >"$T/list.yml" <<EOF
# as skopeo sync --src yaml takes it
$A:
  tls-verify: false
  images:
    tools/x: []
    pinned/y:
      - "$DX"
  images-by-tag-regex:
    lib/base: ^1\.[0-9]+\$
EOF
export HOIST_ROOT="$T/s1"
"$H" sync "yaml:$T/list.yml" --to "docker://$B/m" >"$T/out" 2>"$T/err"; st=$?
check "sync a YAML list into a registry" [ $st -eq 0 ]
[ $st -eq 0 ] || diag "$(cat "$T/err")"
is "$(wc -l <"$T/out")" 5 "five images: two tags by regex, every tag of one, one digest"
for t in 1.0 1.1; do
	is "$(raw_digest "docker://$B/m/lib/base:$t")" "$(raw_digest "docker://$A/lib/base:$t")" \
		"lib/base:$t (the regex matched it) keeps its digest"
done
for t in 1.2-rc 2.0; do
	$SK inspect --raw --tls-verify=false "docker://$B/m/lib/base:$t" >/dev/null 2>&1
	check "lib/base:$t (not matched) was not copied" [ $? -ne 0 ]
done
for t in a b; do
	is "$(raw_digest "docker://$B/m/tools/x:$t")" "$(raw_digest "docker://$A/tools/x:$t")" \
		"tools/x:$t ([] means every tag) keeps its digest"
done
is "$(raw_digest "docker://$B/m/pinned/y@$DX")" "$DX" "pinned/y by digest"

# The same list into a bundle file.
"$H" sync "yaml:$T/list.yml" --to "oci-archive:$T/b.tar" >/dev/null 2>"$T/err"
check "a YAML list into an OCI archive" [ $? -eq 0 ]
is "$(raw_digest "oci-archive:$T/b.tar:b")" "$(raw_digest "docker://$A/tools/x:b")" \
	"... which skopeo reads"

# Errors, each at its file:line.
bad() { # NAME EXPECTED-TEXT DESCRIPTION; the list is on stdin
	cat >"$T/$1.yml"
	"$H" sync "yaml:$T/$1.yml" --to "oci:$T/never" >/dev/null 2>"$T/err"; st=$?
	if [ $st -eq 1 ] && grep -qF -- "$2" "$T/err"; then ok "$3"; else
		nok "$3"
		diag "status $st: $(cat "$T/err")"
	fi
}
bad creds "$T/creds.yml:3:3: 'credentials' are not read from a sync list" \
	"credentials in the list are refused, pointing at hoist login" <<EOF
$A:
  images: {tools/x: [a]}
  credentials: {username: u, password: p}
EOF
bad semver "$T/semver.yml:2:3: unknown key 'images-by-semver'" "images-by-semver: unknown key" <<EOF
$A:
  images-by-semver: {tools/x: ">= 1"}
EOF
bad regex "$T/regex.yml:3:14: '(' is not a POSIX extended regular expression" "a bad regex" <<EOF
$A:
  images-by-tag-regex:
    tools/x: "("
EOF
bad nomatch "$T/nomatch.yml:3: '$A/tools/x' has no tag matching '^v9'" \
	"a regex matching no tag" <<EOF
$A:
  images-by-tag-regex:
    tools/x: ^v9
EOF
bad tagname "$T/tagname.yml:3:5: 'tools/x:a': give tags in the list" "a tag in the name" <<EOF
$A:
  images:
    tools/x:a: [b]
EOF
bad notalist "$T/notalist.yml:1:1: a sync list is a mapping" "not a mapping" <<EOF
- $A/tools/x:a
EOF
test -e "$T/never"
check "nothing was written for a bad list" [ $? -ne 0 ]

HOIST_OFFLINE=1 "$H" sync "yaml:$T/list.yml" --to "oci:$T/off" >/dev/null 2>"$T/err"
check "offline: listing tags is refused" grep -q "offline" "$T/err"

finish
