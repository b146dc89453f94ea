// Model::forward_batch: the continuous-batching forward over the paged KV cache. Tokens of every
// scheduled sequence form one [n_tokens, n_embd] activation matrix, so each projection is a single
// matmul; keys and values go through each sequence's block table into KvStorage, and attention runs
// per (token, query head), reading K/V tiles back through the block table. Every token row is
// computed in a fixed order that does not depend on which other rows share the batch.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/check.h"
#include "kernels/ops/activation.h"
#include "kernels/ops/embedding.h"
#include "kernels/ops/rms_norm.h"
#include "kernels/ops/rope.h"
#include "model/model.h"
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

// q·k with eight partial sums combined in a fixed order: the compiler turns the lanes into one SIMD
// register, and the result depends only on the two vectors (never on the batch).
float dot_f32(const float* a, const float* b, int64_t n) {
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

template <typename T>
void grow(std::vector<T>& v, int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) {
        v.resize(static_cast<size_t>(n));
    }
}

}  // namespace

Result<std::span<const float>> Model::forward_batch(std::span<const BatchSeq> seqs, kvcache::KvStorage& kv,
                                                    ThreadPool& pool) {
    const ModelConfig& c = cfg_;
    const kvcache::KvCacheLayout& lay = kv.layout();
    if (seqs.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "model: forward_batch of an empty batch");
    }
    GANNET_RETURN_IF_ERROR(lay.validate());
    if (lay.n_layers != c.n_layers || lay.n_kv_heads != c.n_kv_heads || lay.head_dim != c.head_dim_k ||
        c.head_dim_k != c.head_dim_v) {
        return make_error(ErrorCode::kInvalidArgument,
                          "model: paged kv cache layout (%s, %d layers, %d kv heads, head_dim %d) does not match "
                          "the model (%lld layers, %lld kv heads, head_dim %lld/%lld)",
                          kvcache::kv_dtype_name(lay.dtype), lay.n_layers, lay.n_kv_heads, lay.head_dim,
                          static_cast<long long>(c.n_layers), static_cast<long long>(c.n_kv_heads),
                          static_cast<long long>(c.head_dim_k), static_cast<long long>(c.head_dim_v));
    }
    int64_t n_tokens = 0;
    int64_t n_rows = 0;
    int64_t max_kv = 0;
    for (const BatchSeq& s : seqs) {
        const int64_t end = static_cast<int64_t>(s.pos) + static_cast<int64_t>(s.tokens.size());
        if (s.tokens.empty() || s.pos < 0) {
            return make_error(ErrorCode::kInvalidArgument, "model: batch entry with no tokens or a negative position");
        }
        if (static_cast<int64_t>(s.block_table.size()) * lay.block_size < end) {
            return make_error(ErrorCode::kInvalidArgument, "model: block table of %zu blocks cannot hold position %lld",
                              s.block_table.size(), static_cast<long long>(end - 1));
        }
        for (kvcache::BlockId b : s.block_table) {
            if (b < 0 || b >= lay.n_blocks) {
                return make_error(ErrorCode::kInvalidArgument, "model: block id %d out of range", b);
            }
        }
        for (int32_t id : s.tokens) {
            if (id < 0 || id >= c.n_vocab) {
                return make_error(ErrorCode::kInvalidArgument, "model: token id %d out of range [0, %lld)", id,
                                  static_cast<long long>(c.n_vocab));
            }
        }
        n_tokens += static_cast<int64_t>(s.tokens.size());
        n_rows += s.is_logits_needed ? 1 : 0;
        max_kv = std::max(max_kv, end);
    }
    reserve(n_tokens, std::max<int64_t>(n_rows, 1), 1, pool.n_threads());
    grow(b_tokens_, n_tokens);
    grow(b_positions_, n_tokens);
    grow(b_seq_, n_tokens);
    grow(b_k_, n_tokens * c.k_dim());
    grow(b_v_, n_tokens * c.v_dim());
    grow(b_scores_, static_cast<int64_t>(pool.n_threads()) * max_kv);
    if (lay.dtype != kvcache::KvDType::kF32) {
        grow(b_tile_, static_cast<int64_t>(pool.n_threads()) * lay.block_size * lay.head_dim);
    }
    {
        int64_t t = 0;
        for (size_t i = 0; i < seqs.size(); ++i) {
            for (size_t j = 0; j < seqs[i].tokens.size(); ++j, ++t) {
                b_tokens_[static_cast<size_t>(t)] = seqs[i].tokens[j];
                b_positions_[static_cast<size_t>(t)] = seqs[i].pos + static_cast<int32_t>(j);
                b_seq_[static_cast<size_t>(t)] = static_cast<int32_t>(i);
            }
        }
    }
    const int64_t n_embd = c.n_embd;
    const WeightMatrix& embd = weights_.token_embd;
    GANNET_RETURN_IF_ERROR(kernels::embedding({.table = embd.data,
                                               .dtype = embd.dtype,
                                               .n_vocab = embd.n_out,
                                               .dim = n_embd,
                                               .tokens = b_tokens_.data(),
                                               .n_tokens = n_tokens,
                                               .out = x_.data()}));
    if (c.embd_scale != 1.0f) {
        kernels::scale(x_.data(), c.embd_scale, n_tokens * n_embd);
    }
    for (int64_t l = 0; l < c.n_layers; ++l) {
        GANNET_RETURN_IF_ERROR(paged_attention_block(l, seqs, kv, pool));
        GANNET_RETURN_IF_ERROR(ffn_block(l, n_tokens, pool));
    }
    if (n_rows == 0) {
        return std::span<const float>();
    }
    // Gather the last row of each sequence that needs logits, then one matmul for all of them.
    {
        int64_t t = 0;
        int64_t r = 0;
        for (const BatchSeq& s : seqs) {
            t += static_cast<int64_t>(s.tokens.size());
            if (s.is_logits_needed) {
                kernels::rms_norm(x_.data() + (t - 1) * n_embd, weights_.output_norm.data(), xb_.data() + r * n_embd,
                                  1, n_embd, c.norm_eps);
                ++r;
            }
        }
    }
    const WeightMatrix& out = weights_.output;
    GANNET_RETURN_IF_ERROR(project(out, xb_.data(), logits_.data(), n_rows, pool));
    if (c.final_softcap > 0.0f) {
        kernels::softcap(logits_.data(), c.final_softcap, n_rows * c.n_vocab);
    }
    return std::span<const float>(logits_.data(), static_cast<size_t>(n_rows * c.n_vocab));
}

Status Model::paged_attention_block(int64_t layer, std::span<const BatchSeq> seqs, kvcache::KvStorage& kv,
                                    ThreadPool& pool) {
    const LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
    const ModelConfig& c = cfg_;
    const kvcache::KvCacheLayout& lay = kv.layout();
    int64_t n_tokens = 0;
    for (const BatchSeq& s : seqs) {
        n_tokens += static_cast<int64_t>(s.tokens.size());
    }
    float* k_rows = b_k_.data();
    float* v_rows = b_v_.data();
    GANNET_RETURN_IF_ERROR(qkv_block(layer, b_positions_.data(), n_tokens, k_rows, v_rows, pool));
    const bool is_sliding = c.is_sliding(layer);

    // Write K/V into the blocks and fold keys into the block summaries.
    const int64_t hd = c.head_dim_k;
    const int32_t bs = lay.block_size;
    const int32_t li = static_cast<int32_t>(layer);
    // Quantized and half types go through the row quantizer; the summary sees the float key.
    const kvcache::KvDType kv_dtype = lay.dtype;
    const tensor::DType row_dtype = tensor_dtype(kv_dtype);
    const bool is_f32 = kv_dtype == kvcache::KvDType::kF32;
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

    // Attention: one (token, head) pair at a time, positions in ascending order, so a row's result
    // depends only on its own sequence's cache.
    const int64_t group = c.n_heads / c.n_kv_heads;
    const int64_t window = is_sliding ? c.sliding_window : 0;
    const int64_t n_pairs = n_tokens * c.n_heads;
    int64_t max_kv = 0;
    for (const BatchSeq& s : seqs) {
        max_kv = std::max<int64_t>(max_kv, s.pos + static_cast<int64_t>(s.tokens.size()));
    }
    const int n_threads = pool.n_threads();
    std::vector<float>& scores_all = b_scores_;
    const kvcache::KvStorage& ckv = kv;
    float* tiles_all = b_tile_.data();
    pool.run([&](int thread) {
        const int64_t p0 = n_pairs * thread / n_threads;
        const int64_t p1 = n_pairs * (thread + 1) / n_threads;
        float* scores = scores_all.data() + static_cast<int64_t>(thread) * max_kv;
        float* tile = is_f32 ? nullptr : tiles_all + static_cast<int64_t>(thread) * bs * hd;
        // Rows [r0, r1) of a [block_size, head_dim] tile as floats: the cache itself for f32, else
        // dequantized into this thread's scratch (rows of whole q8_0/q4_0 blocks are contiguous, so
        // a run of rows is one dequantize_row call). Row r0 is at the returned pointer.
        auto rows = [&](const std::byte* tile_base, int64_t r0, int64_t r1) -> const float* {
            const std::byte* src = tile_base + static_cast<size_t>(r0) * row_bytes;
            if (is_f32) {
                return reinterpret_cast<const float*>(src);
            }
            const Status st = tensor::dequantize_row(row_dtype, src, tile, (r1 - r0) * hd);
            GANNET_CHECK(st.ok());  // the layout was validated, so the type and size are dequantizable
            return tile;
        };
        for (int64_t p = p0; p < p1; ++p) {
            const int64_t t = p / c.n_heads;
            const int64_t h = p % c.n_heads;
            const int32_t g = static_cast<int32_t>(h / group);
            const BatchSeq& s = seqs[static_cast<size_t>(b_seq_[static_cast<size_t>(t)])];
            const int64_t pos = b_positions_[static_cast<size_t>(t)];
            const int64_t j0 = window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
            const float* q = q_.data() + t * c.q_dim() + h * hd;
            float mx = -std::numeric_limits<float>::infinity();
            for (int64_t jb = j0; jb <= pos;) {
                const int64_t r0 = jb % bs;
                const int64_t r1 = std::min<int64_t>(bs, r0 + (pos + 1 - jb));
                const kvcache::BlockId b = s.block_table[static_cast<size_t>(jb / bs)];
                const float* krows = rows(ckv.k(b, li, g), r0, r1);
                for (int64_t r = r0; r < r1; ++r, ++jb) {
                    float dot = dot_f32(q, krows + (r - r0) * hd, hd) * c.attn_scale;
                    if (c.attn_softcap > 0.0f) {
                        dot = c.attn_softcap * std::tanh(dot / c.attn_softcap);
                    }
                    scores[jb] = dot;
                    mx = std::max(mx, dot);
                }
            }
            float sum = 0.0f;
            for (int64_t j = j0; j <= pos; ++j) {
                scores[j] = std::exp(scores[j] - mx);
                sum += scores[j];
            }
            const float inv = 1.0f / sum;
            float* o = att_.data() + t * c.n_heads * c.head_dim_v + h * c.head_dim_v;
            std::fill(o, o + c.head_dim_v, 0.0f);
            for (int64_t jb = j0; jb <= pos;) {
                const int64_t r0 = jb % bs;
                const int64_t r1 = std::min<int64_t>(bs, r0 + (pos + 1 - jb));
                const kvcache::BlockId b = s.block_table[static_cast<size_t>(jb / bs)];
                const float* vrows = rows(ckv.v(b, li, g), r0, r1);
                for (int64_t r = r0; r < r1; ++r, ++jb) {
                    const float* v = vrows + (r - r0) * hd;
                    const float pj = scores[jb] * inv;
                    for (int64_t d = 0; d < c.head_dim_v; ++d) {
                        o[d] += pj * v[d];
                    }
                }
            }
        }
    });
    GANNET_RETURN_IF_ERROR(project(w.wo, att_.data(), out_.data(), n_tokens, pool));
    if (!w.post_attention_norm.empty()) {
        kernels::rms_norm(out_.data(), w.post_attention_norm.data(), out_.data(), n_tokens, c.n_embd, c.norm_eps);
    }
    kernels::add(x_.data(), out_.data(), x_.data(), n_tokens * c.n_embd);
    return Status();
}

}  // namespace gannet::model
