#!/usr/bin/env bash
# Builds the CUDA backend on the GPU machine, runs the gpu-labelled tests and the matvec benchmark,
# and writes logs under $OUT (env.txt, build.log, ctest.log, bench.log). Uses the system GoogleTest,
# or builds one from .device/googletest (a copy of /usr/src/googletest carried with the tree).
# Usage (repository root): src/kernels/cuda/gpu_check.sh [build dir]
set -u
OUT=${OUT:-/tmp/gannet-gpu-out}
BUILD=${1:-/tmp/gannet-build-gpu}
mkdir -p "$OUT"
{
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
    cmake --version | head -1
    nvcc --version | tail -1
    nproc
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

PREFIX=()
if [ ! -f /usr/include/gtest/gtest.h ] && [ -d .device/googletest ]; then
    echo "gtest: building from .device/googletest"
    cmake -S .device/googletest -B /tmp/gtest-build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_GMOCK=OFF \
        -DCMAKE_INSTALL_PREFIX=/tmp/gtest-install > "$OUT/gtest.log" 2>&1 \
        && cmake --build /tmp/gtest-build -j16 >> "$OUT/gtest.log" 2>&1 \
        && cmake --install /tmp/gtest-build >> "$OUT/gtest.log" 2>&1 || { tail -20 "$OUT/gtest.log"; exit 1; }
    PREFIX=(-DCMAKE_PREFIX_PATH=/tmp/gtest-install)
fi

start=$(date +%s)
cmake -S src/kernels/cuda/standalone -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release "${PREFIX[@]}" > "$OUT/build.log" 2>&1 \
    && cmake --build "$BUILD" -j16 --target base_cuda_test kernels_cuda_test matvec_bench prefill_bench runner_cuda_test memory_cuda_test >> "$OUT/build.log" 2>&1
rc=$?
echo "build rc=$rc in $(( $(date +%s) - start )) s"
if [ $rc -ne 0 ]; then
    grep -E "error|Error" "$OUT/build.log" | head -30
    exit 1
fi
grep -c "warning" "$OUT/build.log" | sed 's/^/build warnings: /'

ctest --test-dir "$BUILD" -L gpu --output-on-failure -j4 > "$OUT/ctest.log" 2>&1
echo "ctest rc=$?"
grep -E "tests passed|FAILED|Failed|\*\*\*" "$OUT/ctest.log" | head -40

BENCH=$(find "$BUILD" -name matvec_bench -type f -perm -u+x | head -1)
"$BENCH" 15 > "$OUT/bench.log" 2>&1
echo "bench rc=$?"
cat "$OUT/bench.log"

# Prefill: gemm per 8B projection and dtype, reference vs flash attention, at 512 and 4096 tokens.
PREFILL=$(find "$BUILD" -name prefill_bench -type f -perm -u+x | head -1)
"$PREFILL" 10 512 4096 > "$OUT/prefill_bench.log" 2>&1
echo "prefill bench rc=$?"
cat "$OUT/prefill_bench.log"
