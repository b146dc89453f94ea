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
#include "kernels/matmul.h"
#include "kvcache/kv_storage.h"
#include "model/model.h"
#include "model/model_config.h"

namespace gannet::model {

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

// Consecutive tokens of one sequence that walk the K/V tiles together (paged_attention's query
// block): each tile is fetched once per block and re-read from cache by the other tokens. 8 keeps a
// block's state (8 tokens x group x (head_dim_v + 2) floats) in L1/L2 next to the tile.
inline constexpr int64_t kAttentionQueryBlock = 8;

// Floats of AttentionArgs::scratch per pool thread: the online softmax state of a query block and
// a copy of its queries laid out like that state.
int64_t paged_attention_scratch_floats(const ModelConfig& c);

struct AttentionArgs {
    const ModelConfig* c = nullptr;
    std::span<const BatchSeq> seqs;
    const kvcache::KvStorage* kv = nullptr;
    const int32_t* positions = nullptr;  // [n_tokens]
    const int32_t* seq_of = nullptr;     // [n_tokens]; a sequence's tokens are consecutive
    const float* q = nullptr;            // [n_tokens, q_dim]
    float* att = nullptr;                // out: [n_tokens, n_heads * head_dim_v]
    int64_t n_tokens = 0;
    int32_t layer = 0;
    int64_t window = 0;            // 0: full causal
    const int32_t* sel = nullptr;  // [n_tokens, n_kv_heads, sel_stride] or nullptr: dense
    int64_t sel_stride = 1;
    int64_t sparse_block = 128;
    float* scratch = nullptr;   // [n_threads, paged_attention_scratch_floats(c)]
    int64_t* ranges = nullptr;  // [n_threads, kAttentionQueryBlock, 2 * sel_stride]
    int32_t* sort = nullptr;    // [n_threads, sel_stride]
    // [n_tokens] each token's last visible key on this layer (fill_last_visible); null: its own position
    const int32_t* last_visible = nullptr;
    kernels::Isa isa = kernels::Isa::kAuto;  // tests force each SIMD path (kernels::flash_isa)
};

// Exact softmax attention of every (token, query head) over its visible positions, or over its kv
// head's selected blocks when a.sel has a list for it (a list of every block gives the dense result
// bit for bit): tiled flash attention (kernels/attention_cpu.h) over the paged tiles, read in the
// cache's type. A (token, head) result depends only on its query and its own sequence's rows,
// folded in ascending tile order: never on the batch, the query blocks, the chunking of a prompt or
// the thread count. Threads take (query block, kv head, run of heads) items. transformer_block.cc.
// REQUIRES: the buffers hold the sizes above; isa is supported by this CPU.
void paged_attention(const AttentionArgs& a, ThreadPool& pool);

}  // namespace gannet::model
