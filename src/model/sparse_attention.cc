// Block-sparse attention of the one CPU forward (issue 17): the per-sequence mode, MSA's index
// branch (index keys projected, normed, roped and written to the cache's side array for every token
// of a sparse layer, whatever the mode, so a later sparse step can score them) and the block lists
// that attend_heads (transformer_block.cc) walks instead of every position.
#include <algorithm>
#include <cstring>
#include <limits>

#include "kernels/ops/rms_norm.h"
#include "kernels/ops/rope.h"
#include "model/block_select.h"
#include "model/model.h"

namespace gannet::model {
namespace {

template <typename T>
void grow(std::vector<T>& v, int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) {
        v.resize(static_cast<size_t>(n));
    }
}

// What the selection threads read (one pointer captured, so the pool's function does not allocate).
struct SelectJob {
    const ModelConfig* c;
    std::span<const BatchSeq> seqs;
    const kvcache::KvStorage* kv;
    const SparseMode* modes;  // [n_seqs], resolved
    const int32_t* positions;
    const int32_t* seq_of;
    const float* q;      // [n_tokens, q_dim] main queries (quest)
    const float* idx_q;  // [n_tokens, n_index_heads * index_dim] (msa)
    int32_t* sel;
    float* bscores;
    int32_t* bscratch;
    float* minmax;
    int64_t stride;
    int64_t max_blocks;
    int64_t block;
    int64_t quest_topk;
    int64_t n_tokens;
    int32_t layer;
    bool is_index_layer;
    int n_threads;
};

void select_token(const SelectJob& j, int64_t t, float* scores, int32_t* scratch, float* minmax) {
    const ModelConfig& c = *j.c;
    const SparseAttentionConfig& sp = c.sparse;
    const int32_t si = j.seq_of[t];
    const BatchSeq& s = j.seqs[static_cast<size_t>(si)];
    const SparseMode mode = j.modes[si];
    const int64_t pos = j.positions[t];
    const auto own = static_cast<int32_t>(pos / j.block);
    const int64_t n_keys = s.pos + static_cast<int64_t>(s.tokens.size());  // keys written by this step
    const int64_t group = c.n_heads / c.n_kv_heads;
    const bool is_msa = mode == SparseMode::kMsa && j.is_index_layer;
    const SelectRule rule = is_msa ? msa_rule(sp) : quest_rule(j.quest_topk);
    for (int32_t g = 0; g < c.n_kv_heads; ++g) {
        const std::span<int32_t> ids(j.sel + (t * c.n_kv_heads + g) * j.stride, static_cast<size_t>(j.stride));
        if (mode == SparseMode::kOff || (mode == SparseMode::kMsa && !j.is_index_layer)) {
            ids[0] = kDenseSelection;
            continue;
        }
        if (own + 1 <= rule.topk) {  // no more visible blocks than the rule keeps: all of them
            std::fill(ids.begin(), ids.end(), -1);
            for (int32_t b = 0; b <= own; ++b) {
                ids[static_cast<size_t>(b)] = b;
            }
            continue;
        }
        if (is_msa && sp.is_shared_selection && g > 0) {  // one selection for every group
            std::copy_n(ids.data() - j.stride, j.stride, ids.data());
            continue;
        }
        if (is_msa) {
            const IndexKeyRows keys{.kv = j.kv,
                                    .table = s.block_table,
                                    .layer = j.layer,
                                    .kv_block_size = j.kv->layout().block_size,
                                    .dim = sp.index_dim};
            const int64_t h0 = sp.is_shared_selection ? 0 : g;
            const int64_t nh = sp.is_shared_selection ? sp.n_index_heads : 1;
            msa_block_scores(j.idx_q + (t * sp.n_index_heads + h0) * sp.index_dim, nh, keys, j.block, n_keys, own + 1,
                             scores);
        } else {
            quest_block_scores(j.q + t * c.q_dim() + g * group * c.head_dim_k, group, *j.kv, s.block_table, j.layer, g,
                               j.block, own, minmax, scores);
            scores[own] = std::numeric_limits<float>::infinity();  // forced in any case
        }
        select_top_blocks(scores, own, rule, scratch, ids);
    }
}

}  // namespace

Result<SparseMode> parse_sparse_mode(std::string_view name) {
    if (name == "off") {
        return SparseMode::kOff;
    }
    if (name == "quest") {
        return SparseMode::kQuest;
    }
    if (name == "msa") {
        return SparseMode::kMsa;
    }
    if (name == "default") {
        return SparseMode::kDefault;
    }
    return make_error(ErrorCode::kInvalidArgument, "sparse attention: '%.*s' is not a mode (off, quest, msa)",
                      static_cast<int>(name.size()), name.data());
}

const char* sparse_mode_name(SparseMode mode) {
    switch (mode) {
        case SparseMode::kDefault: return "default";
        case SparseMode::kOff: return "off";
        case SparseMode::kQuest: return "quest";
        case SparseMode::kMsa: return "msa";
    }
    return "?";
}

void Model::init_sparse() {
    sparse_mode_ = default_sparse_mode();
    const SparseAttentionConfig& sp = cfg_.sparse;
    sparse_block_ = sp.has_index ? sp.block_size : 128;
    quest_topk_ = sp.has_index ? sp.topk : 16;
    sel_stride_ = std::max(quest_rule(quest_topk_).max_selected(), sp.has_index ? sp.max_selected() : 0);
}

Status Model::check_sparse_mode(SparseMode mode) const {
    if (mode == SparseMode::kMsa && !cfg_.sparse.has_index) {
        return make_error(ErrorCode::kInvalidArgument,
                          "sparse attention: msa needs a model with an MSA index branch (minimax-m3), and this %s "
                          "model has none; use quest (training-free block selection) or off",
                          cfg_.arch_name.c_str());
    }
    return Status();
}

Status Model::set_sparse_mode(SparseMode mode) {
    GANNET_RETURN_IF_ERROR(check_sparse_mode(mode));
    sparse_mode_ = mode == SparseMode::kDefault ? default_sparse_mode() : mode;
    return Status();
}

Result<const int32_t*> Model::select_blocks(int64_t layer, std::span<const BatchSeq> seqs, kvcache::KvStorage& kv,
                                            int64_t n_tokens, int64_t max_kv, ThreadPool& pool) {
    const ModelConfig& c = cfg_;
    const SparseAttentionConfig& sp = c.sparse;
    const int n_threads = pool.n_threads();
    grow(b_ranges_, static_cast<int64_t>(n_threads) * 2 * sel_stride_);
    grow(b_sort_, static_cast<int64_t>(n_threads) * sel_stride_);
    const bool is_index_layer = sp.is_sparse_layer(layer);
    const LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
    const kvcache::KvCacheLayout& lay = kv.layout();
    const auto li = static_cast<int32_t>(layer);
    grow(b_modes_, static_cast<int64_t>(seqs.size()));
    SparseMode* modes = b_modes_.data();
    bool any_sparse = false;
    bool any_msa = false;
    for (size_t i = 0; i < seqs.size(); ++i) {
        modes[i] = resolve(seqs[i].sparse);
        GANNET_RETURN_IF_ERROR(check_sparse_mode(modes[i]));
        any_sparse |= modes[i] == SparseMode::kQuest || (modes[i] == SparseMode::kMsa && is_index_layer);
        any_msa |= modes[i] == SparseMode::kMsa && is_index_layer;
        if (modes[i] == SparseMode::kQuest
            && (sparse_block_ % lay.block_size != 0 || lay.key_summary != kvcache::KeySummaryKind::kMinMax)) {
            return make_error(ErrorCode::kInvalidArgument,
                              "sparse attention: quest needs min/max key summaries and a selection block (%lld "
                              "tokens) that is a multiple of the KV block size (%d)",
                              static_cast<long long>(sparse_block_), lay.block_size);
        }
    }
    if (is_index_layer) {  // the index keys are cached for every token, dense or not
        if (lay.index_dim != sp.index_dim) {
            return make_error(ErrorCode::kInvalidArgument,
                              "model: the kv cache keeps index keys of %d floats, the model's index branch has %lld",
                              lay.index_dim, static_cast<long long>(sp.index_dim));
        }
        const int64_t d = sp.index_dim;
        const kernels::RopeArgs rope{.x = nullptr,
                                     .positions = b_positions_.data(),
                                     .n_tokens = n_tokens,
                                     .n_heads = 1,
                                     .head_dim = d,
                                     .n_rot = std::min(c.n_rot, d),
                                     .freq_base = c.rope_freq_base,
                                     .freq_scale = c.rope_freq_scale,
                                     .freq_factors = nullptr,
                                     .style = c.rope_style};
        grow(b_idx_k_, n_tokens * d);
        GANNET_RETURN_IF_ERROR(project(w.index_k, xb_.data(), b_idx_k_.data(), n_tokens, pool));
        kernels::rms_norm(b_idx_k_.data(), w.index_k_norm.data(), b_idx_k_.data(), n_tokens, d, c.norm_eps);
        kernels::RopeArgs rk = rope;
        rk.x = b_idx_k_.data();
        kernels::rope(rk);
        for (int64_t t = 0; t < n_tokens; ++t) {
            const BatchSeq& s = seqs[static_cast<size_t>(b_seq_[static_cast<size_t>(t)])];
            const int32_t pos = b_positions_[static_cast<size_t>(t)];
            float* dst = kv.index_k(s.block_table[static_cast<size_t>(pos / lay.block_size)], li)
                         + static_cast<int64_t>(pos % lay.block_size) * d;
            std::memcpy(dst, b_idx_k_.data() + t * d, static_cast<size_t>(d) * sizeof(float));
        }
        if (any_msa) {
            const int64_t qd = sp.n_index_heads * d;
            grow(b_idx_q_, n_tokens * qd);
            GANNET_RETURN_IF_ERROR(project(w.index_q, xb_.data(), b_idx_q_.data(), n_tokens, pool));
            kernels::rms_norm(b_idx_q_.data(), w.index_q_norm.data(), b_idx_q_.data(), n_tokens * sp.n_index_heads, d,
                              c.norm_eps);
            kernels::RopeArgs rq = rope;
            rq.x = b_idx_q_.data();
            rq.n_heads = sp.n_index_heads;
            kernels::rope(rq);
        }
    }
    if (!any_sparse) {
        return static_cast<const int32_t*>(nullptr);
    }
    const int64_t max_blocks = (max_kv + sparse_block_ - 1) / sparse_block_;
    grow(b_sel_, n_tokens * c.n_kv_heads * sel_stride_);
    grow(b_bscores_, static_cast<int64_t>(n_threads) * max_blocks);
    grow(b_bscratch_, static_cast<int64_t>(n_threads) * max_blocks);
    grow(b_minmax_, static_cast<int64_t>(n_threads) * 2 * c.head_dim_k);
    const SelectJob job{.c = &c,
                        .seqs = seqs,
                        .kv = &kv,
                        .modes = modes,
                        .positions = b_positions_.data(),
                        .seq_of = b_seq_.data(),
                        .q = q_.data(),
                        .idx_q = b_idx_q_.data(),
                        .sel = b_sel_.data(),
                        .bscores = b_bscores_.data(),
                        .bscratch = b_bscratch_.data(),
                        .minmax = b_minmax_.data(),
                        .stride = sel_stride_,
                        .max_blocks = max_blocks,
                        .block = sparse_block_,
                        .quest_topk = quest_topk_,
                        .n_tokens = n_tokens,
                        .layer = li,
                        .is_index_layer = is_index_layer,
                        .n_threads = n_threads};
    pool.run([j = &job](int thread) {
        const int64_t begin = j->n_tokens * thread / j->n_threads;
        const int64_t end = j->n_tokens * (thread + 1) / j->n_threads;
        for (int64_t t = begin; t < end; ++t) {
            select_token(*j, t, j->bscores + thread * j->max_blocks, j->bscratch + thread * j->max_blocks,
                         j->minmax + thread * 2 * j->c->head_dim_k);
        }
    });
    if (selection_hook_) {
        selection_hook_(SelectionView{.layer = layer,
                                      .n_tokens = n_tokens,
                                      .n_kv_heads = c.n_kv_heads,
                                      .stride = sel_stride_,
                                      .ids = b_sel_.data(),
                                      .positions = b_positions_.data(),
                                      .seq_of = b_seq_.data()});
    }
    return static_cast<const int32_t*>(b_sel_.data());
}

}  // namespace gannet::model
