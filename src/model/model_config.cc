#include "model/model_config.h"

#include <algorithm>
#include <cmath>
#include <string_view>

#include "model/arch/arch.h"

namespace gannet::model {
namespace {

Result<int64_t> check_range(const std::string& key, int64_t v, int64_t max) {
    if (v < 1 || v > max) {
        return make_error(ErrorCode::kDataLoss, "model: %s is %lld, expected 1..%lld", key.c_str(),
                          static_cast<long long>(v), static_cast<long long>(max));
    }
    return v;
}

// A required integer "<arch>.<suffix>" in [1, max]. The maxima keep every product of two
// hyperparameters (q_dim = n_heads * head_dim, ...) far from overflow and stop a hostile value from
// sizing a buffer before the tensors' shapes, which the parser checked against the file, are compared.
Result<int64_t> bounded_int(const gguf::File& file, const std::string& arch, const char* suffix, int64_t max) {
    const std::string key = arch + "." + suffix;
    Result<int64_t> v = file.get_int(key);
    if (!v.has_value()) {
        if (v.error().code() == ErrorCode::kNotFound) {
            return make_error(ErrorCode::kDataLoss, "model: missing metadata key '%s'", key.c_str());
        }
        return v.error();
    }
    return check_range(key, *v, max);
}

// An optional integer key in [1, max], `fallback` when absent (the fallback is range-checked too:
// it is derived from other keys).
Result<int64_t> bounded_int_or(const gguf::File& file, const std::string& key, int64_t fallback, int64_t max) {
    GANNET_ASSIGN_OR_RETURN(const int64_t v, file.get_int_or(key, fallback));
    return check_range(key, v, max);
}

// Every layer needs at least its nine tensors (two norms, four attention and three FFN matrices)
// and the model token_embd and output_norm, so a block count the tensor directory cannot back is
// refused here, before anything is sized by it.
Status check_layers_fit(const gguf::File& file, const ModelConfig& c) {
    constexpr int64_t kMinTensorsPerLayer = 9;
    const auto n_tensors = static_cast<int64_t>(file.tensors().size());
    if (c.n_layers > (n_tensors - 2) / kMinTensorsPerLayer) {
        return make_error(ErrorCode::kDataLoss,
                          "model: %s.block_count is %lld, but the file has %lld tensors (a layer needs %lld), so at "
                          "most %lld layers",
                          c.arch_name.c_str(), static_cast<long long>(c.n_layers), static_cast<long long>(n_tensors),
                          static_cast<long long>(kMinTensorsPerLayer),
                          static_cast<long long>(std::max<int64_t>(0, (n_tensors - 2) / kMinTensorsPerLayer)));
    }
    return Status();
}

Status read_shared(const gguf::File& file, ModelConfig& c) {
    const std::string& a = c.arch_name;
    GANNET_ASSIGN_OR_RETURN(c.n_ctx_train, bounded_int(file, a, "context_length", kMaxContextLength));
    GANNET_ASSIGN_OR_RETURN(c.n_embd, bounded_int(file, a, "embedding_length", kMaxEmbd));
    GANNET_ASSIGN_OR_RETURN(c.n_layers, bounded_int(file, a, "block_count", kMaxLayers));
    GANNET_RETURN_IF_ERROR(check_layers_fit(file, c));
    GANNET_ASSIGN_OR_RETURN(c.n_ff, bounded_int(file, a, "feed_forward_length", kMaxFf));
    GANNET_ASSIGN_OR_RETURN(c.n_heads, bounded_int(file, a, "attention.head_count", kMaxHeads));
    GANNET_ASSIGN_OR_RETURN(c.n_kv_heads, bounded_int_or(file, a + ".attention.head_count_kv", c.n_heads, kMaxHeads));
    GANNET_ASSIGN_OR_RETURN(c.head_dim_k,
                            bounded_int_or(file, a + ".attention.key_length", c.n_embd / c.n_heads, kMaxHeadDim));
    GANNET_ASSIGN_OR_RETURN(c.head_dim_v,
                            bounded_int_or(file, a + ".attention.value_length", c.head_dim_k, kMaxHeadDim));
    GANNET_ASSIGN_OR_RETURN(c.n_rot, file.get_int_or(a + ".rope.dimension_count", c.head_dim_k));
    GANNET_ASSIGN_OR_RETURN(const double eps, file.get_float_or(a + ".attention.layer_norm_rms_epsilon", 1e-5));
    GANNET_ASSIGN_OR_RETURN(const double base, file.get_float_or(a + ".rope.freq_base", 10000.0));
    c.norm_eps = static_cast<float>(eps);
    c.rope_freq_base = static_cast<float>(base);
    if (c.n_heads % c.n_kv_heads != 0) {
        return make_error(ErrorCode::kDataLoss, "model: %s.attention.head_count_kv is %lld, expected a divisor of %lld",
                          a.c_str(), static_cast<long long>(c.n_kv_heads), static_cast<long long>(c.n_heads));
    }
    const int64_t max_rot = std::min(c.head_dim_k, kMaxRopeDims);
    if (c.n_rot <= 0 || c.n_rot % 2 != 0 || c.n_rot > max_rot) {
        return make_error(ErrorCode::kDataLoss,
                          "model: %s.rope.dimension_count is %lld, expected even and in [2, %lld]", a.c_str(),
                          static_cast<long long>(c.n_rot), static_cast<long long>(max_rot));
    }
    if (!(c.norm_eps > 0.0f) || !(c.rope_freq_base > 0.0f)) {
        return make_error(ErrorCode::kDataLoss, "model: rms epsilon %g and rope base %g must be > 0", eps, base);
    }
    return Status();
}

// Linear rope scaling is supported; llama 3's scaling comes as a tensor (rope_freqs.weight) with
// no type key. Anything else (yarn, longrope) would silently give wrong logits, so it is refused.
Status read_rope_scaling(const gguf::File& file, ModelConfig& c) {
    const std::string& a = c.arch_name;
    Result<std::string> type = file.get_string(a + ".rope.scaling.type");
    const std::string kind = type.has_value() ? *type : "none";
    GANNET_ASSIGN_OR_RETURN(const double factor, file.get_float_or(a + ".rope.scaling.factor", 0.0));
    if (kind == "none" || kind == "llama3" || (kind == "linear" && factor == 0.0)) {
        return Status();
    }
    if (kind == "linear") {
        if (!(factor > 0.0)) {
            return make_error(ErrorCode::kDataLoss, "model: %s.rope.scaling.factor is %g, expected > 0", a.c_str(),
                              factor);
        }
        c.rope_freq_scale = static_cast<float>(1.0 / factor);
        return Status();
    }
    return make_error(ErrorCode::kUnimplemented, "model: rope scaling '%s' is not supported (only linear, llama3)",
                      kind.c_str());
}

}  // namespace

Status check_cuda_support(const ModelConfig& c) {
    if (c.arch == Arch::kMinimaxM3 || c.ffn == FfnKind::kSwiGluOai || c.sparse.has_index) {
        return make_error(ErrorCode::kUnimplemented,
                          "model: %s runs on the CPU only (no CUDA kernels for its SwiGLU-OAI FFN and MSA index "
                          "branch yet); use --device cpu",
                          c.arch_name.c_str());
    }
    return Status();
}

Result<ModelConfig> read_model_config(const gguf::File& file) {
    Result<std::string> arch = file.get_string("general.architecture");
    if (!arch.has_value()) {
        return make_error(ErrorCode::kDataLoss, "model: missing or bad 'general.architecture': %s",
                          arch.error().message().c_str());
    }
    ModelConfig c;
    c.arch_name = *arch;
    using ConfigureFn = Status (*)(const gguf::File&, ModelConfig&);
    ConfigureFn configure = nullptr;
    if (c.arch_name == "llama") {
        configure = configure_llama;
    } else if (c.arch_name == "qwen2") {
        configure = configure_qwen2;
    } else if (c.arch_name == "qwen3") {
        configure = configure_qwen3;
    } else if (c.arch_name == "gemma3") {
        configure = configure_gemma3;
    } else if (c.arch_name == "gemma4") {
        configure = configure_gemma4;
    } else if (c.arch_name == "diffusion_gemma") {
        configure = configure_diffusion_gemma;
    } else if (c.arch_name == "minimax-m3") {
        configure = configure_minimax_m3;
    } else {
        return make_error(ErrorCode::kUnimplemented,
                          "model: unsupported architecture '%s' (supported: llama, qwen2, qwen3, gemma3, gemma4, "
                          "diffusion_gemma, minimax-m3)",
                          c.arch_name.c_str());
    }
    GANNET_RETURN_IF_ERROR(read_shared(file, c));
    GANNET_RETURN_IF_ERROR(read_rope_scaling(file, c));
    const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight");
    if (embd == nullptr || embd->shape.size() != 2) {
        return make_error(ErrorCode::kDataLoss, "model: missing 2-d tensor 'token_embd.weight'");
    }
    c.n_vocab = embd->shape[1];
    if (c.n_vocab < 1 || c.n_vocab > kMaxVocab) {
        return make_error(ErrorCode::kDataLoss, "model: token_embd.weight has %lld rows (n_vocab), expected 1..%lld",
                          static_cast<long long>(c.n_vocab), static_cast<long long>(kMaxVocab));
    }
    GANNET_RETURN_IF_ERROR(configure(file, c));
    if (c.attn_scale == 0.0f) {
        GANNET_ASSIGN_OR_RETURN(const double scale, file.get_float_or(c.arch_name + ".attention.scale", 0.0));
        c.attn_scale = scale > 0.0 ? static_cast<float>(scale) : 1.0f / std::sqrt(static_cast<float>(c.head_dim_k));
    }
    return c;
}

}  // namespace gannet::model
