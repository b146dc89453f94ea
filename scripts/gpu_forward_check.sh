#!/bin/bash
# One device call for the one CUDA forward (issue 14): builds gannet and the gpu tests, runs the
# paged-attention / flash / runner tests, then measures `gannet bench --device cuda` (512 and 6,000
# tokens, f32 and f16 cache) on an 8B-shaped Q4_0 file, one stream through `gannet serve --device
# cuda` at a ~6,000-token prompt (TTFT, decode tok/s), 8 concurrent 5,000-word prompts sharing a
# 2,000-word prefix, perplexity and logits --device cuda against the CPU references, then the model,
# placement and determinism tests. Logs under $OUT; summary.txt holds the results.
# Run from a copy of the tree (tests/fixtures linked from the checkout two levels up):
#   GPU_DEPS=../gpu-deps MODELS_DIR=../../models OUT=... scripts/gpu_forward_check.sh
# The deps folder: `../shared/tools/gpu-deps fetch DIR`, plus libwebp, which src/multimodal needs and
# that list lacks (the 2026-12-08 H100 image had none: configure stopped at pkg_check_modules):
#   (cd DIR && apt-get download libwebp-dev libwebp7 libwebpdemux2 libwebpmux3)
# The image has no node either, so tests/openai/cuda.test.mjs cannot run there; server_cuda_test
# (C++, label gpu) serves real HTTP requests through `gannet serve --device cuda` instead.
set -u
cd "$(dirname "$0")/.."
GPU_DEPS=${GPU_DEPS:-../gpu-deps}
MODELS_DIR=${MODELS_DIR:-../../models}
OUT=${OUT:-/tmp/gannet-gpu-out}
mkdir -p "$OUT"
S=$OUT/summary.txt
t0=$(date +%s)
el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a $S; }
[ -e tests/fixtures ] || ln -s ../../../tests/fixtures tests/fixtures
eval "$("$GPU_DEPS"/gpu-deps unpack)" > /dev/null
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a $S
echo "node: $(which node) $(node --version 2>&1)" >> $S
cmake -S . -B /tmp/b -G Ninja -DCMAKE_BUILD_TYPE=Release -DGANNET_CUDA=ON -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc -DCMAKE_PREFIX_PATH=/tmp/deps/usr > $OUT/build.log 2>&1 || el "configure failed"
cmake --build /tmp/b -j16 --target gannet kernels_cuda_test runner_cuda_test model_cuda_test model_cuda_placement_test cuda_model_bench server_cuda_test >> $OUT/build.log 2>&1 || { el "build failed"; grep -B2 -A8 "error" $OUT/build.log | head -60; }
el "built"
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH
B=/tmp/b/tools/gannet/gannet
MB=/tmp/b/src/model/cuda/cuda_model_bench
gt() { local name=$1 bin=$2 filt=$3 lim=$4; (timeout $lim $bin --gtest_filter="$filt" > $OUT/$name.log 2>&1; echo "$name rc=$?") | tee -a $S; grep -E "FAILED|Failure|Expected|Which is|error:|worst" $OUT/$name.log | head -16 >> $S; }
gt kernels_test /tmp/b/src/kernels/cuda/kernels_cuda_test 'Paged*:Prefill*:Rope*:BatchOps*' 60
gt runner_test /tmp/b/src/runner/cuda/runner_cuda_test '-*Deterministic*' 90
gt serve_test /tmp/b/tests/server/server_cuda_test '*' 120
el "tests 1 done"
$MB make /tmp/q4.gguf q4_0 32 128256 > $OUT/make.log 2>&1
el "model made"
for p in 512 6000; do timeout 60 $B bench -m /tmp/q4.gguf --device cuda -p $p -n 128 2>>$OUT/bench.err | tee -a $S; done
el "bench done"
$B serve -m /tmp/q4.gguf --device cuda --port 18080 --ctx 8192 > $OUT/serve.log 2>&1 &
SP=$!
for i in $(seq 90); do curl -sf http://127.0.0.1:18080/health >/dev/null && break; sleep 1; done
el "serve up"
timeout 60 python3 scripts/stream_probe.py --url http://127.0.0.1:18080 --words 6000 --max-tokens 128 --repeat 2 | tee -a $S
timeout 30 python3 scripts/stream_probe.py --url http://127.0.0.1:18080 --words 500 --max-tokens 128 | tee -a $S
( for i in 1 2 3 4 5 6 7 8; do timeout 90 python3 scripts/stream_probe.py --url http://127.0.0.1:18080 --words 5000 --max-tokens 64 --shared-prefix 2000 --seed $((100 * i)) & done; wait ) | tee -a $S
curl -s http://127.0.0.1:18080/metrics | grep -iE "prefix|cached" | head -5 >> $S
kill $SP; wait $SP 2>/dev/null
el "serve done"
grep -iE "error|fail" $OUT/serve.log | head -5 >> $S
for kv in f32 f16; do timeout 60 $B perplexity -m $MODELS_DIR/gannet-default.gguf -f $MODELS_DIR/heldout.txt --device cuda --kv-type $kv 2>/dev/null | sed "s/^/cuda kv $kv /" | tee -a $S; done
for m in llama-f32 qwen3-f16 gemma3-f32; do
  toks=$(python3 -c "import json;print(','.join(map(str,json.load(open('tests/fixtures/models/${m%%-*}.tokens.json'))['tokens'])))")
  timeout 30 $B logits -m tests/fixtures/models/$m.gguf --tokens $toks --all --out /tmp/$m.bin --device cuda 2>>$OUT/logits.err
  python3 -c "import numpy as n;a=n.fromfile('/tmp/$m.bin','<f4');b=n.fromfile('tests/fixtures/models/$m.logits.f32','<f4');print('logits $m', a.size, b.size, float(n.linalg.norm(a-b)/n.linalg.norm(b)) if a.size==b.size else 'size mismatch')" | tee -a $S
done
el "ppl/logits done"
timeout 60 $B bench -m /tmp/q4.gguf --device cuda -p 6000 -n 128 --kv-type f16 2>>$OUT/bench.err | tee -a $S
timeout 40 $MB run /tmp/q4.gguf 6000 128 > $OUT/runner_bench.log 2>&1; tail -2 $OUT/runner_bench.log >> $S
el "f16/raw done"
gt model_test /tmp/b/src/model/cuda/model_cuda_test '*' 60
gt placement_test /tmp/b/src/model/cuda/model_cuda_placement_test '*' 60
gt det_test /tmp/b/src/runner/cuda/runner_cuda_test '*Deterministic*' 90
el "end"
