#!/usr/bin/env bash
# On the GPU machine: builds the standalone CUDA backend (src/kernels/cuda/standalone), runs every
# gpu-labelled test, writes Llama-3-8B-shaped random GGUFs (Q4_0, Q8_0, F16; LAYERS layers, tiny
# vocabulary) and benchmarks the CUDA forward pass on them next to the device copy bandwidth.
# Logs under $OUT. Usage (repository root): src/model/cuda/gpu_model_check.sh [LAYERS] [N_PROMPT] [N_GEN]
set -u
LAYERS=${1:-8}
N_PROMPT=${2:-512}
N_GEN=${3:-128}
OUT=${OUT:-/tmp/gannet-gpu-out}
BUILD=/tmp/gannet-build-model-gpu
MODELS=/tmp/gannet-bench-models
mkdir -p "$OUT" "$MODELS"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/env.txt"
nproc >> "$OUT/env.txt"

t0=$(date +%s)
cmake -S src/kernels/cuda/standalone -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release > "$OUT/build.log" 2>&1 \
    && cmake --build "$BUILD" -j16 --target base_cuda_test kernels_cuda_test model_cuda_test cuda_model_bench \
        runner_cuda_test runner_cuda_bench memory_test memory_cuda_test model_cuda_placement_test \
        >> "$OUT/build.log" 2>&1
rc=$?
echo "build rc=$rc in $(( $(date +%s) - t0 )) s; warnings: $(grep -c warning "$OUT/build.log")"
if [ $rc -ne 0 ]; then
    grep -E "error" "$OUT/build.log" | head -30
    exit 1
fi
BENCH="$BUILD/model_cuda/cuda_model_bench"

t0=$(date +%s)
for d in q4_0 q8_0 f16; do
    "$BENCH" make "$MODELS/llama8b-$d.gguf" "$d" "$LAYERS" > "$OUT/make-$d.log" 2>&1 &
done
ctest --test-dir "$BUILD" -L gpu --output-on-failure -j3 > "$OUT/ctest.log" 2>&1
echo "ctest rc=$?"
grep -E "tests passed|FAILED|Failed|\*\*\*|Passed|parity" "$OUT/ctest.log" | head -60
"$BUILD/model_cuda/model_cuda_test" 2>&1 | grep -E "parity|OK|FAILED|SKIP" > "$OUT/parity.log"
"$BUILD/runner_cuda/runner_cuda_test" 2>&1 | grep -E "cuda runner|OK \]|FAILED" >> "$OUT/parity.log"
"$BUILD/model_cuda/model_cuda_placement_test" > "$OUT/placement_test.log" 2>&1
echo "placement test rc=$?"; grep -E "OK \]|FAILED|placements of|differ" "$OUT/placement_test.log" | head -20
cat "$OUT/parity.log"
wait
echo "models written in $(( $(date +%s) - t0 )) s"; ls -la "$MODELS"; cat "$OUT"/make-*.log

"$BENCH" copy | tee "$OUT/bench.log"
for d in q4_0 q8_0 f16; do
    "$BENCH" run "$MODELS/llama8b-$d.gguf" "$N_PROMPT" "$N_GEN" 2>&1 | tee -a "$OUT/bench.log"
done
# Decode without the #6 fusions (int8 x written by rms_norm/glu, residual adds in the matvec) and/or
# without the Q4_0 repack (GGUF layout in device memory): what each buys, on the same model.
for v in unfused gguf "unfused gguf"; do
    # shellcheck disable=SC2086
    "$BENCH" run "$MODELS/llama8b-q4_0.gguf" "$N_PROMPT" "$N_GEN" $v 2>&1 | tee -a "$OUT/bench.log"
done
# Short context: how much of a decode step is attention.
"$BENCH" run "$MODELS/llama8b-q4_0.gguf" 16 "$N_GEN" 2>&1 | tee -a "$OUT/bench.log"
"$BENCH" copy | tee -a "$OUT/bench.log"
# The CUDA runner (src/runner/cuda): N = 1, 8, 32, 64 sequences decoding together, aggregate tok/s,
# then the same with --deterministic (one token per product).
RBENCH="$BUILD/runner_cuda/runner_cuda_bench"
"$RBENCH" "$MODELS/llama8b-q4_0.gguf" 128 64 2>&1 | tee "$OUT/runner_bench.log"
"$RBENCH" "$MODELS/llama8b-f16.gguf" 128 64 2>&1 | tee -a "$OUT/runner_bench.log"
"$RBENCH" "$MODELS/llama8b-q4_0.gguf" 128 16 det 2>&1 | tee -a "$OUT/runner_bench.log"
# Prefill of 4096 tokens (#6 target: 512 and 4096), one run per dtype.
for d in q4_0 q8_0 f16; do
    "$BENCH" run "$MODELS/llama8b-$d.gguf" 4096 16 2>&1 | tee -a "$OUT/bench.log"
done
# Weight placement (src/memory, #6): the host-to-device bound, then Q4_0 decode with the weights in
# device memory, read over the bus (mapped: all, half), streamed (every layer, half). Each run with
# mapped/stream re-measures the bound and prints pct_of_h2d_bound. N_GEN_BUS tokens keep each < 60 s.
N_GEN_BUS=${N_GEN_BUS:-64}
"$BENCH" h2d | tee "$OUT/placement_bench.log"
Q4="$MODELS/llama8b-q4_0.gguf"
"$BENCH" run "$Q4" "$N_PROMPT" "$N_GEN_BUS" --placement device 2>&1 | tee -a "$OUT/placement_bench.log"
for args in "--placement mapped --vram-budget 0" "--placement mapped --vram-budget 0.5" \
            "--placement stream --vram-budget 0.25" "--placement stream --vram-budget 0.75"; do
    # shellcheck disable=SC2086
    timeout 120 "$BENCH" run "$Q4" "$N_PROMPT" "$N_GEN_BUS" $args 2>&1 | tee -a "$OUT/placement_bench.log"
done
# Bad values: one-line errors, exit 1.
"$BENCH" run "$Q4" 16 4 --placement managed 2>&1 | tee -a "$OUT/placement_bench.log"
"$BENCH" run "$Q4" 16 4 --placement stream --vram-budget -1 2>&1 | tee -a "$OUT/placement_bench.log"
"$BENCH" run "$Q4" 16 4 --placement stream --vram-budget 0.1 2>&1 | tee -a "$OUT/placement_bench.log"
