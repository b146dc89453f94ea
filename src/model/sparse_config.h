// Block-sparse attention settings (issue 17). SparseMode is what a run asks for: dense attention,
// Quest's training-free selection from per-block key min/max, or MSA's learned index branch
// (MiniMax-M3). SparseAttentionConfig is what a model file says about its index branch and the
// selection rule. Selection works on logical blocks of block_size tokens, independent of the KV
// cache's block size. Owner: model. Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace gannet::model {

// kDefault: the model's own (msa for a model with an index branch, else off).
enum class SparseMode : uint8_t { kDefault, kOff, kQuest, kMsa };

// "off", "quest", "msa" (and "default"); kInvalidArgument naming the accepted values otherwise.
Result<SparseMode> parse_sparse_mode(std::string_view name);
const char* sparse_mode_name(SparseMode mode);

struct SparseAttentionConfig {
    bool has_index = false;     // the file has an MSA index branch (minimax-m3)
    int64_t block_size = 128;   // tokens per selection block
    int64_t topk = 16;          // blocks chosen by score per (query, KV group)
    int64_t n_index_heads = 0;  // index-query heads (one per KV group in M3)
    int64_t index_dim = 0;      // index head size (q and the one shared k head)
    int64_t init_blocks = 0;    // blocks [0, init_blocks) always kept
    int64_t local_blocks = 1;   // the query's own block and the ones before it, always kept
    // true (transformers' reading): one selection per query, the max over every index head, shared
    // by all KV groups. false (the deployed kernels): index head g selects for KV group g.
    bool is_shared_selection = false;
    // true (vLLM, MiniMax-AI/MSA): the forced blocks take k slots, so k blocks in all.
    // false (transformers): top-k by score over every visible block, then the forced ones added.
    bool is_local_in_topk = true;
    std::vector<uint8_t> layers;  // [n_layers], 1 = sparse layer (has an index branch)

    bool is_sparse_layer(int64_t layer) const {
        return has_index && layer >= 0 && layer < static_cast<int64_t>(layers.size())
               && layers[static_cast<size_t>(layer)] != 0;
    }
    // Most block ids one (query, group) selection holds.
    int64_t max_selected() const { return topk + init_blocks + local_blocks; }
};

}  // namespace gannet::model
