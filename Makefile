# The README's two commands: `make demo` and `make check`. Both install what is missing, build once
# and run. Build type Release (the tests include numerics that are slow without optimization).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build check check-fast demo fuzz clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

configure: $(BUILD)/build.ninja

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

# Fast tests first (seconds), then the slow ones (models, servers, suites). GPU tests run only on
# the GPU machine: ctest -L gpu.
check: build
	scripts/check.sh $(BUILD)

check-fast: build
	ctest --test-dir $(BUILD) -L fast --output-on-failure -j $(JOBS)

demo: build
	scripts/demo.sh $(BUILD)

# libFuzzer targets (clang, ASan+UBSan) in their own build dir, each run FUZZ_SECONDS on its seed
# corpus (fuzz/corpus/); fails on any crash, leak or timeout. docs/RELIABILITY.md has the campaigns.
FUZZ_SECONDS ?= 60
FUZZ_BUILD ?= build-fuzz
fuzz:
	scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD)
