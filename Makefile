# Entry points a newcomer types on a fresh Debian 12 machine (as root or
# with sudo): `make demo` and `make check`. Everything else is meson.

# Build and test dependencies, all Debian packages.
DEPS = build-essential pkg-config meson ninja-build clang clang-format libclang-rt-14-dev git \
       libcurl4-openssl-dev zlib1g-dev libarchive-dev libjansson-dev \
       libyaml-dev libzstd-dev \
       python3 python3-jsonschema python3-jwt python3-cryptography openssl busybox-static skopeo umoci podman runc uidmap \
       docker-registry docker.io ca-certificates mmdebstrap arch-test qemu-user-static \
       curl xz-utils zstd bzip2 dpkg-dev iproute2 strace jq libcap2-bin patchelf

BUILD ?= build
CHECK_BUILD ?= build-check

.PHONY: all deps build demo image check fuzz format clean

all: build

deps:
	@if [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEPS) >/dev/null || \
	  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEPS); }; \
	else echo "make deps: not root, assuming the packages are installed"; fi

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

# The demo: build hoist and run examples/demo.sh with it.
demo: build
	HOIST=$(BUILD)/src/cli/hoist ./examples/demo.sh

# hoist's own container image (contrib/container/Dockerfile), built by hoist:
# the image a CI job names (docs/ci.md). Tagged $(IMAGE), saved as a
# docker-archive in $(BUILD)/hoist-image.tar for docker load / podman load /
# hoist push. Makes the Debian minbase fixture first if it is not cached.
IMAGE ?= hoist:latest
image: build
	HOIST=$(BUILD)/src/cli/hoist contrib/container/mkimage.sh -t $(IMAGE) -o $(BUILD)/hoist-image.tar

# The whole test suite, once, under ASan+UBSan. HOIST_TEST_NO_SKIP turns a
# skipped test into a failure (CI sets it; so does this target).
#
# The Debian rootfs fixtures (cold on every CI run: ~2 min for amd64, 8-15
# for arm64 under qemu) are made in the background from the start by
# scripts/prefetch-fixtures.sh, beside the compile and the tests that leave
# a core idle; the tests that need them wait on the fixture scripts' lock.
# It runs in its own session so that the trap can end it if the compile or
# meson fails (dash's kill takes -PGID, not "-- -PGID"). Its log is
# meson-logs/fixtures.log; scripts/ci-times.py prints where the time went
# (docs/architecture.md, "CI time").
FIXTURES = fixtures/cache

check: deps
	[ -f $(CHECK_BUILD)/build.ninja ] || meson setup $(CHECK_BUILD) \
	  -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
	@echo "fixtures: made in the background, log in $(CHECK_BUILD)/meson-logs/fixtures.log"
	setsid scripts/prefetch-fixtures.sh $(FIXTURES) >$(CHECK_BUILD)/meson-logs/fixtures.log 2>&1 & \
	fx=$$!; trap 'kill -TERM -'$$fx' 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
	meson compile -C $(CHECK_BUILD) && \
	{ HOIST_TEST_NO_SKIP=1 meson test -C $(CHECK_BUILD) --print-errorlogs --num-processes 2; \
	  st=$$?; python3 scripts/ci-times.py $(CHECK_BUILD)/meson-logs; exit $$st; }
	python3 scripts/check-no-skips.py $(CHECK_BUILD)/meson-logs/testlog.json

# The libFuzzer build (docs/fuzzing.md): every module instrumented
# (fuzzer-no-link, ASan, UBSan), the fuzz-* binaries in build-fuzz/tests/fuzz/.
# Only the fuzz targets and the libraries are compiled, then the objects are
# checked for instrumentation; scripts/fuzz-run.sh runs one campaign.
FUZZ_BUILD ?= build-fuzz

fuzz:
	[ -f $(FUZZ_BUILD)/build.ninja ] || \
	  CC=clang meson setup $(FUZZ_BUILD) -Dfuzzing=true -Db_lundef=false
	ninja -C $(FUZZ_BUILD) build.ninja   # regenerate first: the target list may have changed
	ninja -C $(FUZZ_BUILD) $$(ninja -C $(FUZZ_BUILD) -t targets all | \
	  sed -n 's/^\([^ :]*\(tests\/fuzz\/fuzz-[a-z_]*\|libhoist-[a-z-]*\.a\)\):.*/\1/p' | sort -u)
	HOIST_SRCDIR=$(CURDIR) HOIST_FUZZ_BUILD=$(CURDIR)/$(FUZZ_BUILD) tests/fuzz/instrumented.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(CHECK_BUILD) $(FUZZ_BUILD)
