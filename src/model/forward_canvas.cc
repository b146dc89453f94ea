// Model::forward_canvas: the decoder mode of a block-diffusion model (diffusion_gemma, #18). The
// same weights and sub-blocks as forward_batch (qkv_block, ffn_block), with three differences taken
// from transformers' DiffusionGemmaDecoderModel: the canvas embeddings get the self-conditioning
// signal, attention is bidirectional over the canvas and reads the encoder's cached prefix, and
// nothing is written to the cache. Sliding layers see the whole prefix too (HF's decoder mask is
// full; our models' windows cover their context).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/check.h"
#include "kernels/attention_cpu.h"
#include "kernels/ops/activation.h"
#include "kernels/ops/embedding.h"
#include "kernels/ops/rms_norm.h"
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

// What the canvas attention threads read; one (canvas token, kv head) per item.
struct CanvasAttentionJob {
    const ModelConfig* c;
    std::span<const CanvasSeq> seqs;
    const kvcache::KvStorage* kv;
    const int32_t* seq_of;  // [n_tokens] index into seqs
    const int32_t* row0;    // [n_seqs] first batch row of each canvas
    const float* q;         // [n_tokens, q_dim]
    const float* k;         // [n_tokens, k_dim] the canvas keys, never written to the cache
    const float* v;         // [n_tokens, v_dim]
    float* att;             // [n_tokens, n_heads * head_dim_v]
    float* state;           // [n_threads, paged_attention_scratch_floats(c)]
    int64_t group;
    int64_t n_items;
    tensor::DType row_dtype;
    kernels::Isa isa;
    int32_t layer;
    int n_threads;
};

// Heads of kv head g for canvas token t: softmax(q·k) over the cached prefix, then the whole canvas,
// with the causal attention's flash kernel (kernels/attention_cpu.h): the prefix tiles read in the
// cache's type, the canvas rows as f32 straight from the projection.
void attend_canvas(const CanvasAttentionJob& j, int64_t t, int32_t g, float* state) {
    const ModelConfig& c = *j.c;
    const kvcache::KvCacheLayout& lay = j.kv->layout();
    const int64_t hv = c.head_dim_v;
    const int32_t si = j.seq_of[t];
    const CanvasSeq& s = j.seqs[static_cast<size_t>(si)];
    const int64_t n_prefix = s.pos;
    const auto n_canvas = static_cast<int64_t>(s.canvas.size());
    float* m = state;
    float* l = m + j.group;
    float* acc = l + j.group;
    std::fill(m, m + j.group, -std::numeric_limits<float>::infinity());
    std::fill(l, l + j.group, 0.0f);
    std::fill(acc, acc + j.group * hv, 0.0f);
    kernels::FlashChunkArgs fa{.kv_dtype = j.row_dtype,
                               .k_row_bytes = lay.row_bytes(),
                               .v_row_bytes = lay.row_bytes(),
                               .head_dim_k = c.head_dim_k,
                               .head_dim_v = hv,
                               .q = j.q + t * c.q_dim() + g * j.group * c.head_dim_k,
                               .n_heads = j.group,
                               .scale = c.attn_scale,
                               .m = m,
                               .l = l,
                               .acc = acc};
    for (int64_t p = 0; p < n_prefix; p += lay.block_size) {
        const kvcache::BlockId block = s.block_table[static_cast<size_t>(p / lay.block_size)];
        fa.k = j.kv->k(block, j.layer, g);
        fa.v = j.kv->v(block, j.layer, g);
        fa.n_rows = std::min<int64_t>(lay.block_size, n_prefix - p);
        kernels::flash_chunk(fa, j.isa);
    }
    fa.kv_dtype = tensor::DType::kF32;
    fa.k_row_bytes = static_cast<size_t>(c.k_dim()) * sizeof(float);
    fa.v_row_bytes = static_cast<size_t>(c.v_dim()) * sizeof(float);
    const int64_t r0 = j.row0[si];
    fa.k = reinterpret_cast<const std::byte*>(j.k + r0 * c.k_dim() + g * c.head_dim_k);
    fa.v = reinterpret_cast<const std::byte*>(j.v + r0 * c.v_dim() + g * hv);
    fa.n_rows = n_canvas;
    kernels::flash_chunk(fa, j.isa);
    float* out = j.att + t * c.n_heads * hv + g * j.group * hv;
    for (int64_t h = 0; h < j.group; ++h) {
        const float inv = 1.0f / l[h];  // > 0: the canvas always sees itself
        for (int64_t d = 0; d < hv; ++d) {
            out[h * hv + d] = acc[h * hv + d] * inv;
        }
    }
}

}  // namespace

Status Model::self_conditioning_block(std::span<const CanvasSeq> seqs, int64_t n_tokens, ThreadPool& pool) {
    const ModelConfig& c = cfg_;
    const int64_t v = c.n_vocab;
    const int64_t d = c.n_embd;
    if (self_cond_top_k_ > 0 && self_cond_top_k_ < v) {
        return self_conditioning_top_k(seqs, n_tokens, pool);
    }
    // soft = softmax(logits) @ E * sqrt(n_embd): the exact [C, V] x [V, n_embd] product, through
    // the matmul over E transposed (built once: n_vocab * n_embd floats).
    if (embd_t_.empty()) {
        const WeightMatrix& e = weights_.token_embd;
        std::vector<float> rows(static_cast<size_t>(d));
        embd_t_.resize(static_cast<size_t>(v * d));
        for (int32_t id = 0; id < v; ++id) {
            GANNET_RETURN_IF_ERROR(kernels::embedding({.table = e.data,
                                                       .dtype = e.dtype,
                                                       .n_vocab = v,
                                                       .dim = d,
                                                       .tokens = &id,
                                                       .n_tokens = 1,
                                                       .out = rows.data()}));
            for (int64_t i = 0; i < d; ++i) {
                embd_t_[static_cast<size_t>(i * v + id)] = rows[static_cast<size_t>(i)];
            }
        }
    }
    grow(b_probs_, n_tokens * v);
    std::fill(xb_.begin(), xb_.begin() + n_tokens * d, 0.0f);
    const WeightMatrix embd_t{embd_t_.data(), tensor::DType::kF32, v, d, embd_t_.size() * sizeof(float)};
    for (size_t i = 0; i < seqs.size(); ++i) {
        const CanvasSeq& s = seqs[i];
        if (s.self_cond_logits.empty()) {
            continue;  // first step: a zero signal
        }
        const auto n = static_cast<int64_t>(s.canvas.size());
        float* probs = b_probs_.data();
        std::memcpy(probs, s.self_cond_logits.data(), static_cast<size_t>(n * v) * sizeof(float));
        for (int64_t r = 0; r < n; ++r) {
            kernels::softmax(probs + r * v, v);
        }
        float* soft = xb_.data() + static_cast<int64_t>(b_row0_[i]) * d;
        GANNET_RETURN_IF_ERROR(project(embd_t, probs, soft, n, pool));
        kernels::scale(soft, c.embd_scale, n * d);
    }
    return self_conditioning_mlp(n_tokens, pool);
}

// The approximation behind set_self_cond_top_k: each row's k most likely tokens (ties to the lower
// id), softmax over them, and their embedding rows summed with those weights.
Status Model::self_conditioning_top_k(std::span<const CanvasSeq> seqs, int64_t n_tokens, ThreadPool& pool) {
    const ModelConfig& c = cfg_;
    const int64_t v = c.n_vocab;
    const int64_t d = c.n_embd;
    const int64_t k = self_cond_top_k_;
    grow(b_topk_, v);
    grow(b_topk_rows_, k * d);
    std::fill(xb_.begin(), xb_.begin() + n_tokens * d, 0.0f);
    const WeightMatrix& e = weights_.token_embd;
    for (size_t i = 0; i < seqs.size(); ++i) {
        const CanvasSeq& s = seqs[i];
        if (s.self_cond_logits.empty()) {
            continue;
        }
        for (size_t r = 0; r < s.canvas.size(); ++r) {
            const float* row = s.self_cond_logits.data() + static_cast<int64_t>(r) * v;
            int32_t* ids = b_topk_.data();
            for (int32_t j = 0; j < v; ++j) {
                ids[j] = j;
            }
            std::partial_sort(ids, ids + k, ids + v,
                              [row](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
            GANNET_RETURN_IF_ERROR(kernels::embedding({.table = e.data,
                                                       .dtype = e.dtype,
                                                       .n_vocab = v,
                                                       .dim = d,
                                                       .tokens = ids,
                                                       .n_tokens = k,
                                                       .out = b_topk_rows_.data()}));
            const float mx = row[ids[0]];
            double z = 0.0;
            for (int64_t j = 0; j < k; ++j) {
                z += std::exp(static_cast<double>(row[ids[j]] - mx));
            }
            float* soft = xb_.data() + (static_cast<int64_t>(b_row0_[i]) + static_cast<int64_t>(r)) * d;
            for (int64_t j = 0; j < k; ++j) {
                const auto p = static_cast<float>(std::exp(static_cast<double>(row[ids[j]] - mx)) / z) * c.embd_scale;
                const float* er = b_topk_rows_.data() + j * d;
                for (int64_t x = 0; x < d; ++x) {
                    soft[x] += p * er[x];
                }
            }
        }
    }
    return self_conditioning_mlp(n_tokens, pool);
}

Status Model::self_conditioning_mlp(int64_t n_tokens, ThreadPool& pool) {
    const ModelConfig& c = cfg_;
    const SelfCondWeights& w = weights_.self_cond;
    const int64_t d = c.n_embd;
    // SelfConditioning: pre_norm -> GeGLU MLP, added to the embeddings, then a weightless post_norm.
    // A zero row stays zero through the MLP, as HF's zeros_like signal does.
    kernels::rms_norm(xb_.data(), w.norm.data(), xb_.data(), n_tokens, d, c.norm_eps);
    GANNET_RETURN_IF_ERROR(project(w.gate, xb_.data(), gate_.data(), n_tokens, pool));
    GANNET_RETURN_IF_ERROR(project(w.up, xb_.data(), up_.data(), n_tokens, pool));
    kernels::geglu(gate_.data(), up_.data(), gate_.data(), n_tokens * c.n_ff);
    GANNET_RETURN_IF_ERROR(project(w.down, gate_.data(), out_.data(), n_tokens, pool));
    kernels::add(x_.data(), out_.data(), x_.data(), n_tokens * d);
    kernels::rms_norm(x_.data(), weights_.ones.data(), x_.data(), n_tokens, d, c.norm_eps);
    return Status();
}

Status Model::canvas_attention_block(int64_t layer, std::span<const CanvasSeq> seqs, const kvcache::KvStorage& kv,
                                     ThreadPool& pool) {
    const ModelConfig& c = cfg_;
    const LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
    int64_t n_tokens = 0;
    for (const CanvasSeq& s : seqs) {
        n_tokens += static_cast<int64_t>(s.canvas.size());
    }
    GANNET_RETURN_IF_ERROR(qkv_block(layer, b_positions_.data(), n_tokens, b_k_.data(), b_v_.data(), pool));
    const kvcache::KvCacheLayout& lay = kv.layout();
    tensor::DType row_dtype = tensor::DType::kF32;
    switch (lay.dtype) {
        case kvcache::KvDType::kF32: row_dtype = tensor::DType::kF32; break;
        case kvcache::KvDType::kF16: row_dtype = tensor::DType::kF16; break;
        case kvcache::KvDType::kBF16: row_dtype = tensor::DType::kBF16; break;
        case kvcache::KvDType::kQ8_0: row_dtype = tensor::DType::kQ8_0; break;
        case kvcache::KvDType::kQ4_0: row_dtype = tensor::DType::kQ4_0; break;
    }
    const CanvasAttentionJob job{.c = &c,
                                 .seqs = seqs,
                                 .kv = &kv,
                                 .seq_of = b_seq_.data(),
                                 .row0 = b_row0_.data(),
                                 .q = q_.data(),
                                 .k = b_k_.data(),
                                 .v = b_v_.data(),
                                 .att = att_.data(),
                                 .state = b_scores_.data(),
                                 .group = c.n_heads / c.n_kv_heads,
                                 .n_items = n_tokens * c.n_kv_heads,
                                 .row_dtype = row_dtype,
                                 .isa = kernels::flash_isa(kernels::Isa::kAuto, c.head_dim_k, c.head_dim_v),
                                 .layer = static_cast<int32_t>(layer),
                                 .n_threads = pool.n_threads()};
    pool.run([j = &job](int thread) {
        float* state = j->state + static_cast<int64_t>(thread) * paged_attention_scratch_floats(*j->c);
        for (int64_t item = thread; item < j->n_items; item += j->n_threads) {
            attend_canvas(*j, item / j->c->n_kv_heads, static_cast<int32_t>(item % j->c->n_kv_heads), state);
        }
    });
    GANNET_RETURN_IF_ERROR(project(w.wo, att_.data(), out_.data(), n_tokens, pool));
    if (!w.post_attention_norm.empty()) {
        kernels::rms_norm(out_.data(), w.post_attention_norm.data(), out_.data(), n_tokens, c.n_embd, c.norm_eps);
    }
    kernels::add(x_.data(), out_.data(), x_.data(), n_tokens * c.n_embd);
    return Status();
}

Result<std::span<const float>> Model::forward_canvas(std::span<const CanvasSeq> seqs, kvcache::KvStorage& kv,
                                                     ThreadPool& pool) {
    const ModelConfig& c = cfg_;
    const kvcache::KvCacheLayout& lay = kv.layout();
    if (!c.is_diffusion()) {
        return make_error(ErrorCode::kInvalidArgument, "model: forward_canvas on %s, which is not a diffusion model",
                          c.arch_name.c_str());
    }
    if (seqs.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "model: forward_canvas of an empty batch");
    }
    GANNET_RETURN_IF_ERROR(lay.validate());
    if (lay.n_layers != c.n_layers || lay.n_kv_heads != c.n_kv_heads || lay.head_dim != c.head_dim_k) {
        return make_error(ErrorCode::kInvalidArgument, "model: paged kv cache layout does not match the model");
    }
    int64_t n_tokens = 0;
    for (const CanvasSeq& s : seqs) {
        const auto n = static_cast<int64_t>(s.canvas.size());
        if (n != c.canvas_length || s.pos < 0) {
            return make_error(ErrorCode::kInvalidArgument,
                              "model: canvas of %lld tokens at position %d, expected %lld tokens at a position >= 0",
                              static_cast<long long>(n), s.pos, static_cast<long long>(c.canvas_length));
        }
        if (!s.self_cond_logits.empty() && static_cast<int64_t>(s.self_cond_logits.size()) != n * c.n_vocab) {
            return make_error(ErrorCode::kInvalidArgument,
                              "model: self-conditioning logits of %zu floats, expected %lld (canvas x vocab)",
                              s.self_cond_logits.size(), static_cast<long long>(n * c.n_vocab));
        }
        if (static_cast<int64_t>(s.block_table.size()) * lay.block_size < s.pos) {
            return make_error(ErrorCode::kInvalidArgument, "model: block table of %zu blocks cannot hold position %d",
                              s.block_table.size(), s.pos - 1);
        }
        for (kvcache::BlockId b : s.block_table) {
            if (b < 0 || b >= lay.n_blocks) {
                return make_error(ErrorCode::kInvalidArgument, "model: block id %d out of range", b);
            }
        }
        for (int32_t id : s.canvas) {
            if (id < 0 || id >= c.n_vocab) {
                return make_error(ErrorCode::kInvalidArgument, "model: token id %d out of range [0, %lld)", id,
                                  static_cast<long long>(c.n_vocab));
            }
        }
        n_tokens += n;
    }
    reserve(n_tokens, n_tokens);
    grow(b_tokens_, n_tokens);
    grow(b_positions_, n_tokens);
    grow(b_seq_, n_tokens);
    grow(b_row0_, static_cast<int64_t>(seqs.size()));
    grow(b_k_, n_tokens * c.k_dim());
    grow(b_v_, n_tokens * c.v_dim());
    grow(b_scores_, static_cast<int64_t>(pool.n_threads()) * paged_attention_scratch_floats(c));
    int64_t t = 0;
    for (size_t i = 0; i < seqs.size(); ++i) {
        b_row0_[i] = static_cast<int32_t>(t);
        for (size_t k = 0; k < seqs[i].canvas.size(); ++k, ++t) {
            b_tokens_[static_cast<size_t>(t)] = seqs[i].canvas[k];
            b_positions_[static_cast<size_t>(t)] = seqs[i].pos + static_cast<int32_t>(k);
            b_seq_[static_cast<size_t>(t)] = static_cast<int32_t>(i);
        }
    }
    const WeightMatrix& embd = weights_.token_embd;
    GANNET_RETURN_IF_ERROR(kernels::embedding({.table = embd.data,
                                               .dtype = embd.dtype,
                                               .n_vocab = embd.n_out,
                                               .dim = c.n_embd,
                                               .tokens = b_tokens_.data(),
                                               .n_tokens = n_tokens,
                                               .out = x_.data()}));
    kernels::scale(x_.data(), c.embd_scale, n_tokens * c.n_embd);
    GANNET_RETURN_IF_ERROR(self_conditioning_block(seqs, n_tokens, pool));
    for (int64_t l = 0; l < c.n_layers; ++l) {
        GANNET_RETURN_IF_ERROR(canvas_attention_block(l, seqs, kv, pool));
        GANNET_RETURN_IF_ERROR(ffn_block(l, n_tokens, pool));
    }
    kernels::rms_norm(x_.data(), weights_.output_norm.data(), xb_.data(), n_tokens, c.n_embd, c.norm_eps);
    GANNET_RETURN_IF_ERROR(project(weights_.output, xb_.data(), logits_.data(), n_tokens, pool));
    if (c.final_softcap > 0.0f) {
        kernels::softcap(logits_.data(), c.final_softcap, n_tokens * c.n_vocab);
    }
    return std::span<const float>(logits_.data(), static_cast<size_t>(n_tokens * c.n_vocab));
}

}  // namespace gannet::model
