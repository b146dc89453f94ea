// `gannet bench attention`: times one layer's attention over the paged KV cache with a
// Llama-3-8B-like head layout (32 query heads, 8 KV heads, head dim 128) on random data: a prefill
// over ctx tokens and one decode step at position ctx - 1, for a sparse mode (msa: per-group index
// heads of 128 dims, top-16 of 128-token blocks; quest: per-block key min/max) and for dense
// attention. Sparse times include the selection (MSA's index scores over every visible key).
// Long prefills on the CPU are estimated from a sample of query positions (prefill_sampled).
// --kv-type stores the cache in f16/bf16/q8_0/q4_0 (random floats rounded to the type).
// Owner: model. Thread-safety: runs on the caller's pool.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "base/thread_pool.h"
#include "model/sparse_config.h"
#include "tensor/dtype.h"

namespace gannet::model {

struct AttentionBenchOptions {
    int64_t ctx = 32768;
    SparseMode mode = SparseMode::kMsa;  // kOff times dense only
    int64_t n_heads = 32;
    int64_t n_kv_heads = 8;
    int64_t head_dim = 128;
    tensor::DType kv_type = tensor::DType::kF32;  // the cache's type: f32, f16, bf16, q8_0 or q4_0
    int64_t block = 128;                          // selection block = KV block
    int64_t topk = 16;
    // Prefills up to this many tokens run every query; longer ones run sample_queries queries at
    // each of sample_points positions spread over [0, ctx) and scale a linear fit of the time per
    // query against its position to the whole prefill.
    int64_t exact_prefill_max = 2048;
    int64_t sample_points = 4;
    int64_t sample_queries = 32;
    int64_t decode_reps = 5;  // the decode time is the median of these
    uint64_t seed = 1;
};

struct AttentionBenchResult {
    double prefill_ms = 0.0;
    double decode_ms = 0.0;
    double dense_prefill_ms = 0.0;
    double dense_decode_ms = 0.0;
    double decode_select_ms = 0.0;  // of decode_ms: the selection
    bool is_prefill_sampled = false;
    int64_t prefill_queries_run = 0;  // queries actually computed per mode
    double decode_keys_per_head = 0;  // positions a decode query head attends to (sparse)
};

// kInvalidArgument for sizes out of range (ctx < 1, heads not dividing, ...) or mode kDefault;
// kResourceExhausted when the cache does not fit in memory.
Result<AttentionBenchResult> bench_attention(const AttentionBenchOptions& o, ThreadPool& pool);

// One JSON line: ctx, mode, prefill_ms, decode_ms, dense_prefill_ms, dense_decode_ms, the speedups,
// prefill_sampled, ... and `device`.
std::string attention_bench_json(const AttentionBenchOptions& o, const AttentionBenchResult& r,
                                 const std::string& device);

}  // namespace gannet::model
