// Kernels of the batched forward over the paged KV cache (CudaModel::forward_batch, used by the
// CUDA runner): storing a step's K/V rows into their blocks and gathering rows; and
// batch_paged_attention, the simple f32 reference attention of every token through its sequence's
// block table (one CTA per (token, head)) that the tests check the fast kernels' paths against.
// Each token's attention runs in one CTA over its own sequence's keys in a fixed order, so a row's
// result never depends on which other sequences share the step (batch invariance).
// The cache is f32 laid out as kvcache/kv_layout.h says. Owner: CUDA backend.
// Thread-safety: pure (stream-ordered).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/status.h"
#include "kvcache/kv_layout.h"

namespace gannet::kernels::cuda {

// Where the step's tokens go: per-token sequence index and position, and the sequences' block tables.
struct PagedStepArgs {
    void* kv = nullptr;             // layout.total_bytes() bytes, device
    kvcache::KvCacheLayout layout;  // dtype kF32 (paged_store_kv: also kF16, kBF16)
    int32_t layer = 0;
    const int32_t* token_seq = nullptr;     // [n_tokens], device: index into the block tables
    const int32_t* positions = nullptr;     // [n_tokens], device
    const int32_t* block_tables = nullptr;  // [n_seqs, max_blocks], device
    int32_t max_blocks = 0;
    int32_t n_tokens = 0;
};

// K rows [n_tokens, n_kv_heads * head_dim] and V rows (same shape) into their slots of `layer`.
// An f16 / bf16 cache gets the values rounded to nearest. kInvalidArgument for bad sizes or null
// pointers; kUnimplemented for a quantized cache.
// REQUIRES (device data, unchecked): every position and block id in range of its table and cache.
Status paged_store_kv(const PagedStepArgs& a, const float* k, const float* v, cudaStream_t stream);

struct BatchAttentionArgs {
    const float* q = nullptr;  // [n_tokens, n_heads, head_dim], device
    float* out = nullptr;      // [n_tokens, n_heads, head_dim], device
    int32_t n_heads = 0;       // a multiple of layout.n_kv_heads
    float scale = 1.0f;        // multiplies q·k
    float softcap = 0.0f;      // > 0: score = softcap * tanh(score / softcap)
    int32_t window = 0;        // > 0: a token at p sees keys (p - window, p]
};

// Token t (position p) attends to keys [0 or p - window + 1, p] of its sequence, read through the
// block table: causal inside a prefill chunk and over the cached prefix. head_dim <= 256.
// kInvalidArgument for bad sizes or null pointers; kUnimplemented for a non-f32 cache.
Status batch_paged_attention(const PagedStepArgs& p, const BatchAttentionArgs& a, cudaStream_t stream);

// dst[r, :] = src[rows[r], :] for r < n_rows; rows on the device.
Status gather_rows(const float* src, const int32_t* rows, float* dst, int64_t n_rows, int64_t dim, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
