// The transformer block shared by every architecture: pre-norm attention and FFN sub-blocks with
// the variant switches of ModelConfig (biases, QK-norm, post-norms, sliding windows, GeGLU).
// With an f32 cache, keys and values are projected straight into the cache rows of their positions
// (positions are consecutive), so nothing is copied; other cache types go through staging rows.
#include <algorithm>

#include "kernels/ops/activation.h"
#include "kernels/ops/attention.h"
#include "kernels/ops/rms_norm.h"
#include "model/model.h"
#include "tensor/quant.h"

namespace gannet::model {

Status Model::qkv_block(int64_t layer, const int32_t* positions, int64_t n_tokens, float* k_rows, float* v_rows,
                        ThreadPool& pool) {
    const LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
    const ModelConfig& c = cfg_;
    kernels::rms_norm(x_.data(), w.attn_norm.data(), xb_.data(), n_tokens, c.n_embd, c.norm_eps);
    GANNET_RETURN_IF_ERROR(project(w.wq, xb_.data(), q_.data(), n_tokens, pool));
    GANNET_RETURN_IF_ERROR(project(w.wk, xb_.data(), k_rows, n_tokens, pool));
    GANNET_RETURN_IF_ERROR(project(w.wv, xb_.data(), v_rows, n_tokens, pool));
    finish_qkv(c, weights_, layer, positions, n_tokens, q_.data(), k_rows, v_rows);
    return Status();
}

Status Model::attention_block(int64_t layer, std::span<const int32_t> positions, KvCache& cache, ThreadPool& pool) {
    const LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
    const ModelConfig& c = cfg_;
    const int64_t n_tokens = static_cast<int64_t>(positions.size());
    const int64_t first = positions.front();
    const int64_t n_kv = positions.back() + 1;
    const bool is_sliding = c.is_sliding(layer);
    const float* k_all = nullptr;  // [n_kv, k_dim] floats attention reads
    const float* v_all = nullptr;
    if (cache.dtype() == tensor::DType::kF32) {
        float* k_rows = cache.k(layer) + first * c.k_dim();  // [n_tokens, k_dim] inside the cache
        float* v_rows = cache.v(layer) + first * c.v_dim();  // [n_tokens, v_dim]
        GANNET_RETURN_IF_ERROR(qkv_block(layer, positions.data(), n_tokens, k_rows, v_rows, pool));
        k_all = cache.k(layer);
        v_all = cache.v(layer);
    } else {
        // Project into float staging rows, store them in the cache type, then read the layer's rows
        // [0, n_kv) back as floats, so new tokens see their own keys as stored (as the paged path does).
        const tensor::DType dt = cache.dtype();
        auto grow = [](std::vector<float>& v, int64_t n) {
            if (static_cast<int64_t>(v.size()) < n) {
                v.resize(static_cast<size_t>(n));
            }
        };
        grow(b_k_, n_tokens * c.k_dim());
        grow(b_v_, n_tokens * c.v_dim());
        // Sized for the whole cache at once, so decode steps (n_kv + 1 each) never reallocate.
        grow(kv_k_f32_, cache.n_ctx() * c.k_dim());
        grow(kv_v_f32_, cache.n_ctx() * c.v_dim());
        GANNET_RETURN_IF_ERROR(qkv_block(layer, positions.data(), n_tokens, b_k_.data(), b_v_.data(), pool));
        std::byte* kq = cache.k_bytes(layer);
        std::byte* vq = cache.v_bytes(layer);
        for (int64_t t = 0; t < n_tokens; ++t) {
            const size_t row = static_cast<size_t>(first + t);
            GANNET_RETURN_IF_ERROR(
                tensor::quantize_row(dt, b_k_.data() + t * c.k_dim(), kq + row * cache.k_row_bytes(), c.k_dim()));
            GANNET_RETURN_IF_ERROR(
                tensor::quantize_row(dt, b_v_.data() + t * c.v_dim(), vq + row * cache.v_row_bytes(), c.v_dim()));
        }
        // A sliding layer only reads the last `window` positions of the first query on; skip the rest.
        const int64_t j0 = is_sliding && c.sliding_window > 0 ? std::max<int64_t>(0, first - c.sliding_window + 1) : 0;
        GANNET_RETURN_IF_ERROR(tensor::dequantize_row(dt, kq + static_cast<size_t>(j0) * cache.k_row_bytes(),
                                                      kv_k_f32_.data() + j0 * c.k_dim(), (n_kv - j0) * c.k_dim()));
        GANNET_RETURN_IF_ERROR(tensor::dequantize_row(dt, vq + static_cast<size_t>(j0) * cache.v_row_bytes(),
                                                      kv_v_f32_.data() + j0 * c.v_dim(), (n_kv - j0) * c.v_dim()));
        k_all = kv_k_f32_.data();
        v_all = kv_v_f32_.data();
    }

    const kernels::AttentionArgs attn{.q = q_.data(),
                                      .positions = positions.data(),
                                      .k = k_all,
                                      .k_stride = c.k_dim(),
                                      .v = v_all,
                                      .v_stride = c.v_dim(),
                                      .out = att_.data(),
                                      .n_tokens = n_tokens,
                                      .n_heads = c.n_heads,
                                      .n_kv_heads = c.n_kv_heads,
                                      .head_dim_k = c.head_dim_k,
                                      .head_dim_v = c.head_dim_v,
                                      .n_kv = n_kv,
                                      .scale = c.attn_scale,
                                      .softcap = c.attn_softcap,
                                      .window = is_sliding ? c.sliding_window : 0};
    GANNET_RETURN_IF_ERROR(kernels::attention(attn, attn_scratch_, pool));
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
    GANNET_RETURN_IF_ERROR(project(w.w_gate, xb_.data(), gate_.data(), n_tokens, pool));
    GANNET_RETURN_IF_ERROR(project(w.w_up, xb_.data(), up_.data(), n_tokens, pool));
    if (c.ffn == FfnKind::kGeGlu) {
        kernels::geglu(gate_.data(), up_.data(), gate_.data(), n_tokens * c.n_ff);
    } else {
        kernels::swiglu(gate_.data(), up_.data(), gate_.data(), n_tokens * c.n_ff);
    }
    GANNET_RETURN_IF_ERROR(project(w.w_down, gate_.data(), out_.data(), n_tokens, pool));
    if (!w.post_ffw_norm.empty()) {
        kernels::rms_norm(out_.data(), w.post_ffw_norm.data(), out_.data(), n_tokens, c.n_embd, c.norm_eps);
    }
    kernels::add(x_.data(), out_.data(), x_.data(), n_tokens * c.n_embd);
    return Status();
}

}  // namespace gannet::model
