// gemma4: the text tower of Gemma 4 (transformers' gemma4_unified, the encoder-free multimodal
// model of issue #20). Like gemma3 (scaled embeddings, QK-norm, GeGLU with tanh GELU, pre and post
// norms, sliding and global layers) with these differences: RMSNorm multiplies by w itself (stored
// as is, no 1 + w), the attention scale is 1 (QK-norm already bounds q·k), v is RMS-normed per head
// without a weight, each layer's output is multiplied by blk.N.layer_output_scale, and which layers
// slide is a per-layer flag array (<arch>.attention.sliding_window_pattern), and on sliding layers
// an image's soft tokens see the whole image (gemma4.attention.bidirectional_vision, default true as
// transformers' use_bidirectional_attention "vision"; generate() builds that mask). Features of the real
// 12B that this forward does not have are refused by name rather than computed wrongly: a different
// head size on global layers, partial ("proportional") rope, and KV sharing across layers.
#include <cmath>

#include "base/result.h"
#include "model/arch/arch.h"

namespace gannet::model {

namespace {
constexpr float kGemma4LocalRopeBase = 10000.0f;
}  // namespace

Status configure_gemma4(const gguf::File& file, ModelConfig& cfg) {
    cfg.arch = Arch::kGemma4;
    cfg.rope_style = kernels::RopeStyle::kNeox;
    cfg.ffn = FfnKind::kGeGlu;
    cfg.has_qk_norm = true;
    cfg.has_post_norms = true;
    cfg.has_v_norm = true;
    cfg.embd_scale = std::sqrt(static_cast<float>(cfg.n_embd));
    cfg.attn_scale = 1.0f;
    GANNET_ASSIGN_OR_RETURN(cfg.is_vision_bidirectional,
                            file.get_bool_or("gemma4.attention.bidirectional_vision", true));
    if (cfg.head_dim_k != cfg.head_dim_v) {
        return make_error(ErrorCode::kUnimplemented, "model: gemma4.attention.value_length %lld != key_length %lld",
                          static_cast<long long>(cfg.head_dim_v), static_cast<long long>(cfg.head_dim_k));
    }
    GANNET_ASSIGN_OR_RETURN(const int64_t head_swa, file.get_int_or("gemma4.attention.key_length_swa", cfg.head_dim_k));
    if (head_swa != cfg.head_dim_k) {
        return make_error(ErrorCode::kUnimplemented,
                          "model: gemma4.attention.key_length_swa is %lld, key_length %lld: per-layer head sizes "
                          "are not supported",
                          static_cast<long long>(head_swa), static_cast<long long>(cfg.head_dim_k));
    }
    if (cfg.n_rot != cfg.head_dim_k) {
        return make_error(ErrorCode::kUnimplemented,
                          "model: gemma4.rope.dimension_count is %lld, expected %lld (partial rope is not supported)",
                          static_cast<long long>(cfg.n_rot), static_cast<long long>(cfg.head_dim_k));
    }
    GANNET_ASSIGN_OR_RETURN(const int64_t shared, file.get_int_or("gemma4.attention.shared_kv_layers", 0));
    if (shared != 0) {
        return make_error(ErrorCode::kUnimplemented,
                          "model: gemma4.attention.shared_kv_layers is %lld, expected 0 (KV sharing is not supported)",
                          static_cast<long long>(shared));
    }
    GANNET_ASSIGN_OR_RETURN(const double base_swa,
                            file.get_float_or("gemma4.rope.freq_base_swa", kGemma4LocalRopeBase));
    if (!(base_swa > 0.0)) {
        return make_error(ErrorCode::kDataLoss, "model: gemma4.rope.freq_base_swa is %g, expected > 0", base_swa);
    }
    cfg.rope_freq_base_swa = static_cast<float>(base_swa);
    GANNET_ASSIGN_OR_RETURN(cfg.sliding_window, file.get_int_or("gemma4.attention.sliding_window", 0));
    if (cfg.sliding_window < 0 || cfg.sliding_window > kMaxSlidingWindow) {
        return make_error(ErrorCode::kDataLoss, "model: gemma4.attention.sliding_window is %lld, expected 0..%lld",
                          static_cast<long long>(cfg.sliding_window), static_cast<long long>(kMaxSlidingWindow));
    }
    if (cfg.sliding_window > 0) {
        Result<std::span<const int64_t>> pattern = file.get_ints("gemma4.attention.sliding_window_pattern");
        if (!pattern.has_value() || static_cast<int64_t>(pattern->size()) != cfg.n_layers) {
            return make_error(ErrorCode::kDataLoss,
                              "model: gemma4.attention.sliding_window_pattern must be an array of %lld bools (one "
                              "per layer): %s",
                              static_cast<long long>(cfg.n_layers),
                              pattern.has_value() ? ("it has " + std::to_string(pattern->size())).c_str()
                                                  : pattern.error().message().c_str());
        }
        for (const int64_t v : *pattern) {
            cfg.sliding_layers.push_back(v != 0 ? 1 : 0);
        }
    }
    GANNET_ASSIGN_OR_RETURN(const double final_cap, file.get_float_or("gemma4.final_logit_softcapping", 0.0));
    GANNET_ASSIGN_OR_RETURN(const double attn_cap, file.get_float_or("gemma4.attn_logit_softcapping", 0.0));
    if (final_cap < 0.0 || attn_cap < 0.0) {
        return make_error(ErrorCode::kDataLoss, "model: gemma4 softcaps must be >= 0, got final %g, attention %g",
                          final_cap, attn_cap);
    }
    cfg.final_softcap = static_cast<float>(final_cap);
    cfg.attn_softcap = static_cast<float>(attn_cap);
    return Status();
}

}  // namespace gannet::model
