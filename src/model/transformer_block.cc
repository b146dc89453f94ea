// The transformer block shared by every architecture: pre-norm attention and FFN sub-blocks with
// the variant switches of ModelConfig (biases, QK-norm, post-norms, sliding windows, GeGLU), over
// the paged KV cache. Keys and values are projected into staging rows, written through each
// sequence's block table (quantized on write for non-f32 caches), and attention reads them back
// tile by tile, so a new token sees its own key as stored.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/check.h"
#include "kernels/ops/activation.h"
#include "kernels/ops/rms_norm.h"
#include "model/block_select.h"
#include "model/model.h"
#include "model/paged_attention.h"
#include "tensor/quant.h"

namespace gannet::model {
namespace {

// The tensor dtype whose row (de)quantizer reads and writes a cache row of this KvDType.
tensor::DType tensor_dtype(kvcache::KvDType d) {
    switch (d) {
        case kvcache::KvDType::kF32: return tensor::DType::kF32;
        case kvcache::KvDType::kF16: return tensor::DType::kF16;
        case kvcache::KvDType::kBF16: return tensor::DType::kBF16;
        case kvcache::KvDType::kQ8_0: return tensor::DType::kQ8_0;
        case kvcache::KvDType::kQ4_0: return tensor::DType::kQ4_0;
    }
    return tensor::DType::kF32;
}

// What every attention thread reads. The pool's lambda captures one pointer to it, so
// std::function stores the lambda inline: decode steps must not allocate.
struct AttentionJob {
    const ModelConfig* c;
    std::span<const BatchSeq> seqs;
    const kvcache::KvStorage* kv;
    const int32_t* positions;  // [n_tokens]
    const int32_t* seq_of;     // [n_tokens] index into seqs
    const float* q;            // [n_tokens, q_dim]
    float* att;                // [n_tokens, n_heads * head_dim_v]
    float* scores;             // [n_threads, group, max_kv]
    float* tiles;              // [n_threads, block_size, head_dim]; unused for f32
    int64_t max_kv;
    int64_t group;          // query heads per kv head
    int64_t n_slices;       // each (token, kv head) item is split into this many runs of heads
    int64_t n_items;        // n_tokens * n_kv_heads * n_slices
    int64_t window;         // 0: full causal
    const int32_t* sel;     // [n_tokens, n_kv_heads, sel_stride] block ids; nullptr: all dense
    int64_t sel_stride;     // ids per (token, kv head); a row starting kDenseSelection is dense
    int64_t sparse_block;   // tokens per selection block
    int64_t* ranges;        // [n_threads, 2 * sel_stride] scratch
    int32_t* sort_scratch;  // [n_threads, sel_stride]
    size_t row_bytes;
    size_t block_bytes;  // tiles of block b are block_bytes * b past those of block 0
    int32_t block_size;
    int32_t layer;
    tensor::DType row_dtype;
    bool is_f32;
    int n_threads;
    // [n_tokens] each token's last visible key on this layer (fill_last_visible); null: its own position
    const int32_t* last_visible;
};

// Rows [r0, r1) of a [block_size, head_dim] tile as floats: the cache itself for f32, else
// dequantized into the thread's scratch (rows of whole q8_0/q4_0 blocks are contiguous, so a run of
// rows is one dequantize_row call). Row r0 is at the returned pointer.
const float* tile_rows(const AttentionJob& j, const std::byte* tile_base, int64_t r0, int64_t r1, float* tile) {
    const std::byte* src = tile_base + static_cast<size_t>(r0) * j.row_bytes;
    if (j.is_f32) {
        return reinterpret_cast<const float*>(src);
    }
    const Status st = tensor::dequantize_row(j.row_dtype, src, tile, (r1 - r0) * j.c->head_dim_k);
    GANNET_CHECK(st.ok());  // the layout was validated, so the type and size are dequantizable
    return tile;
}

// Tiles of one sequence are scattered over the pool, and the hardware prefetcher does not follow a
// jump to another block: ask for the next tile's lines while this one is read.
void prefetch_tile(const std::byte* tile_base, size_t n_bytes) {
    for (size_t off = 0; off < n_bytes; off += 64) {
        __builtin_prefetch(tile_base + off);
    }
}

// Query heads [h0, h0 + n_h) of kv head g for token t. The heads share their kv head's rows, so each
// K/V tile is read (and dequantized) once for all of them. Each head's result depends only on its
// query and its own sequence's rows, summed in ascending positions: never on the batch or the split.
// The positions are ranges [lo, hi) in ascending order: one for dense attention, the selected
// blocks for block-sparse attention. A selection of every block walks the same tiles in the same
// order as dense attention, so its result is bit for bit the dense one.
void attend_heads(const AttentionJob& j, int64_t t, int32_t g, int64_t h0, int64_t n_h, float* __restrict scores,
                  float* tile, int64_t* ranges, int32_t* sort_scratch) {
    const ModelConfig& c = *j.c;
    // Locals, so the stores into scores and out cannot make the compiler reload them.
    const int64_t hd = c.head_dim_k;
    const int64_t hv = c.head_dim_v;
    const float scale = c.attn_scale;
    const float softcap = c.attn_softcap;
    const int64_t bs = j.block_size;
    const BatchSeq& s = j.seqs[static_cast<size_t>(j.seq_of[t])];
    const int64_t pos = j.positions[t];
    const int64_t j0 = j.window > 0 ? std::max<int64_t>(0, pos - j.window + 1) : 0;
    const int64_t hi_vis = j.last_visible != nullptr ? j.last_visible[t] : pos;  // pos, or an image's last token
    int64_t dense_range[2] = {j0, hi_vis + 1};
    const int64_t* rg = dense_range;
    int32_t n_rg = 1;
    if (j.sel != nullptr) {
        const int32_t* ids = j.sel + (t * c.n_kv_heads + g) * j.sel_stride;
        if (ids[0] != kDenseSelection) {
            n_rg = selection_ranges(std::span<const int32_t>(ids, static_cast<size_t>(j.sel_stride)), j.sparse_block,
                                    hi_vis, sort_scratch, ranges);
            for (int32_t r = 0; r < n_rg; ++r) {
                ranges[2 * r] = std::max(ranges[2 * r], j0);
            }
            rg = ranges;
        }
    }
    int64_t n = 0;  // visible positions; head h's score of the i-th one at scores[h * n + i]
    for (int32_t r = 0; r < n_rg; ++r) {
        n += std::max<int64_t>(0, rg[2 * r + 1] - rg[2 * r]);
    }
    const size_t tile_bytes = j.row_bytes * static_cast<size_t>(bs);
    // Decode reads each tile once, from memory: prefetch. A prefill chunk's tokens reread the same
    // tiles from cache, where the prefetches would only cost instructions.
    const bool is_prefetching = s.tokens.size() <= 4;
    // The layout is block-major, so a tile's address is one multiply away (no layout call per tile).
    const std::byte* k0 = j.kv->k(0, j.layer, g);
    const std::byte* v0 = j.kv->v(0, j.layer, g);
    auto k_tile = [&](int64_t block_index) {
        return k0 + static_cast<size_t>(s.block_table[static_cast<size_t>(block_index)]) * j.block_bytes;
    };
    auto v_tile = [&](int64_t block_index) {
        return v0 + static_cast<size_t>(s.block_table[static_cast<size_t>(block_index)]) * j.block_bytes;
    };
    const float* q = j.q + t * c.q_dim() + h0 * hd;
    int64_t i = 0;
    for (int32_t r = 0; r < n_rg; ++r) {
        const int64_t hi = rg[2 * r + 1];
        for (int64_t jb = rg[2 * r]; jb < hi;) {
            const int64_t r0 = jb % bs;
            const int64_t r1 = std::min<int64_t>(bs, r0 + (hi - jb));
            if (is_prefetching && jb / bs + 1 <= (hi - 1) / bs) {
                prefetch_tile(k_tile(jb / bs + 1), tile_bytes);
            }
            const float* krows = tile_rows(j, k_tile(jb / bs), r0, r1, tile);
            for (int64_t row = r0; row < r1; ++row, ++jb, ++i) {
                const float* k = krows + (row - r0) * hd;
                for (int64_t h = 0; h < n_h; ++h) {
                    float dot = dot_f32(q + h * hd, k, hd) * scale;
                    if (softcap > 0.0f) {
                        dot = softcap * std::tanh(dot / softcap);
                    }
                    scores[h * n + i] = dot;
                }
            }
        }
    }
    for (int64_t h = 0; h < n_h; ++h) {
        float* sc = scores + h * n;
        const float mx = *std::max_element(sc, sc + n);
        float sum = 0.0f;
        for (int64_t e = 0; e < n; ++e) {
            sc[e] = std::exp(sc[e] - mx);
            sum += sc[e];
        }
        const float inv = 1.0f / sum;
        for (int64_t e = 0; e < n; ++e) {
            sc[e] *= inv;
        }
    }
    float* out = j.att + t * c.n_heads * hv + h0 * hv;
    std::fill(out, out + n_h * hv, 0.0f);
    i = 0;
    for (int32_t r = 0; r < n_rg; ++r) {
        const int64_t hi = rg[2 * r + 1];
        for (int64_t jb = rg[2 * r]; jb < hi;) {
            const int64_t r0 = jb % bs;
            const int64_t r1 = std::min<int64_t>(bs, r0 + (hi - jb));
            if (is_prefetching && jb / bs + 1 <= (hi - 1) / bs) {
                prefetch_tile(v_tile(jb / bs + 1), tile_bytes);
            }
            const float* vrows = tile_rows(j, v_tile(jb / bs), r0, r1, tile);
            for (int64_t row = r0; row < r1; ++row, ++jb, ++i) {
                const float* __restrict v = vrows + (row - r0) * hd;
                for (int64_t h = 0; h < n_h; ++h) {
                    const float p = scores[h * n + i];
                    float* __restrict o = out + h * hv;
                    for (int64_t d = 0; d < hv; ++d) {
                        o[d] += p * v[d];
                    }
                }
            }
        }
    }
}

}  // namespace

void paged_attention(const AttentionArgs& a, ThreadPool& pool) {
    const ModelConfig& c = *a.c;
    const kvcache::KvCacheLayout& lay = a.kv->layout();
    // Work items are (token, kv head, run of its query heads): whole groups share K/V loads best;
    // a group is split only when there are fewer (token, kv head) pairs than threads (decode with
    // few kv heads), so every thread has work.
    const int64_t group = c.n_heads / c.n_kv_heads;
    const int64_t n_pairs = a.n_tokens * c.n_kv_heads;
    const int64_t n_slices = std::clamp<int64_t>((pool.n_threads() + n_pairs - 1) / n_pairs, 1, group);
    const AttentionJob job{.c = &c,
                           .seqs = a.seqs,
                           .kv = a.kv,
                           .positions = a.positions,
                           .seq_of = a.seq_of,
                           .q = a.q,
                           .att = a.att,
                           .scores = a.scores,
                           .tiles = a.tiles,
                           .max_kv = a.max_kv,
                           .group = group,
                           .n_slices = n_slices,
                           .n_items = n_pairs * n_slices,
                           .window = a.window,
                           .sel = a.sel,
                           .sel_stride = a.sel_stride,
                           .sparse_block = a.sparse_block,
                           .ranges = a.ranges,
                           .sort_scratch = a.sort,
                           .row_bytes = lay.row_bytes(),
                           .block_bytes = lay.block_bytes(),
                           .block_size = lay.block_size,
                           .layer = a.layer,
                           .row_dtype = tensor_dtype(lay.dtype),
                           .is_f32 = lay.dtype == kvcache::KvDType::kF32,
                           .n_threads = pool.n_threads(),
                           .last_visible = a.last_visible};
    pool.run([j = &job](int thread) {
        const int64_t begin = j->n_items * thread / j->n_threads;
        const int64_t end = j->n_items * (thread + 1) / j->n_threads;
        float* scores = j->scores + static_cast<int64_t>(thread) * j->group * j->max_kv;
        float* tile = j->is_f32 ? nullptr : j->tiles + static_cast<int64_t>(thread) * j->block_size * j->c->head_dim_k;
        const int64_t n_kv_heads = j->c->n_kv_heads;
        for (int64_t item = begin; item < end; ++item) {
            const int64_t slice = item % j->n_slices;
            const int64_t pair = item / j->n_slices;
            const int64_t t = pair / n_kv_heads;
            const int32_t g = static_cast<int32_t>(pair % n_kv_heads);
            const int64_t h0 = g * j->group + j->group * slice / j->n_slices;
            const int64_t h1 = g * j->group + j->group * (slice + 1) / j->n_slices;
            attend_heads(*j, t, g, h0, h1 - h0, scores, tile, j->ranges + thread * 2 * j->sel_stride,
                         j->sort_scratch + thread * j->sel_stride);
        }
    });
}

Status Model::qkv_block(int64_t layer, const int32_t* positions, int64_t n_tokens, float* k_rows, float* v_rows,
                        ThreadPool& pool) {
    const LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
    const ModelConfig& c = cfg_;
    kernels::rms_norm(x_.data(), w.attn_norm.data(), xb_.data(), n_tokens, c.n_embd, c.norm_eps);
    if (hook_) {
        hook_(ActivationSite::kAttnInput, layer, xb_.data(), n_tokens, c.n_embd);
    }
    GANNET_RETURN_IF_ERROR(project(w.wq, xb_.data(), q_.data(), n_tokens, pool));
    GANNET_RETURN_IF_ERROR(project(w.wk, xb_.data(), k_rows, n_tokens, pool));
    if (w.wv.data != nullptr) {
        GANNET_RETURN_IF_ERROR(project(w.wv, xb_.data(), v_rows, n_tokens, pool));
    } else {  // diffusion_gemma's global layers: V is the raw k projection (normed separately)
        std::memcpy(v_rows, k_rows, static_cast<size_t>(n_tokens * c.k_dim()) * sizeof(float));
    }
    finish_qkv(c, weights_, layer, positions, n_tokens, q_.data(), k_rows, v_rows);
    return Status();
}

Status Model::paged_attention_block(int64_t layer, std::span<const BatchSeq> seqs, kvcache::KvStorage& kv,
                                    ThreadPool& pool) {
    const LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
    const ModelConfig& c = cfg_;
    const kvcache::KvCacheLayout& lay = kv.layout();
    int64_t n_tokens = 0;
    int64_t max_kv = 0;
    for (const BatchSeq& s : seqs) {
        n_tokens += static_cast<int64_t>(s.tokens.size());
        max_kv = std::max<int64_t>(max_kv, s.pos + static_cast<int64_t>(s.tokens.size()));
    }
    float* k_rows = b_k_.data();
    float* v_rows = b_v_.data();
    GANNET_RETURN_IF_ERROR(qkv_block(layer, b_positions_.data(), n_tokens, k_rows, v_rows, pool));

    // Write K/V into the blocks and fold keys into the block summaries. Quantized and half types go
    // through the row quantizer; the summary sees the float key.
    const int64_t hd = c.head_dim_k;
    const int32_t bs = lay.block_size;
    const int32_t li = static_cast<int32_t>(layer);
    const tensor::DType row_dtype = tensor_dtype(lay.dtype);
    const bool is_f32 = lay.dtype == kvcache::KvDType::kF32;
    const size_t row_bytes = lay.row_bytes();
    for (int64_t t = 0; t < n_tokens; ++t) {
        const BatchSeq& s = seqs[static_cast<size_t>(b_seq_[static_cast<size_t>(t)])];
        const int32_t pos = b_positions_[static_cast<size_t>(t)];
        const kvcache::BlockId block = s.block_table[static_cast<size_t>(pos / bs)];
        const int32_t slot = pos % bs;
        for (int32_t g = 0; g < lay.n_kv_heads; ++g) {
            const float* ksrc = k_rows + t * c.k_dim() + g * hd;
            const float* vsrc = v_rows + t * c.v_dim() + g * hd;
            std::byte* kdst = kv.k(block, li, g) + static_cast<size_t>(slot) * row_bytes;
            std::byte* vdst = kv.v(block, li, g) + static_cast<size_t>(slot) * row_bytes;
            if (is_f32) {
                std::memcpy(kdst, ksrc, row_bytes);
                std::memcpy(vdst, vsrc, row_bytes);
            } else {
                GANNET_RETURN_IF_ERROR(tensor::quantize_row(row_dtype, ksrc, kdst, hd));
                GANNET_RETURN_IF_ERROR(tensor::quantize_row(row_dtype, vsrc, vdst, hd));
            }
            kv.summaries().add_key(block, li, g, slot, std::span<const float>(ksrc, static_cast<size_t>(hd)));
        }
    }

    // Block-sparse attention: the index branch (its keys are cached for every token) and each
    // (token, kv head)'s block list; nullptr when every sequence attends densely.
    GANNET_ASSIGN_OR_RETURN(const int32_t* sel, select_blocks(layer, seqs, kv, n_tokens, max_kv, pool));
    if (recall_ != nullptr && sel != nullptr) {
        add_recall(layer, seqs, kv, n_tokens, sel, pool);
    }

    const int32_t* last_visible = c.is_vision_bidirectional && c.is_sliding(layer) ? b_last_visible_.data() : nullptr;
    paged_attention({.c = &c,
                     .seqs = seqs,
                     .kv = &kv,
                     .positions = b_positions_.data(),
                     .seq_of = b_seq_.data(),
                     .q = q_.data(),
                     .att = att_.data(),
                     .n_tokens = n_tokens,
                     .max_kv = max_kv,
                     .layer = li,
                     .window = c.is_sliding(layer) ? c.sliding_window : 0,
                     .sel = sel,
                     .sel_stride = sel_stride_,
                     .sparse_block = sparse_block_,
                     .scores = b_scores_.data(),
                     .tiles = b_tile_.data(),
                     .ranges = b_ranges_.data(),
                     .sort = b_sort_.data(),
                     .last_visible = last_visible},
                    pool);
    if (hook_) {
        hook_(ActivationSite::kAttnOutput, layer, att_.data(), n_tokens, w.wo.n_in);
    }
    GANNET_RETURN_IF_ERROR(project(w.wo, att_.data(), out_.data(), n_tokens, pool));
    if (!w.post_attention_norm.empty()) {
        kernels::rms_norm(out_.data(), w.post_attention_norm.data(), out_.data(), n_tokens, c.n_embd, c.norm_eps);
    }
    kernels::add(x_.data(), out_.data(), x_.data(), n_tokens * c.n_embd);
    return Status();
}

Status Model::ffn_block(int64_t layer, int64_t n_tokens, ThreadPool& pool) {
    const LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
    const ModelConfig& c = cfg_;
    kernels::rms_norm(x_.data(), w.ffn_norm.data(), xb_.data(), n_tokens, c.n_embd, c.norm_eps);
    if (hook_) {
        hook_(ActivationSite::kFfnInput, layer, xb_.data(), n_tokens, c.n_embd);
    }
    GANNET_RETURN_IF_ERROR(project(w.w_gate, xb_.data(), gate_.data(), n_tokens, pool));
    GANNET_RETURN_IF_ERROR(project(w.w_up, xb_.data(), up_.data(), n_tokens, pool));
    if (c.ffn == FfnKind::kGeGlu) {
        kernels::geglu(gate_.data(), up_.data(), gate_.data(), n_tokens * c.n_ff);
    } else if (c.ffn == FfnKind::kSwiGluOai) {
        kernels::swiglu_oai(gate_.data(), up_.data(), gate_.data(), n_tokens * c.n_ff, c.swiglu_alpha, c.swiglu_limit);
    } else {
        kernels::swiglu(gate_.data(), up_.data(), gate_.data(), n_tokens * c.n_ff);
    }
    if (hook_) {
        hook_(ActivationSite::kFfnDownInput, layer, gate_.data(), n_tokens, c.n_ff);
    }
    GANNET_RETURN_IF_ERROR(project(w.w_down, gate_.data(), out_.data(), n_tokens, pool));
    if (!w.ffn_post_norm_1.empty()) {
        kernels::rms_norm(out_.data(), w.ffn_post_norm_1.data(), out_.data(), n_tokens, c.n_embd, c.norm_eps);
    }
    if (!w.post_ffw_norm.empty()) {
        kernels::rms_norm(out_.data(), w.post_ffw_norm.data(), out_.data(), n_tokens, c.n_embd, c.norm_eps);
    }
    kernels::add(x_.data(), out_.data(), x_.data(), n_tokens * c.n_embd);
    if (!w.layer_scale.empty()) {  // gemma4: the whole residual stream, after both sub-blocks
        kernels::scale(x_.data(), w.layer_scale[0], n_tokens * c.n_embd);
    }
    return Status();
}

}  // namespace gannet::model
