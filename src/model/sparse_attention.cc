// Block-sparse attention of the one CPU forward (issue 17): the per-sequence mode, MSA's index
// branch (index keys projected, normed, roped and written to the cache's side array for every token
// of a sparse layer, whatever the mode, so a later sparse step can score them) and the block lists
// that attend_heads (transformer_block.cc) walks instead of every position.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/ops/rms_norm.h"
#include "kernels/ops/rope.h"
#include "model/block_select.h"
#include "model/model.h"
#include "model/paged_attention.h"

namespace gannet::model {
namespace {

template <typename T>
void grow(std::vector<T>& v, int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) {
        v.resize(static_cast<size_t>(n));
    }
}

constexpr int64_t kScoreChunk = 64;  // blocks per scoring work item

bool is_sparse_here(SparseMode mode, bool is_index_layer) {
    return mode == SparseMode::kQuest || (mode == SparseMode::kMsa && is_index_layer);
}

int64_t visible_blocks(const SelectArgs& a, int64_t t) {
    return a.positions[t] / a.block + 1;
}

// Pass 1: block scores of blocks [c * kScoreChunk, ...) for token t, every score row at once.
void score_chunk(const SelectArgs& a, int64_t t, int64_t chunk, float* minmax) {
    const ModelConfig& c = *a.c;
    const SparseAttentionConfig& sp = c.sparse;
    const int32_t si = a.seq_of[t];
    const BatchSeq& s = a.seqs[static_cast<size_t>(si)];
    const SparseMode mode = a.modes[si];
    const int64_t n_vis = visible_blocks(a, t);
    const int64_t b0 = chunk * kScoreChunk;
    const int64_t b1 = std::min(n_vis, b0 + kScoreChunk);
    const int64_t topk = mode == SparseMode::kMsa ? sp.topk : a.quest_topk;
    if (!is_sparse_here(mode, a.is_index_layer) || n_vis <= topk || b0 >= b1) {
        return;  // dense, or every block is kept: no scores needed
    }
    const int64_t rows = select_score_rows(c);
    float* out = a.scores + t * rows * a.max_blocks;
    if (mode == SparseMode::kMsa) {
        const IndexKeyRows keys{.kv = a.kv,
                                .table = s.block_table,
                                .layer = a.layer,
                                .kv_block_size = a.kv->layout().block_size,
                                .dim = sp.index_dim};
        const int64_t n_keys = s.pos + static_cast<int64_t>(s.tokens.size());  // keys written by this step
        msa_block_scores(a.idx_q + t * sp.n_index_heads * sp.index_dim, sp.n_index_heads, keys, a.block, n_keys, b0, b1,
                         out + b0, a.max_blocks);
        return;
    }
    // Quest scores only complete blocks; the query's own block is forced in.
    const int64_t own = n_vis - 1;
    const int64_t group = c.n_heads / c.n_kv_heads;
    for (int32_t g = 0; g < c.n_kv_heads; ++g) {
        const int64_t e = std::min(b1, own);
        if (b0 < e) {
            quest_block_scores(a.q + t * c.q_dim() + g * group * c.head_dim_k, group, *a.kv, s.block_table, a.layer, g,
                               a.block, b0, e, minmax, out + g * a.max_blocks + b0);
        }
    }
}

// Pass 2: the block list of (token t, kv head g).
void select_pair(const SelectArgs& a, int64_t t, int32_t g, float* row, int32_t* order) {
    const ModelConfig& c = *a.c;
    const SparseAttentionConfig& sp = c.sparse;
    const int32_t si = a.seq_of[t];
    const SparseMode mode = a.modes[si];
    const std::span<int32_t> ids(a.sel + (t * c.n_kv_heads + g) * a.stride, static_cast<size_t>(a.stride));
    if (!is_sparse_here(mode, a.is_index_layer)) {
        ids[0] = kDenseSelection;
        return;
    }
    const bool is_msa = mode == SparseMode::kMsa;
    const SelectRule rule = is_msa ? msa_rule(sp) : quest_rule(a.quest_topk);
    const int64_t n_vis = visible_blocks(a, t);
    const auto own = static_cast<int32_t>(n_vis - 1);
    if (n_vis <= rule.topk) {  // no more visible blocks than the rule keeps: all of them
        std::fill(ids.begin(), ids.end(), -1);
        for (int32_t b = 0; b <= own; ++b) {
            ids[static_cast<size_t>(b)] = b;
        }
        return;
    }
    const float* scores = a.scores + t * select_score_rows(c) * a.max_blocks;
    if (is_msa && sp.is_shared_selection) {  // max over every index head
        std::copy_n(scores, n_vis, row);
        for (int64_t h = 1; h < sp.n_index_heads; ++h) {
            for (int64_t b = 0; b < n_vis; ++b) {
                row[b] = std::max(row[b], scores[h * a.max_blocks + b]);
            }
        }
    } else {
        std::copy_n(scores + g * a.max_blocks, n_vis, row);
        if (!is_msa) {
            row[own] = std::numeric_limits<float>::infinity();  // forced in any case
        }
    }
    select_top_blocks(row, own, rule, order, ids);
}

}  // namespace

int64_t select_score_rows(const ModelConfig& c) {
    return std::max(c.sparse.has_index ? c.sparse.n_index_heads : 0, c.n_kv_heads);
}

void select_blocks_into(const SelectArgs& a, ThreadPool& pool) {
    // One pointer captured, so std::function keeps the lambdas inline: decode steps do not allocate.
    struct Plan {
        const SelectArgs* a;
        int64_t n_chunks;
        int n_threads;
    };
    const Plan plan{&a, (a.max_blocks + kScoreChunk - 1) / kScoreChunk, pool.n_threads()};
    // Items of pass 1 are (token, chunk); a token's chunks past its visible blocks return at once.
    pool.run([p = &plan](int thread) {
        const SelectArgs& s = *p->a;
        const int64_t n_items = s.n_tokens * p->n_chunks;
        const int64_t begin = n_items * thread / p->n_threads;
        const int64_t end = n_items * (thread + 1) / p->n_threads;
        for (int64_t item = begin; item < end; ++item) {
            score_chunk(s, item / p->n_chunks, item % p->n_chunks, s.minmax + thread * 2 * s.c->head_dim_k);
        }
    });
    pool.run([p = &plan](int thread) {
        const SelectArgs& s = *p->a;
        const int64_t n_items = s.n_tokens * s.c->n_kv_heads;
        const int64_t begin = n_items * thread / p->n_threads;
        const int64_t end = n_items * (thread + 1) / p->n_threads;
        for (int64_t item = begin; item < end; ++item) {
            select_pair(s, item / s.c->n_kv_heads, static_cast<int32_t>(item % s.c->n_kv_heads),
                        s.row + thread * s.max_blocks, s.order + thread * s.max_blocks);
        }
    });
}

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

Status Model::set_quest_params(int64_t block, int64_t topk) {
    if (cfg_.sparse.has_index || block < 1 || block > (1 << 20) || topk < 2 || topk > 4096) {
        return make_error(ErrorCode::kInvalidArgument,
                          "sparse attention: quest block %lld (1..2^20) and k %lld (2..4096); a model with an index "
                          "branch keeps its own",
                          static_cast<long long>(block), static_cast<long long>(topk));
    }
    sparse_block_ = block;
    quest_topk_ = topk;
    sel_stride_ = quest_rule(topk).max_selected();
    return Status();
}

void Model::add_recall(int64_t layer, std::span<const BatchSeq> seqs, const kvcache::KvStorage& kv, int64_t n_tokens,
                       const int32_t* sel, ThreadPool& pool) {
    const ModelConfig& c = cfg_;
    const kvcache::KvCacheLayout& lay = kv.layout();
    if (lay.dtype != kvcache::KvDType::kF32) {
        return;
    }
    RecallStats& r = *recall_;
    r.sum.resize(static_cast<size_t>(c.n_layers), 0.0);
    r.count.resize(static_cast<size_t>(c.n_layers), 0);
    const int64_t hd = c.head_dim_k;
    const int64_t group = c.n_heads / c.n_kv_heads;
    const int n_threads = pool.n_threads();
    std::vector<double> sums(static_cast<size_t>(n_threads), 0.0);
    std::vector<int64_t> counts(static_cast<size_t>(n_threads), 0);
    std::vector<double> mins(static_cast<size_t>(n_threads), 1.0);
    pool.run([&](int thread) {
        std::vector<float> p;
        std::vector<uint8_t> in;
        for (int64_t t = n_tokens * thread / n_threads; t < n_tokens * (thread + 1) / n_threads; ++t) {
            const BatchSeq& s = seqs[static_cast<size_t>(b_seq_[static_cast<size_t>(t)])];
            const int64_t pos = b_positions_[static_cast<size_t>(t)];
            for (int32_t g = 0; g < c.n_kv_heads; ++g) {
                const int32_t* ids = sel + (t * c.n_kv_heads + g) * sel_stride_;
                int64_t n_sel = 0;
                in.assign(static_cast<size_t>(pos / sparse_block_ + 1), 0);
                for (int64_t i = 0; i < sel_stride_ && ids[0] != kDenseSelection; ++i) {
                    if (ids[i] >= 0) {
                        in[static_cast<size_t>(ids[i])] = 1;
                        ++n_sel;
                    }
                }
                if (n_sel == 0 || n_sel >= static_cast<int64_t>(in.size())) {
                    continue;  // dense, or nothing dropped
                }
                p.resize(static_cast<size_t>(pos + 1));
                for (int64_t h = g * group; h < (g + 1) * group; ++h) {
                    const float* q = q_.data() + t * c.q_dim() + h * hd;
                    float mx = -std::numeric_limits<float>::infinity();
                    for (int64_t j = 0; j <= pos; ++j) {
                        const auto* k =
                            reinterpret_cast<const float*>(kv.k(s.block_table[static_cast<size_t>(j / lay.block_size)],
                                                                static_cast<int32_t>(layer), g))
                            + (j % lay.block_size) * hd;
                        float d = 0.0f;
                        for (int64_t e = 0; e < hd; ++e) {
                            d += q[e] * k[e];
                        }
                        p[static_cast<size_t>(j)] = d * c.attn_scale;
                        mx = std::max(mx, p[static_cast<size_t>(j)]);
                    }
                    double total = 0.0, kept = 0.0;
                    for (int64_t j = 0; j <= pos; ++j) {
                        const double e = std::exp(static_cast<double>(p[static_cast<size_t>(j)] - mx));
                        total += e;
                        kept += in[static_cast<size_t>(j / sparse_block_)] ? e : 0.0;
                    }
                    const double rec = kept / total;
                    sums[static_cast<size_t>(thread)] += rec;
                    counts[static_cast<size_t>(thread)] += 1;
                    mins[static_cast<size_t>(thread)] = std::min(mins[static_cast<size_t>(thread)], rec);
                }
            }
        }
    });
    for (int i = 0; i < n_threads; ++i) {
        r.sum[static_cast<size_t>(layer)] += sums[static_cast<size_t>(i)];
        r.count[static_cast<size_t>(layer)] += counts[static_cast<size_t>(i)];
        r.min = std::min(r.min, mins[static_cast<size_t>(i)]);
    }
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
    grow(b_ranges_, static_cast<int64_t>(n_threads) * kAttentionQueryBlock * 2 * sel_stride_);
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
    grow(b_bscores_, n_tokens * select_score_rows(c) * max_blocks);
    grow(b_brow_, static_cast<int64_t>(n_threads) * max_blocks);
    grow(b_bscratch_, static_cast<int64_t>(n_threads) * max_blocks);
    grow(b_minmax_, static_cast<int64_t>(n_threads) * 2 * c.head_dim_k);
    select_blocks_into({.c = &c,
                        .seqs = seqs,
                        .kv = &kv,
                        .modes = modes,
                        .positions = b_positions_.data(),
                        .seq_of = b_seq_.data(),
                        .q = q_.data(),
                        .idx_q = b_idx_q_.data(),
                        .n_tokens = n_tokens,
                        .layer = li,
                        .is_index_layer = is_index_layer,
                        .block = sparse_block_,
                        .quest_topk = quest_topk_,
                        .stride = sel_stride_,
                        .sel = b_sel_.data(),
                        .max_blocks = max_blocks,
                        .scores = b_bscores_.data(),
                        .row = b_brow_.data(),
                        .order = b_bscratch_.data(),
                        .minmax = b_minmax_.data()},
                       pool);
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
