// Decode attention over the paged KV cache on the GPU: one query token per sequence against all of
// its cached tokens, found through the sequence's block table (kvcache/kv_layout.h gives the layout).
// Split-KV: each sequence's tokens are cut into splits that run as separate CTAs and are merged by a
// second kernel, so a single long sequence still fills the GPU. GQA: query head h reads KV head
// h / (n_heads / n_kv_heads). Owner: CUDA backend. Thread-safety: pure (stream-ordered).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "base/status.h"
#include "kvcache/kv_layout.h"

namespace gannet::kernels::cuda {

struct PagedAttentionArgs {
    const float* q = nullptr;       // [n_seqs, n_heads, head_dim], device
    const void* kv = nullptr;       // the whole cache, layout.total_bytes() bytes, device
    kvcache::KvCacheLayout layout;  // dtype kF32, kF16 or kBF16; head_dim <= 256
    int32_t layer = 0;
    const int32_t* block_tables = nullptr;  // [n_seqs, max_blocks_per_seq], device
    int32_t max_blocks_per_seq = 0;
    const int32_t* seq_lens = nullptr;  // [n_seqs], device: cached tokens of each sequence, the query's included
    int32_t n_seqs = 0;
    int32_t n_heads = 0;       // query heads; a multiple of layout.n_kv_heads
    float scale = 1.0f;        // multiplies q·k, usually 1/sqrt(head_dim)
    float* out = nullptr;      // [n_seqs, n_heads, head_dim], device
    float* scratch = nullptr;  // device, paged_attention_scratch_floats(*this) floats
    size_t scratch_floats = 0;
};

// Cached tokens one split covers (rounded to whole blocks): 256 keeps a 4-warp CTA busy for 64
// tokens per warp while an 8k-token sequence still gives 32 CTAs per head.
inline constexpr int32_t kPagedAttentionSplitTokens = 256;

int32_t paged_attention_n_splits(const PagedAttentionArgs& a);
// Floats of scratch: (head_dim + 2) per (seq, head, split): the unnormalized partial output, its max and sum.
size_t paged_attention_scratch_floats(const PagedAttentionArgs& a);

// kInvalidArgument for inconsistent sizes, head_dim > 256, too little scratch or null pointers.
// REQUIRES (device data, unchecked): seq_lens[s] <= max_blocks_per_seq * block_size and every block id in
// the first ceil(seq_lens[s] / block_size) entries of the table < layout.n_blocks.
Status paged_attention(const PagedAttentionArgs& a, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
