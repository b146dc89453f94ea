// Split-KV attention over the paged KV cache on the GPU, for queries that each see their own
// sequence's cached keys through its block table (kvcache/kv_layout.h gives the layout): the decode
// step of the CUDA runner, and every query of a step in deterministic mode. Query i is the step's
// token rows[i] (or i): its q row, its position p (keys [lo, p], lo = p - window + 1 or 0) and its
// block-table row token_seq[t] (or t). Keys are cut into splits of a FIXED kPagedAttentionSplitTokens
// positions that run as separate CTAs and are merged by a second kernel, so a single long sequence
// fills the GPU, and a query's result depends only on its own keys and position: never on the batch
// it is in (the runner's --deterministic rests on this). GQA: query head h reads KV head
// h / (n_heads / n_kv_heads). Owner: CUDA backend. Thread-safety: pure (stream-ordered).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "base/status.h"
#include "kvcache/kv_layout.h"

namespace gannet::kernels::cuda {

struct PagedAttentionArgs {
    const float* q = nullptr;       // [n_tokens, n_heads, head_dim], device (rows named by `rows`)
    const void* kv = nullptr;       // the whole cache, layout.total_bytes() bytes, device
    kvcache::KvCacheLayout layout;  // dtype kF32, kF16 or kBF16; head_dim <= 256 and a multiple of 4
    int32_t layer = 0;
    const int32_t* block_tables = nullptr;  // [n_tables, max_blocks_per_seq], device
    int32_t max_blocks_per_seq = 0;         // also bounds every position: p < max_blocks_per_seq * block_size
    const int32_t* rows = nullptr;          // [n_queries] token index of each query; nullptr: i
    const int32_t* token_seq = nullptr;     // [n_tokens] table row of each token; nullptr: the token index
    const int32_t* positions = nullptr;     // [n_tokens] position of each token, device
    int32_t n_queries = 0;
    int32_t n_heads = 0;       // query heads; a multiple of layout.n_kv_heads
    float scale = 1.0f;        // multiplies q·k, usually 1/sqrt(head_dim)
    float softcap = 0.0f;      // > 0: score = softcap * tanh(score / softcap)
    int32_t window = 0;        // > 0: a query at p sees keys (p - window, p]
    float* out = nullptr;      // [n_tokens, n_heads, head_dim], device (rows named by `rows`)
    float* scratch = nullptr;  // device, paged_attention_scratch_floats(*this) floats
    size_t scratch_floats = 0;
};

// Positions one split covers: fixed (not derived from the batch or the sequence length), so the
// reduction order of a query never changes. 64 keeps one 8k-token sequence at 128 CTAs per head.
inline constexpr int32_t kPagedAttentionSplitTokens = 64;

int32_t paged_attention_n_splits(const PagedAttentionArgs& a);
// Floats of scratch: (head_dim + 2) per (query, head, split): the unnormalized partial output, its max and sum.
size_t paged_attention_scratch_floats(const PagedAttentionArgs& a);

// kInvalidArgument for inconsistent sizes, head_dim > 256 or not a multiple of 4, too little scratch
// or null pointers; kUnimplemented for a quantized cache.
// REQUIRES (device data, unchecked): every position < max_blocks_per_seq * block_size and every
// block id the query's keys need < the blocks the cache holds.
Status paged_attention(const PagedAttentionArgs& a, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
