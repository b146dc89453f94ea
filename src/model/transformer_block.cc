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
#include "kernels/attention_cpu.h"
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
    float* state;              // [n_threads, paged_attention_scratch_floats(c)]
    int64_t n_tokens;
    int64_t group;          // query heads per kv head
    int64_t n_slices;       // each (query block, kv head) item is split into this many runs of heads
    int64_t n_items;        // n_query_blocks * n_kv_heads * n_slices
    int64_t window;         // 0: full causal
    const int32_t* sel;     // [n_tokens, n_kv_heads, sel_stride] block ids; nullptr: all dense
    int64_t sel_stride;     // ids per (token, kv head); a row starting kDenseSelection is dense
    int64_t sparse_block;   // tokens per selection block
    int64_t* ranges;        // [n_threads, kAttentionQueryBlock, 2 * sel_stride] scratch
    int32_t* sort_scratch;  // [n_threads, sel_stride]
    size_t row_bytes;
    size_t block_bytes;  // tiles of block b are block_bytes * b past those of block 0
    int32_t block_size;
    int32_t layer;
    tensor::DType row_dtype;
    kernels::Isa isa;
    int n_threads;
    // [n_tokens] each token's last visible key on this layer (fill_last_visible); null: its own position
    const int32_t* last_visible;
};

// Tiles of one sequence are scattered over the pool, and the hardware prefetcher does not follow a
// jump to another block: ask for the next tile's lines while this one is read.
void prefetch_tile(const std::byte* tile_base, size_t n_bytes) {
    for (size_t off = 0; off < n_bytes; off += 64) {
        __builtin_prefetch(tile_base + off);
    }
}

// Token t's visible positions on kv head g as ascending, disjoint, non-adjacent ranges [lo, hi):
// one for dense attention, the selected blocks (merged where they touch) for block-sparse
// attention. Merging makes a selection of every block the single dense range, so both walk the
// same tile chunks and give the same bits. Returns the number of ranges.
int32_t visible_ranges(const AttentionJob& j, int64_t t, int32_t g, int64_t* ranges, int32_t* sort_scratch) {
    const int64_t pos = j.positions[t];
    const int64_t j0 = j.window > 0 ? std::max<int64_t>(0, pos - j.window + 1) : 0;
    const int64_t hi_vis = j.last_visible != nullptr ? j.last_visible[t] : pos;  // pos, or an image's last token
    const int32_t* ids = j.sel != nullptr ? j.sel + (t * j.c->n_kv_heads + g) * j.sel_stride : nullptr;
    if (ids == nullptr || ids[0] == kDenseSelection) {
        ranges[0] = j0;
        ranges[1] = hi_vis + 1;
        return 1;
    }
    const int32_t n = selection_ranges(std::span<const int32_t>(ids, static_cast<size_t>(j.sel_stride)), j.sparse_block,
                                       hi_vis, sort_scratch, ranges);
    int32_t n_out = 0;
    for (int32_t r = 0; r < n; ++r) {
        const int64_t lo = std::max(ranges[2 * r], j0);
        const int64_t hi = ranges[2 * r + 1];
        if (lo >= hi) {
            continue;
        }
        if (n_out > 0 && ranges[2 * n_out - 1] == lo) {
            ranges[2 * n_out - 1] = hi;
        } else {
            ranges[2 * n_out] = lo;
            ranges[2 * n_out + 1] = hi;
            ++n_out;
        }
    }
    return n_out;
}

// Query heads [h0, h0 + n_h) of kv head g for tokens [t0, t1) of one sequence (a query block).
// The tokens walk the sequence's tiles together, so each K/V tile is fetched from memory once for
// the block and re-read from L1/L2 by the others. Every (token, head) folds its own visible part
// of each tile into its online softmax state in ascending tile order (kernels::flash_chunk): its
// result depends only on its query, its visible ranges and the sequence's rows — never on the
// block, the batch, the head split or the thread count.
void attend_block(const AttentionJob& j, int64_t t0, int64_t t1, int32_t g, int64_t h0, int64_t n_h, float* state,
                  int64_t* ranges, int32_t* sort_scratch) {
    const ModelConfig& c = *j.c;
    const int64_t hv = c.head_dim_v;
    const int64_t bs = j.block_size;
    const int64_t n_q = t1 - t0;
    const BatchSeq& s = j.seqs[static_cast<size_t>(j.seq_of[t0])];
    const int64_t rstride = 2 * j.sel_stride;
    int32_t n_ranges[kAttentionQueryBlock];
    int32_t cursor[kAttentionQueryBlock];
    int64_t b_first = std::numeric_limits<int64_t>::max();
    int64_t b_last = -1;
    for (int64_t i = 0; i < n_q; ++i) {
        int64_t* rg = ranges + i * rstride;
        n_ranges[i] = visible_ranges(j, t0 + i, g, rg, sort_scratch);
        cursor[i] = 0;
        if (n_ranges[i] > 0) {
            b_first = std::min(b_first, rg[0] / bs);
            b_last = std::max(b_last, (rg[2 * n_ranges[i] - 1] - 1) / bs);
        }
    }
    const int64_t hk = c.head_dim_k;
    float* m = state;                  // [n_q, n_h]
    float* l = m + n_q * n_h;          // [n_q, n_h]
    float* acc = l + n_q * n_h;        // [n_q, n_h, hv]
    float* qs = acc + n_q * n_h * hv;  // [n_q, n_h, hk]: the block's queries side by side, like the state
    std::fill(m, m + n_q * n_h, -std::numeric_limits<float>::infinity());
    std::fill(l, l + n_q * n_h, 0.0f);
    std::fill(acc, acc + n_q * n_h * hv, 0.0f);
    for (int64_t i = 0; i < n_q; ++i) {
        std::memcpy(qs + i * n_h * hk, j.q + (t0 + i) * c.q_dim() + h0 * hk,
                    static_cast<size_t>(n_h * hk) * sizeof(float));
    }
    const size_t tile_bytes = j.row_bytes * static_cast<size_t>(bs);
    // Decode reads each tile once, from memory: prefetch. A prefill chunk's tokens reread the same
    // tiles from cache, where the prefetches would only cost instructions.
    const bool is_prefetching = s.tokens.size() <= 4;
    // The layout is block-major, so a tile's address is one multiply away (no layout call per tile).
    const std::byte* k0 = j.kv->k(0, j.layer, g);
    const std::byte* v0 = j.kv->v(0, j.layer, g);
    kernels::FlashChunkArgs fa{.kv_dtype = j.row_dtype,
                               .k_row_bytes = j.row_bytes,
                               .v_row_bytes = j.row_bytes,
                               .head_dim_k = c.head_dim_k,
                               .head_dim_v = hv,
                               .scale = c.attn_scale,
                               .softcap = c.attn_softcap};
    for (int64_t b = b_first; b <= b_last; ++b) {
        const size_t block_off = static_cast<size_t>(s.block_table[static_cast<size_t>(b)]) * j.block_bytes;
        if (is_prefetching && b + 1 <= b_last) {
            const size_t next = static_cast<size_t>(s.block_table[static_cast<size_t>(b + 1)]) * j.block_bytes;
            prefetch_tile(k0 + next, tile_bytes);
            prefetch_tile(v0 + next, tile_bytes);
        }
        const int64_t tile_lo = b * bs;
        const int64_t tile_hi = tile_lo + bs;
        // Consecutive tokens that see the same rows [run_lo, run_hi) of this tile fold them in one
        // call, their (token, head) states side by side as the call's heads, so each K/V row is
        // converted once for all of them (a GQA group of 2 heads gets passes of 4). flash_chunk's
        // heads never depend on their call-mates: the bits are those of one call per token. A
        // token's pieces of the tile stay in ascending order (a run is folded before the next piece).
        int64_t run_first = 0;
        int64_t run_n = 0;
        int64_t run_lo = 0;
        int64_t run_hi = 0;
        auto fold_run = [&] {
            if (run_n == 0) {
                return;
            }
            fa.k = k0 + block_off + static_cast<size_t>(run_lo - tile_lo) * j.row_bytes;
            fa.v = v0 + block_off + static_cast<size_t>(run_lo - tile_lo) * j.row_bytes;
            fa.n_rows = run_hi - run_lo;
            fa.q = qs + run_first * n_h * hk;
            fa.n_heads = run_n * n_h;
            fa.m = m + run_first * n_h;
            fa.l = l + run_first * n_h;
            fa.acc = acc + run_first * n_h * hv;
            kernels::flash_chunk(fa, j.isa);
            run_n = 0;
        };
        for (int64_t i = 0; i < n_q; ++i) {
            const int64_t* rg = ranges + i * rstride;
            while (cursor[i] < n_ranges[i]) {
                const int64_t lo = std::max(rg[2 * cursor[i]], tile_lo);
                const int64_t hi = std::min(rg[2 * cursor[i] + 1], tile_hi);
                if (lo >= tile_hi) {
                    break;  // this range starts in a later tile
                }
                if (lo < hi) {
                    if (run_n > 0 && (i != run_first + run_n || lo != run_lo || hi != run_hi)) {
                        fold_run();
                    }
                    if (run_n == 0) {
                        run_first = i;
                        run_lo = lo;
                        run_hi = hi;
                    }
                    ++run_n;
                }
                if (rg[2 * cursor[i] + 1] > tile_hi) {
                    break;  // the range goes on in the next tile
                }
                ++cursor[i];
            }
        }
        fold_run();
    }
    for (int64_t i = 0; i < n_q; ++i) {
        float* out = j.att + (t0 + i) * c.n_heads * hv + h0 * hv;
        for (int64_t h = 0; h < n_h; ++h) {
            const float li = l[i * n_h + h];
            const float inv = li > 0.0f ? 1.0f / li : 0.0f;  // 0: no visible key (an empty selection)
            const float* a = acc + (i * n_h + h) * hv;
            for (int64_t d = 0; d < hv; ++d) {
                out[h * hv + d] = a[d] * inv;
            }
        }
    }
}

// One work item: kv head g's query heads of slice `slice` for the tokens of query block `qb`, in
// runs of tokens of one sequence (a block may straddle two sequences of the batch).
void attend_item(const AttentionJob& j, int64_t item, float* state, int64_t* ranges, int32_t* sort_scratch) {
    const int64_t slice = item % j.n_slices;
    const int64_t pair = item / j.n_slices;
    const int64_t qb = pair / j.c->n_kv_heads;
    const auto g = static_cast<int32_t>(pair % j.c->n_kv_heads);
    const int64_t h0 = g * j.group + j.group * slice / j.n_slices;
    const int64_t h1 = g * j.group + j.group * (slice + 1) / j.n_slices;
    const int64_t t_end = std::min(j.n_tokens, (qb + 1) * kAttentionQueryBlock);
    for (int64_t t0 = qb * kAttentionQueryBlock; t0 < t_end;) {
        int64_t t1 = t0 + 1;
        while (t1 < t_end && j.seq_of[t1] == j.seq_of[t0]) {
            ++t1;
        }
        attend_block(j, t0, t1, g, h0, h1 - h0, state, ranges, sort_scratch);
        t0 = t1;
    }
}

}  // namespace

int64_t paged_attention_scratch_floats(const ModelConfig& c) {
    return kAttentionQueryBlock * (c.n_heads / c.n_kv_heads) * (2 + c.head_dim_v + c.head_dim_k);
}

void paged_attention(const AttentionArgs& a, ThreadPool& pool) {
    const ModelConfig& c = *a.c;
    const kvcache::KvCacheLayout& lay = a.kv->layout();
    // Work items are (query block, kv head, run of its query heads): whole groups and whole blocks
    // share K/V loads best; a group is split only when there are fewer (block, kv head) pairs than
    // threads (decode with few kv heads), so every thread has work.
    const int64_t group = c.n_heads / c.n_kv_heads;
    const int64_t n_blocks = (a.n_tokens + kAttentionQueryBlock - 1) / kAttentionQueryBlock;
    const int64_t n_pairs = n_blocks * c.n_kv_heads;
    const int64_t n_slices = std::clamp<int64_t>((pool.n_threads() + n_pairs - 1) / n_pairs, 1, group);
    const AttentionJob job{.c = &c,
                           .seqs = a.seqs,
                           .kv = a.kv,
                           .positions = a.positions,
                           .seq_of = a.seq_of,
                           .q = a.q,
                           .att = a.att,
                           .state = a.scratch,
                           .n_tokens = a.n_tokens,
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
                           .isa = kernels::flash_isa(a.isa, c.head_dim_k, c.head_dim_v),
                           .n_threads = pool.n_threads(),
                           .last_visible = a.last_visible};
    pool.run([j = &job](int thread) {
        float* state = j->state + thread * paged_attention_scratch_floats(*j->c);
        int64_t* ranges = j->ranges + thread * kAttentionQueryBlock * 2 * j->sel_stride;
        int32_t* sort_scratch = j->sort_scratch + thread * j->sel_stride;
        // Strided items: a causal prefill's later blocks see more keys, so contiguous runs of items
        // would leave the first thread idle. Which thread runs an item changes no result.
        for (int64_t item = thread; item < j->n_items; item += j->n_threads) {
            attend_item(*j, item, state, ranges, sort_scratch);
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
                     .layer = li,
                     .window = c.is_sliding(layer) ? c.sliding_window : 0,
                     .sel = sel,
                     .sel_stride = sel_stride_,
                     .sparse_block = sparse_block_,
                     .scratch = b_scores_.data(),
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
