#include "model/model_config.h"

#include <cmath>
#include <string_view>

#include "model/arch/arch.h"

namespace gannet::model {
namespace {

// A required positive integer "<arch>.<suffix>".
Result<int64_t> positive_int(const gguf::File& file, const std::string& arch, const char* suffix) {
    const std::string key = arch + "." + suffix;
    Result<int64_t> v = file.get_int(key);
    if (!v.has_value()) {
        if (v.error().code() == ErrorCode::kNotFound) {
            return make_error(ErrorCode::kDataLoss, "model: missing metadata key '%s'", key.c_str());
        }
        return v.error();
    }
    if (*v <= 0) {
        return make_error(ErrorCode::kDataLoss, "model: %s is %lld, expected > 0", key.c_str(),
                          static_cast<long long>(*v));
    }
    return v;
}

Status read_shared(const gguf::File& file, ModelConfig& c) {
    const std::string& a = c.arch_name;
    GANNET_ASSIGN_OR_RETURN(c.n_ctx_train, positive_int(file, a, "context_length"));
    GANNET_ASSIGN_OR_RETURN(c.n_embd, positive_int(file, a, "embedding_length"));
    GANNET_ASSIGN_OR_RETURN(c.n_layers, positive_int(file, a, "block_count"));
    GANNET_ASSIGN_OR_RETURN(c.n_ff, positive_int(file, a, "feed_forward_length"));
    GANNET_ASSIGN_OR_RETURN(c.n_heads, positive_int(file, a, "attention.head_count"));
    GANNET_ASSIGN_OR_RETURN(c.n_kv_heads, file.get_int_or(a + ".attention.head_count_kv", c.n_heads));
    GANNET_ASSIGN_OR_RETURN(c.head_dim_k, file.get_int_or(a + ".attention.key_length", c.n_embd / c.n_heads));
    GANNET_ASSIGN_OR_RETURN(c.head_dim_v, file.get_int_or(a + ".attention.value_length", c.head_dim_k));
    GANNET_ASSIGN_OR_RETURN(c.n_rot, file.get_int_or(a + ".rope.dimension_count", c.head_dim_k));
    GANNET_ASSIGN_OR_RETURN(const double eps, file.get_float_or(a + ".attention.layer_norm_rms_epsilon", 1e-5));
    GANNET_ASSIGN_OR_RETURN(const double base, file.get_float_or(a + ".rope.freq_base", 10000.0));
    c.norm_eps = static_cast<float>(eps);
    c.rope_freq_base = static_cast<float>(base);
    if (c.n_kv_heads <= 0 || c.n_heads % c.n_kv_heads != 0) {
        return make_error(ErrorCode::kDataLoss, "model: %s.attention.head_count_kv is %lld, expected a divisor of %lld",
                          a.c_str(), static_cast<long long>(c.n_kv_heads), static_cast<long long>(c.n_heads));
    }
    if (c.head_dim_k <= 0 || c.head_dim_v <= 0) {
        return make_error(ErrorCode::kDataLoss, "model: head dims %lld/%lld must be > 0",
                          static_cast<long long>(c.head_dim_k), static_cast<long long>(c.head_dim_v));
    }
    if (c.n_rot <= 0 || c.n_rot % 2 != 0 || c.n_rot > c.head_dim_k || c.n_rot > 1024) {
        return make_error(ErrorCode::kDataLoss, "model: %s.rope.dimension_count is %lld, expected even and <= %lld",
                          a.c_str(), static_cast<long long>(c.n_rot), static_cast<long long>(c.head_dim_k));
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
    } else {
        return make_error(ErrorCode::kUnimplemented,
                          "model: unsupported architecture '%s' (supported: llama, qwen2, qwen3, gemma3)",
                          c.arch_name.c_str());
    }
    GANNET_RETURN_IF_ERROR(read_shared(file, c));
    GANNET_RETURN_IF_ERROR(read_rope_scaling(file, c));
    const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight");
    if (embd == nullptr || embd->shape.size() != 2) {
        return make_error(ErrorCode::kDataLoss, "model: missing 2-d tensor 'token_embd.weight'");
    }
    c.n_vocab = embd->shape[1];
    GANNET_RETURN_IF_ERROR(configure(file, c));
    if (c.attn_scale == 0.0f) {
        GANNET_ASSIGN_OR_RETURN(const double scale, file.get_float_or(c.arch_name + ".attention.scale", 0.0));
        c.attn_scale = scale > 0.0 ? static_cast<float>(scale) : 1.0f / std::sqrt(static_cast<float>(c.head_dim_k));
    }
    return c;
}

}  // namespace gannet::model
