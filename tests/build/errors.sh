#!/bin/bash
# Errors that point the way: each mistake below fails `hoist build` (or pull,
# run) with exactly this one line, a non-zero exit status and no image
# tagged. The Docker Hub lookup of a misspelled FROM goes through a proxy
# that is not there (https_proxy=127.0.0.1:9), so the registry's part of the
# message is the same on every machine, online or air-gapped.
set -uo pipefail
: "${HOIST_BIN:?}" "${HOIST_CORPORA:?}"
. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
mkbase=$HOIST_CORPORA/buildkit-differential/base/mkbase.py
[ -f "$mkbase" ] || skip_all "no $mkbase"
[ -x /bin/busybox ] || skip_all "busybox-static is not installed"
tmpdir T
base=$T/busybox-rootfs.tar
python3 "$mkbase" /bin/busybox "$base" >/dev/null || bail "cannot make the base rootfs"
H="$HOIST_BIN --root $T/root"
$H import "$base" bb >/dev/null || bail "import failed"
export https_proxy=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9
unset no_proxy NO_PROXY
mkdir "$T/ctx"
cd "$T/ctx" || bail "no context directory"
hub="and the registry lookup failed: pulling 'docker.io/library/bulder:latest': connecting to registry 'docker.io': Couldn't connect to server"
known="386, amd64, amd64p32, arm, arm64, arm64be, armbe, loong64, mips, mips64, mips64le, mips64p32, mips64p32le, mipsle, ppc, ppc64, ppc64le, riscv, riscv64, s390, s390x, sparc, sparc64, wasm"
amd65="invalid platform 'linux/amd65': unknown architecture 'amd65' (did you mean 'amd64'?); known architectures: $known"

# fails DESC WANT CMD...: CMD exits non-zero, its stderr is exactly WANT and
# no image but the base is tagged.
fails() {
	local desc=$1 want=$2 st got
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	st=$?
	got=$(cat "$T/err")
	if [ $st -ne 0 ] && [ "$got" = "$want" ] && [ "$($H images -q | wc -l)" = 1 ]; then
		ok "$desc"
	else
		nok "$desc"
		diag "exit status $st" "want: $want" "got:  $got"
		$H images | diag
	fi
}
df() { printf '%s\n' "$@" >Dockerfile; }
build() { $H build -q -t err -f Dockerfile "$@" .; }

# An unknown architecture, refused before the Dockerfile is even read.
df 'FROM bb' 'RUN touch /ran'
fails "build --platform linux/amd65" "hoist: $amd65" build --platform linux/amd65
fails "build --platform with linux/amd65 in a list" "hoist: $amd65" \
	build --platform linux/arm64,linux/amd65
fails "pull --platform linux/amd65" "hoist pull: $amd65
run 'hoist pull --help' for usage" $H pull --platform linux/amd65 busybox
fails "run --platform linux/amd65" "hoist: $amd65" $H run --platform linux/amd65 bb true
df 'FROM --platform=linux/amd65 bb' 'RUN touch /ran'
fails "FROM --platform=linux/amd65" "hoist: Dockerfile:1: FROM --platform='linux/amd65': $amd65" build

# A FROM that is no stage and no local image: that first, the stages and a
# close match, and only then the registry's error.
df 'FROM bb AS builder' 'RUN touch /ran' 'FROM bulder' 'COPY --from=builder /ran /ran'
fails "FROM a misspelled stage" \
	"hoist: Dockerfile:3: no stage or local image named 'bulder' (stages: 'builder'; did you mean 'builder'?), $hub" \
	build
df 'FROM bb AS builder' 'RUN touch /ran' 'FROM bb AS test' 'FROM bb' 'COPY --from=bulder /ran /ran'
fails "COPY --from a misspelled stage" \
	"hoist: Dockerfile:5: COPY --from: no stage or local image named 'bulder' (stages: 'builder', 'test'; did you mean 'builder'?), $hub" \
	build
df 'FROM bulder AS app' 'FROM bb AS bulder' 'FROM app'
fails "FROM a stage defined later" \
	"hoist: Dockerfile:1: no stage or local image named 'bulder' (no stage before this one has a name; stage 'bulder' is at line 2, not before this FROM), $hub" \
	build
df 'FROM bbb'
fails "FROM a misspelled local image" \
	"hoist: Dockerfile:1: no stage or local image named 'bbb' (no stage before this one has a name; did you mean 'bb'?), ${hub//bulder/bbb}" \
	build

# A FROM that expands to nothing names the ARG and how to set it.
df 'ARG BASE_IMAGE' 'FROM $BASE_IMAGE'
fails "FROM an empty global ARG" \
	"hoist: Dockerfile:2: FROM \$BASE_IMAGE: the image name is empty: ARG 'BASE_IMAGE' is empty (set it with --build-arg BASE_IMAGE=<image>)" \
	build
df 'FROM $BASE_IMAGE'
fails "FROM an ARG not declared before the first FROM (a --build-arg alone does not help)" \
	"hoist: Dockerfile:1: FROM \$BASE_IMAGE: the image name is empty: 'BASE_IMAGE' is not an ARG declared before the first FROM (declare it there with 'ARG BASE_IMAGE', then set it with --build-arg BASE_IMAGE=<image>)" \
	build --build-arg BASE_IMAGE=bb
df 'ARG REG' 'ARG NAME' 'FROM ${REG}${NAME}'
fails "FROM two empty ARGs" \
	"hoist: Dockerfile:3: FROM \${REG}\${NAME}: the image name is empty: ARGs 'REG', 'NAME' are empty (set them with --build-arg REG=<value> --build-arg NAME=<value>)" \
	build
# As BuildKit: every stage's FROM, even one --target does not need
# (Docker 20.10.24: "base name ($E) should not be blank").
df 'ARG E' 'FROM bb AS a' 'RUN touch /ran' 'FROM $E AS b'
fails "an empty FROM in a stage --target does not build" \
	"hoist: Dockerfile:4: FROM \$E: the image name is empty: ARG 'E' is empty (set it with --build-arg E=<image>)" \
	build --target a
finish
