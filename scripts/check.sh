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
