// Block selection for block-sparse attention (issue 17): which logical blocks of block_size tokens a
// query attends to. Scores are raw (exp-free): Quest's upper bound of q.k from per-block key min/max,
// or MSA's index branch, the max over a block's tokens of idx_q . idx_k. Top-k keeps the highest
// scores with partial sorting, never a softmax; the query's own block is always kept and listed last.
// Owner: model. Thread-safety: pure functions over caller-owned buffers.
#pragma once

#include <cstdint>
#include <span>

#include "kvcache/kv_storage.h"
#include "model/sparse_config.h"

namespace gannet::model {

// First id of a (token, kv head) selection row that attends to every visible position (dense).
inline constexpr int32_t kDenseSelection = -2;

struct SelectRule {
    int64_t topk = 16;
    int64_t init_blocks = 0;
    int64_t local_blocks = 1;
    bool is_local_in_topk = true;  // see SparseAttentionConfig
    int64_t max_selected() const { return topk + init_blocks + local_blocks; }
};

SelectRule msa_rule(const SparseAttentionConfig& s);
SelectRule quest_rule(int64_t topk);

// Picks blocks for a query in block `own` from scores[0..own] (scores[own] is used only when the
// forced blocks do not take top-k slots). Writes the chosen ids to out: the blocks chosen by score in
// descending score order (ties: lower id first), then the forced init blocks, then the local blocks
// with `own` last; -1 fills the rest of out. Returns the number of valid ids. Every visible block is
// kept when there are no more of them than the rule keeps. scratch holds own + 1 ints.
// REQUIRES: out.size() >= rule.max_selected().
int32_t select_top_blocks(const float* scores, int32_t own, const SelectRule& rule, int32_t* scratch,
                          std::span<int32_t> out);

// The per-token index keys of one sequence and layer in the paged side cache.
struct IndexKeyRows {
    const kvcache::KvStorage* kv;
    std::span<const kvcache::BlockId> table;
    int32_t layer;
    int32_t kv_block_size;
    int64_t dim;
    const float* row(int64_t pos) const {
        return kv->index_k(table[static_cast<size_t>(pos / kv_block_size)], layer) + (pos % kv_block_size) * dim;
    }
};

// MSA: for each index-query head h < n_q (q [n_q, dim]) and block b in [b0, b1):
// out[h * out_stride + b - b0] = max over key positions p of block b with p < n_keys of q_h . k_p
// (-inf for a block with no keys). One pass over the keys serves every head.
void msa_block_scores(const float* q, int64_t n_q, const IndexKeyRows& keys, int64_t block_size, int64_t n_keys,
                      int64_t b0, int64_t b1, float* out, int64_t out_stride);

// Quest: out[b - b0] for complete blocks b in [b0, b1) = sum over the n_q query heads q
// [n_q, head_dim] of sum_d max(q_d * min_d, q_d * max_d), with min/max combined over the KV blocks
// the logical block spans (KeySummaries of kv head `head`). minmax: scratch of 2 * head_dim floats.
// REQUIRES: block_size is a multiple of the cache's block size; the summaries are kMinMax.
void quest_block_scores(const float* q, int64_t n_q, const kvcache::KvStorage& kv,
                        std::span<const kvcache::BlockId> table, int32_t layer, int32_t head, int64_t block_size,
                        int64_t b0, int64_t b1, float* minmax, float* out);

// A selection as ascending token ranges [lo, hi) clipped to [0, pos]: what the attention loop
// walks. ids: as select_top_blocks writes them (-1 ignored). Returns the number of ranges.
// ranges holds 2 * ids.size() entries (lo, hi pairs); sort_scratch ids.size() ints.
int32_t selection_ranges(std::span<const int32_t> ids, int64_t block_size, int64_t pos, int32_t* sort_scratch,
                         int64_t* ranges);

}  // namespace gannet::model
