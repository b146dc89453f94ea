#include "model/weights.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/matmul.h"
#include "kernels/ops/activation.h"
#include "kernels/ops/rms_norm.h"
#include "kernels/ops/rope.h"
#include "tensor/quant.h"

namespace gannet::model {
namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        s += (i ? ", " : "") + std::to_string(shape[i]);
    }
    return s + "]";
}

Result<const gguf::TensorInfo*> find_checked(const gguf::File& file, const std::string& name,
                                             const std::vector<int64_t>& shape) {
    const gguf::TensorInfo* info = file.find_tensor(name);
    if (info == nullptr) {
        return make_error(ErrorCode::kDataLoss, "model: missing tensor '%s'", name.c_str());
    }
    if (info->shape != shape) {
        return make_error(ErrorCode::kDataLoss, "model: tensor '%s' has shape %s, expected %s", name.c_str(),
                          shape_str(info->shape).c_str(), shape_str(shape).c_str());
    }
    if (!tensor::can_dequantize(info->dtype) || shape[0] % tensor::block_size(info->dtype) != 0) {
        return make_error(ErrorCode::kDataLoss, "model: tensor '%s' has unsupported dtype %s for rows of %lld",
                          name.c_str(), tensor::dtype_name(info->dtype), static_cast<long long>(shape[0]));
    }
    return info;
}

Result<WeightMatrix> bind_matrix(const gguf::File& file, const std::string& name, int64_t n_in, int64_t n_out) {
    GANNET_ASSIGN_OR_RETURN(const gguf::TensorInfo* info, find_checked(file, name, {n_in, n_out}));
    const std::span<const uint8_t> bytes = file.tensor_data(*info);
    return WeightMatrix{bytes.data(), info->dtype, n_in, n_out, bytes.size()};
}

Result<std::vector<float>> bind_vector(const gguf::File& file, const std::string& name, int64_t n) {
    GANNET_ASSIGN_OR_RETURN(const gguf::TensorInfo* info, find_checked(file, name, {n}));
    std::vector<float> out(static_cast<size_t>(n));
    GANNET_RETURN_IF_ERROR(tensor::dequantize_row(info->dtype, file.tensor_data(*info).data(), out.data(), n));
    return out;
}

// An optional vector: empty when the tensor is absent, an error when present but malformed.
Result<std::vector<float>> bind_optional_vector(const gguf::File& file, const std::string& name, int64_t n) {
    if (file.find_tensor(name) == nullptr) {
        return std::vector<float>();
    }
    return bind_vector(file, name, n);
}

Result<LayerWeights> bind_layer(const gguf::File& file, const ModelConfig& c, int64_t layer) {
    const std::string p = "blk." + std::to_string(layer) + ".";
    LayerWeights w;
    GANNET_ASSIGN_OR_RETURN(w.attn_norm, bind_vector(file, p + "attn_norm.weight", c.n_embd));
    GANNET_ASSIGN_OR_RETURN(w.wq, bind_matrix(file, p + "attn_q.weight", c.n_embd, c.q_dim()));
    GANNET_ASSIGN_OR_RETURN(w.wk, bind_matrix(file, p + "attn_k.weight", c.n_embd, c.k_dim()));
    if (c.is_global_v_from_k && !c.is_sliding(layer)) {
        if (file.find_tensor(p + "attn_v.weight") != nullptr) {
            return make_error(ErrorCode::kDataLoss,
                              "model: tensor '%sattn_v.weight' on global layer %lld of %s, which takes V = K there",
                              p.c_str(), static_cast<long long>(layer), c.arch_name.c_str());
        }
    } else {
        GANNET_ASSIGN_OR_RETURN(w.wv, bind_matrix(file, p + "attn_v.weight", c.n_embd, c.v_dim()));
    }
    GANNET_ASSIGN_OR_RETURN(w.wo, bind_matrix(file, p + "attn_output.weight", c.n_heads * c.head_dim_v, c.n_embd));
    if (c.has_qkv_bias) {
        GANNET_ASSIGN_OR_RETURN(w.bq, bind_vector(file, p + "attn_q.bias", c.q_dim()));
        GANNET_ASSIGN_OR_RETURN(w.bk, bind_vector(file, p + "attn_k.bias", c.k_dim()));
        GANNET_ASSIGN_OR_RETURN(w.bv, bind_vector(file, p + "attn_v.bias", c.v_dim()));
    } else {
        GANNET_ASSIGN_OR_RETURN(w.bq, bind_optional_vector(file, p + "attn_q.bias", c.q_dim()));
        GANNET_ASSIGN_OR_RETURN(w.bk, bind_optional_vector(file, p + "attn_k.bias", c.k_dim()));
        GANNET_ASSIGN_OR_RETURN(w.bv, bind_optional_vector(file, p + "attn_v.bias", c.v_dim()));
    }
    if (c.has_qk_norm) {
        GANNET_ASSIGN_OR_RETURN(w.q_norm, bind_vector(file, p + "attn_q_norm.weight", c.head_dim_k));
        GANNET_ASSIGN_OR_RETURN(w.k_norm, bind_vector(file, p + "attn_k_norm.weight", c.head_dim_k));
    }
    GANNET_ASSIGN_OR_RETURN(w.ffn_norm, bind_vector(file, p + "ffn_norm.weight", c.n_embd));
    GANNET_ASSIGN_OR_RETURN(w.w_gate, bind_matrix(file, p + "ffn_gate.weight", c.n_embd, c.n_ff));
    GANNET_ASSIGN_OR_RETURN(w.w_up, bind_matrix(file, p + "ffn_up.weight", c.n_embd, c.n_ff));
    GANNET_ASSIGN_OR_RETURN(w.w_down, bind_matrix(file, p + "ffn_down.weight", c.n_ff, c.n_embd));
    if (c.sparse.is_sparse_layer(layer)) {
        const SparseAttentionConfig& sp = c.sparse;
        GANNET_ASSIGN_OR_RETURN(w.index_q,
                                bind_matrix(file, p + "index_q.weight", c.n_embd, sp.n_index_heads * sp.index_dim));
        GANNET_ASSIGN_OR_RETURN(w.index_k, bind_matrix(file, p + "index_k.weight", c.n_embd, sp.index_dim));
        GANNET_ASSIGN_OR_RETURN(w.index_q_norm, bind_vector(file, p + "index_q_norm.weight", sp.index_dim));
        GANNET_ASSIGN_OR_RETURN(w.index_k_norm, bind_vector(file, p + "index_k_norm.weight", sp.index_dim));
    }
    if (c.has_post_norms) {
        GANNET_ASSIGN_OR_RETURN(w.post_attention_norm, bind_vector(file, p + "post_attention_norm.weight", c.n_embd));
        GANNET_ASSIGN_OR_RETURN(w.post_ffw_norm, bind_vector(file, p + "post_ffw_norm.weight", c.n_embd));
    }
    if (c.arch == Arch::kGemma4) {
        GANNET_ASSIGN_OR_RETURN(w.layer_scale, bind_optional_vector(file, p + "layer_output_scale.weight", 1));
    }
    if (c.has_ffn_post_norm_1) {
        GANNET_ASSIGN_OR_RETURN(w.ffn_post_norm_1, bind_vector(file, p + "ffn_post_norm_1.weight", c.n_embd));
    }
    return w;
}

}  // namespace

Result<ModelWeights> bind_weights(const gguf::File& file, const ModelConfig& c) {
    ModelWeights w;
    GANNET_ASSIGN_OR_RETURN(w.token_embd, bind_matrix(file, "token_embd.weight", c.n_embd, c.n_vocab));
    GANNET_ASSIGN_OR_RETURN(w.output_norm, bind_vector(file, "output_norm.weight", c.n_embd));
    if (file.find_tensor("output.weight") != nullptr) {
        GANNET_ASSIGN_OR_RETURN(w.output, bind_matrix(file, "output.weight", c.n_embd, c.n_vocab));
    } else {
        w.output = w.token_embd;  // tied embeddings
    }
    GANNET_ASSIGN_OR_RETURN(w.rope_freqs, bind_optional_vector(file, "rope_freqs.weight", c.n_rot / 2));
    if (c.global_rope_fraction > 0.0f) {
        // transformers' proportional rope: int(fraction * head_dim // 2) pairs rotate.
        const auto n_rotating = static_cast<int64_t>(std::floor(c.global_rope_fraction * c.head_dim_k / 2.0f));
        w.rope_factors_global.assign(static_cast<size_t>(c.n_rot / 2), std::numeric_limits<float>::infinity());
        for (int64_t i = 0; i < n_rotating && i < c.n_rot / 2; ++i) {
            w.rope_factors_global[static_cast<size_t>(i)] = 1.0f;
        }
    }
    if (c.has_v_norm || c.is_diffusion()) {
        w.ones.assign(static_cast<size_t>(std::max(c.n_embd, c.head_dim_v)), 1.0f);
    }
    if (c.is_diffusion()) {
        GANNET_ASSIGN_OR_RETURN(w.self_cond.norm, bind_vector(file, "self_cond_norm.weight", c.n_embd));
        GANNET_ASSIGN_OR_RETURN(w.self_cond.gate, bind_matrix(file, "self_cond_gate.weight", c.n_embd, c.n_ff));
        GANNET_ASSIGN_OR_RETURN(w.self_cond.up, bind_matrix(file, "self_cond_up.weight", c.n_embd, c.n_ff));
        GANNET_ASSIGN_OR_RETURN(w.self_cond.down, bind_matrix(file, "self_cond_down.weight", c.n_ff, c.n_embd));
    }
    w.layers.reserve(static_cast<size_t>(c.n_layers));
    for (int64_t l = 0; l < c.n_layers; ++l) {
        GANNET_ASSIGN_OR_RETURN(LayerWeights layer, bind_layer(file, c, l));
        w.layers.push_back(std::move(layer));
    }
    return w;
}

int64_t weight_bytes_per_token(const ModelWeights& w) {
    auto vec_bytes = [](const std::vector<float>& v) {
        return static_cast<int64_t>(v.size() * sizeof(float));
    };
    int64_t total = static_cast<int64_t>(w.output.size_bytes) + vec_bytes(w.output_norm);
    for (const LayerWeights& l : w.layers) {
        for (const WeightMatrix* m :
             {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down, &l.index_q, &l.index_k}) {
            total += static_cast<int64_t>(m->size_bytes);
        }
        for (const std::vector<float>* v :
             {&l.attn_norm, &l.bq, &l.bk, &l.bv, &l.q_norm, &l.k_norm, &l.post_attention_norm, &l.ffn_norm,
              &l.post_ffw_norm, &l.ffn_post_norm_1}) {
            total += vec_bytes(*v);
        }
    }
    return total;
}

Status project(const WeightMatrix& w, const float* x, float* y, int64_t n_tokens, ThreadPool& pool) {
    return kernels::matmul(
        {.w = w.data, .w_dtype = w.dtype, .n_in = w.n_in, .n_out = w.n_out, .n_tokens = n_tokens, .x = x, .y = y},
        pool);
}

void finish_qkv(const ModelConfig& c, const ModelWeights& mw, int64_t layer, const int32_t* positions, int64_t n_tokens,
                float* q, float* k, float* v) {
    const LayerWeights& w = mw.layers[static_cast<size_t>(layer)];
    if (!w.bq.empty()) {
        kernels::add_bias(q, w.bq.data(), n_tokens, c.q_dim());
    }
    if (!w.bk.empty()) {
        kernels::add_bias(k, w.bk.data(), n_tokens, c.k_dim());
    }
    if (!w.bv.empty()) {
        kernels::add_bias(v, w.bv.data(), n_tokens, c.v_dim());
    }
    if (c.has_qk_norm) {
        kernels::rms_norm(q, w.q_norm.data(), q, n_tokens * c.n_heads, c.head_dim_k, c.norm_eps);
        kernels::rms_norm(k, w.k_norm.data(), k, n_tokens * c.n_kv_heads, c.head_dim_k, c.norm_eps);
    }
    if (c.has_v_norm) {
        // Weightless (gemma4, diffusion_gemma): the shared kernel with a gain of ones.
        kernels::rms_norm(v, mw.ones.data(), v, n_tokens * c.n_kv_heads, c.head_dim_v, c.norm_eps);
    }
    const bool is_sliding = c.is_sliding(layer);
    const float* factors = mw.rope_freqs.empty() ? nullptr : mw.rope_freqs.data();
    if (!is_sliding && !mw.rope_factors_global.empty()) {
        factors = mw.rope_factors_global.data();
    }
    kernels::RopeArgs rope{.x = q,
                           .positions = positions,
                           .n_tokens = n_tokens,
                           .n_heads = c.n_heads,
                           .head_dim = c.head_dim_k,
                           .n_rot = c.n_rot,
                           .freq_base = is_sliding ? c.rope_freq_base_swa : c.rope_freq_base,
                           .freq_scale = is_sliding ? 1.0f : c.rope_freq_scale,
                           .freq_factors = factors,
                           .style = c.rope_style};
    kernels::rope(rope);
    rope.x = k;
    rope.n_heads = c.n_kv_heads;
    kernels::rope(rope);
}

}  // namespace gannet::model
