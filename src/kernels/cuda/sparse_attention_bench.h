// `gannet bench attention --device cuda`: one layer's MSA block-sparse attention (index scores,
// top-k, attention over the selected blocks of the paged cache) against our dense kernels on the same
// random data: paged_attention.cu for the decode step, the flash prefill (prefill_attention.cu) for
// the prefill. Prefills are timed on sample_points x sample_queries query tokens and scaled by a
// linear fit against position, as on the CPU. Owner: CUDA backend. Thread-safety: one call at a time.
#pragma once

#include <cstdint>

#include "base/result.h"

namespace gannet::kernels::cuda {

struct SparseBenchOptions {
    int64_t ctx = 32768;
    bool is_sparse = true;  // false: dense only (--sparse off)
    int64_t n_heads = 32;
    int64_t n_kv_heads = 8;
    int64_t head_dim = 128;
    int64_t block = 128;
    int64_t topk = 16;
    int64_t index_dim = 128;
    int64_t sample_points = 4;
    int64_t sample_queries = 1024;
    int64_t decode_reps = 20;
};

struct SparseBenchResult {
    double prefill_ms = 0.0;
    double decode_ms = 0.0;
    double dense_prefill_ms = 0.0;
    double dense_decode_ms = 0.0;
    double decode_select_ms = 0.0;
    bool is_prefill_sampled = false;
    int64_t prefill_queries_run = 0;
};

// kInvalidArgument for sizes out of range; kResourceExhausted when device memory runs out; kInternal
// for a failed launch.
Result<SparseBenchResult> bench_sparse_attention(const SparseBenchOptions& o);

}  // namespace gannet::kernels::cuda
