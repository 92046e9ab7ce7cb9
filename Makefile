# SPDX-License-Identifier: MIT
# tunplug — the two set-up commands (see README):
#   sudo make run    build everything, run the gateway's demo (default configuration)
#   sudo make test   build everything, run every test (what CI runs)
# Both install missing Debian packages first.

BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

PACKAGES = build-essential cmake pkg-config patch xz-utils libuv1-dev libmnl-dev libyaml-dev libsystemd-dev libssl-dev \
           clang libclang-rt-14-dev clang-format clang-tidy iproute2 procps curl iperf3 socat python3 \
           iputils-ping dnsutils dnsmasq-base tinyproxy \
           dante-server microsocks hping3 nmap nginx-light openssl prometheus \
           debhelper fakeroot lintian debootstrap git python3-matplotlib bird2

.PHONY: all deps build run test check test-asan test-fuzz format format-check tidy bench soak deb clean

all: build

deps:
	@missing=""; for p in $(PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "need root to install packages (sudo make ...)" >&2; exit 1; fi; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DTUNPLUG_WERROR=ON $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)

# Default configuration: a self-contained demo network in namespaces
# (always removed), real traffic through the gateway, then serve until Ctrl-C.
run: build
	examples/demo.sh $(BUILD)/gateway/tunplug

# Everything CI runs: formatting and SPDX lines, -Werror build, clang-tidy,
# all ctest (unit, stack, gateway, fuzz corpus replay, end-to-end in netns),
# the same tests again with tunplug and everything else built with
# ASan+UBSan (a sanitizer report or a leak at exit fails the test; not the
# Debian package test, label deb), and bounded libFuzzer runs. The package
# test (deb_install) keeps a clean Debian 12 rootfs in
# /var/cache/tunplug-test-rootfs (made once with debootstrap; delete it to
# start over).
test: format-check build tidy
	ctest --test-dir $(BUILD) --output-on-failure -j 1
	$(MAKE) --no-print-directory test-asan test-fuzz

# Fast loop for developers: no e2e, no sanitizers.
check: build
	ctest --test-dir $(BUILD) --output-on-failure -LE e2e

test-asan: deps
	cmake -S . -B $(BUILD_ASAN) -DTUNPLUG_WERROR=ON -DTUNPLUG_SANITIZE=address,undefined \
		-DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS)
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --test-dir $(BUILD_ASAN) --output-on-failure -LE deb

test-fuzz: deps
	CC=clang cmake -S . -B $(BUILD_FUZZ) -DTUNPLUG_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS)
	cmake --build $(BUILD_FUZZ) -j $(JOBS)
	ctest --test-dir $(BUILD_FUZZ) --output-on-failure -L fuzz

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)
format-check: deps
	clang-format --dry-run --Werror $(FORMAT_FILES)
	.ci/check-spdx.sh

# clang-tidy with the checks in .clang-tidy over every C file of the four
# modules, with the flags of the build (build/compile_commands.json); any
# warning fails.
TIDY_FILES = $(shell git ls-files 'gateway/*.c' 'stack/*.c' 'tun/*.c' 'handlers/*.c' 2>/dev/null)
tidy: build
	printf '%s\n' $(TIDY_FILES) | xargs -P $(JOBS) -n 4 \
		clang-tidy -p $(BUILD) --quiet --warnings-as-errors='*'

bench: build
	bench/bench.sh $(BUILD)/gateway/tunplug

# Mixed load for SOAK_MINUTES (10) minutes, fails on growth (bench/README.md);
# not part of `make test`.
SOAK_MINUTES ?= 10
soak: build
	bench/soak.sh $(BUILD)/gateway/tunplug --minutes $(SOAK_MINUTES)

# The Debian packages tunplug and tunplug-dev into DEB_OUT (lintian: no
# errors); see debian/README.source for how lwIP's source gets there.
DEB_OUT ?= $(BUILD)/deb
deb: deps
	debian/make-debs.sh $(DEB_OUT)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
