// Block-sparse attention on the GPU (issue 17): MSA's index scores (max over each 128-token block of
// idx_q . idx_k, per index head), the exp-free top-k per (query, KV group) with the query's own
// block forced in and last, and exact attention of each (query, head) over its selected blocks of
// the paged cache (one CTA per selected block, partial softmax states merged by a second kernel).
// f32 caches whose block size is the selection block. Owner: CUDA backend. Thread-safety: pure
// (stream-ordered).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "base/status.h"
#include "kvcache/kv_layout.h"

namespace gannet::kernels::cuda {

struct MsaScoreArgs {
    const float* idx_q = nullptr;        // [n_q, n_index_heads, index_dim], device
    const float* idx_k = nullptr;        // [n_keys, index_dim], device (one sequence's index keys, by position)
    const int32_t* positions = nullptr;  // [n_q], device: a query sees keys 0..positions[t]'s block end
    int32_t n_q = 0;                     // <= 65535
    int32_t n_index_heads = 0;           // <= 16
    int32_t index_dim = 0;               // <= 128
    int32_t n_keys = 0;                  // keys written (a block's score uses keys < n_keys)
    int32_t block = 128;
    int32_t max_blocks = 0;  // row length of out
    float* out = nullptr;    // [n_q, n_index_heads, max_blocks], device; -inf past a query's blocks
};
Status msa_block_scores(const MsaScoreArgs& a, cudaStream_t stream);

struct TopBlocksArgs {
    const float* scores = nullptr;       // [n_q, n_rows, max_blocks], device; row g selects for KV group g
    const int32_t* positions = nullptr;  // [n_q], device
    int32_t n_q = 0;
    int32_t n_rows = 0;  // = n_kv_heads
    int32_t max_blocks = 0;
    int32_t block = 128;
    int32_t topk = 16;       // blocks kept, the own block included
    int32_t stride = 0;      // >= topk
    int32_t* ids = nullptr;  // [n_q, n_rows, stride], device: by score, own block last, -1 after
};
Status top_blocks(const TopBlocksArgs& a, cudaStream_t stream);

struct SparseAttentionArgs {
    const float* q = nullptr;  // [n_q, n_heads, head_dim], device
    const void* kv = nullptr;  // the cache, device (f32, block_size == the selection block)
    kvcache::KvCacheLayout layout;
    int32_t layer = 0;
    const int32_t* block_table = nullptr;  // [max_blocks], device: logical block -> cache block (one sequence)
    const int32_t* positions = nullptr;    // [n_q], device
    const int32_t* ids = nullptr;          // [n_q, n_kv_heads, stride], device (top_blocks' output)
    int32_t stride = 0;
    int32_t n_q = 0;
    int32_t n_heads = 0;
    float scale = 1.0f;
    float* out = nullptr;      // [n_q, n_heads, head_dim], device
    float* scratch = nullptr;  // [n_q, n_heads, stride, head_dim + 2], device
    size_t scratch_floats = 0;
};
size_t sparse_attention_scratch_floats(const SparseAttentionArgs& a);
Status sparse_attention(const SparseAttentionArgs& a, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
