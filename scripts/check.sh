#!/usr/bin/env bash
# `make check`: every test but the GPU ones — the fast unit tests first, then the slow ones (models,
# servers, suites) — and, where nvcc is installed, a compile of the CUDA backend (no GPU here: the
# `gpu`-labelled tests run on the GPU machine with `ctest -L gpu`).
set -euo pipefail
build=${1:-build}
jobs=$(nproc)
ctest --test-dir "$build" -L fast -LE gpu --output-on-failure -j "$jobs"
ctest --test-dir "$build" -LE 'fast|gpu' --output-on-failure -j "$jobs"
# Affine budgets: clang-tidy bugprone-use-after-move as an error over src/budget and src/agent.
"$(dirname "$0")/check_use_after_move.sh" "$build"

# Sanitizer stages (GANNET_CHECK_SANITIZERS=0 skips them): the fast tests under ASan+UBSan and the
# concurrency tests (label `concurrency`: base, scheduler, engine, server, MCP store/tasks) under
# TSan, each in its own build dir and building only those test targets (gannet_tests_<label>), not
# the binary, the CUDA backend or the benches. Measured cost in docs/RELIABILITY.md.
sanitize_stage() {
    local name=$1 sanitize=$2 label=$3
    local dir="$build-$name"
    echo "check: $name: building gannet_tests_$label with -fsanitize=$sanitize in $dir"
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGANNET_SANITIZE="$sanitize" >/dev/null
    cmake --build "$dir" -j "$jobs" --target "gannet_tests_$label"
    # setarch -R: gcc 12's TSan cannot map its shadow under vm.mmap_rnd_bits=32 (the default of
    # e.g. Ubuntu 24.04 runners: "unexpected memory mapping"); without ASLR it always fits.
    setarch "$(uname -m)" -R ctest --test-dir "$dir" -L "$label" -LE gpu --output-on-failure -j "$jobs"
}
if [ "${GANNET_CHECK_SANITIZERS:-1}" != 0 ]; then
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
    sanitize_stage asan address,undefined fast
    sanitize_stage tsan thread concurrency
fi

nvcc=$(command -v nvcc || true)
[ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
if [ -z "$nvcc" ]; then
    echo "check: nvcc not found; skipping the CUDA compile check"
    exit 0
fi
echo "check: compiling the CUDA backend with $nvcc (GANNET_CUDA=ON)"
cuda_build="$build-cuda"
CUDACXX="$nvcc" cmake -S . -B "$cuda_build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGANNET_CUDA=ON >/dev/null
# Only the CUDA targets (libraries, gpu tests, benches): the rest was built and tested above.
mapfile -t cuda_targets < <(cmake --build "$cuda_build" --target help | sed -n 's/^\([A-Za-z0-9_]*cuda[A-Za-z0-9_]*\): .*/\1/p' | grep -v -E '^(cuda_|CUDA)' || true)
if [ ${#cuda_targets[@]} -eq 0 ]; then
    echo "check: no CUDA targets found" >&2
    exit 1
fi
cmake --build "$cuda_build" -j "$jobs" --target "${cuda_targets[@]}"
echo "check: CUDA backend compiled: ${cuda_targets[*]}"
