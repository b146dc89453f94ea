// The attention half of a layer over the paged KV cache, without the model's projections: block
// selection (Quest or MSA, block_select.h) and exact softmax attention over every visible position
// or over the selected blocks only. Model::forward_batch runs both per layer; `gannet bench
// attention` runs them on random data. Scratch buffers are the caller's, so steady-state decode does
// not allocate. Owner: model. Thread-safety: one call at a time per scratch; work is spread over pool.
#pragma once

#include <cstdint>
#include <span>

#include "base/result.h"
#include "base/thread_pool.h"
#include "kvcache/kv_storage.h"
#include "model/model.h"
#include "model/model_config.h"

namespace gannet::model {

// q·k with eight partial sums combined in a fixed order: the compiler turns the lanes into one SIMD
// register, and the result depends only on the two vectors (never on the batch).
// Shared by the causal attention and the diffusion canvas attention (forward_canvas.cc).
inline float dot_f32(const float* a, const float* b, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t d = 0;
    for (; d + 8 <= n; d += 8) {
        for (int l = 0; l < 8; ++l) {
            acc[l] += a[d + l] * b[d + l];
        }
    }
    for (; d < n; ++d) {
        acc[0] += a[d] * b[d];
    }
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

struct SelectArgs {
    const ModelConfig* c = nullptr;
    std::span<const BatchSeq> seqs;
    const kvcache::KvStorage* kv = nullptr;
    const SparseMode* modes = nullptr;   // [seqs.size()], resolved (no kDefault)
    const int32_t* positions = nullptr;  // [n_tokens]
    const int32_t* seq_of = nullptr;     // [n_tokens] index into seqs
    const float* q = nullptr;            // [n_tokens, q_dim] main queries (quest)
    const float* idx_q = nullptr;        // [n_tokens, n_index_heads * index_dim] index queries (msa)
    int64_t n_tokens = 0;
    int32_t layer = 0;
    bool is_index_layer = false;  // the layer has an MSA index branch (its keys are in kv's side cache)
    int64_t block = 128;          // tokens per selection block
    int64_t quest_topk = 16;
    int64_t stride = 0;        // ids per (token, kv head) row of sel
    int32_t* sel = nullptr;    // out: [n_tokens, n_kv_heads, stride]
    int64_t max_blocks = 0;    // >= blocks visible to any token
    float* scores = nullptr;   // [n_tokens, select_score_rows(c), max_blocks]
    float* row = nullptr;      // [n_threads, max_blocks]
    int32_t* order = nullptr;  // [n_threads, max_blocks]
    float* minmax = nullptr;   // [n_threads, 2 * head_dim_k]
};

// Score rows per token that select_blocks_into needs: max(n_index_heads, n_kv_heads).
int64_t select_score_rows(const ModelConfig& c);

// Fills a.sel: per (token, kv head) the selected block ids (select_top_blocks' order), or
// kDenseSelection for a sequence attending densely (off, or msa on a layer without an index branch).
// Two passes over the pool: block scores in chunks of blocks (so one decode token spreads over every
// thread), then the exp-free top-k per (token, kv head).
void select_blocks_into(const SelectArgs& a, ThreadPool& pool);

struct AttentionArgs {
    const ModelConfig* c = nullptr;
    std::span<const BatchSeq> seqs;
    const kvcache::KvStorage* kv = nullptr;
    const int32_t* positions = nullptr;  // [n_tokens]
    const int32_t* seq_of = nullptr;     // [n_tokens]
    const float* q = nullptr;            // [n_tokens, q_dim]
    float* att = nullptr;                // out: [n_tokens, n_heads * head_dim_v]
    int64_t n_tokens = 0;
    int64_t max_kv = 0;  // >= pos + 1 of every token
    int32_t layer = 0;
    int64_t window = 0;            // 0: full causal
    const int32_t* sel = nullptr;  // [n_tokens, n_kv_heads, sel_stride] or nullptr: dense
    int64_t sel_stride = 1;
    int64_t sparse_block = 128;
    float* scores = nullptr;    // [n_threads, n_heads / n_kv_heads, max_kv]
    float* tiles = nullptr;     // [n_threads, kv block_size, head_dim]; unused for an f32 cache
    int64_t* ranges = nullptr;  // [n_threads, 2 * sel_stride]
    int32_t* sort = nullptr;    // [n_threads, sel_stride]
    // [n_tokens] each token's last visible key on this layer (fill_last_visible); null: its own position
    const int32_t* last_visible = nullptr;
};

// Exact softmax attention of every (token, query head) over its visible positions, or over its kv
// head's selected blocks when a.sel has a list for it (a list of every block gives the dense result
// bit for bit). transformer_block.cc.
void paged_attention(const AttentionArgs& a, ThreadPool& pool);

}  // namespace gannet::model
