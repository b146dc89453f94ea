// gemma3: embeddings scaled by sqrt(n_embd), QK-norm, GeGLU (tanh GELU), norms after attention and
// after the FFN as well as before, and local sliding-window layers interleaved with global ones:
// every 6th layer is global (as Hugging Face's layer_types and llama.cpp define it). Local layers
// use rope base 10000 and no rope scaling; global layers use <arch>.rope.freq_base and scaling.
// Gemma's RMSNorm multiplies by (1 + w); the converter stores 1 + w, so the norm op is unchanged.
#include <cmath>

#include "base/result.h"
#include "model/arch/arch.h"

namespace gannet::model {

namespace {
constexpr int64_t kGemma3SwaPattern = 6;
constexpr float kGemma3LocalRopeBase = 10000.0f;
}  // namespace

Status configure_gemma3(const gguf::File& file, ModelConfig& cfg) {
    cfg.arch = Arch::kGemma3;
    cfg.rope_style = kernels::RopeStyle::kNeox;
    cfg.ffn = FfnKind::kGeGlu;
    cfg.has_qk_norm = true;
    cfg.has_post_norms = true;
    cfg.embd_scale = std::sqrt(static_cast<float>(cfg.n_embd));
    cfg.rope_freq_base_swa = kGemma3LocalRopeBase;
    GANNET_ASSIGN_OR_RETURN(cfg.sliding_window, file.get_int_or("gemma3.attention.sliding_window", 0));
    if (cfg.sliding_window < 0 || cfg.sliding_window > kMaxSlidingWindow) {
        return make_error(ErrorCode::kDataLoss, "model: gemma3.attention.sliding_window is %lld, expected 0..%lld",
                          static_cast<long long>(cfg.sliding_window), static_cast<long long>(kMaxSlidingWindow));
    }
    cfg.swa_pattern = kGemma3SwaPattern;
    GANNET_ASSIGN_OR_RETURN(const double final_cap, file.get_float_or("gemma3.final_logit_softcapping", 0.0));
    GANNET_ASSIGN_OR_RETURN(const double attn_cap, file.get_float_or("gemma3.attn_logit_softcapping", 0.0));
    cfg.final_softcap = static_cast<float>(final_cap);
    cfg.attn_softcap = static_cast<float>(attn_cap);
    return Status();
}

}  // namespace gannet::model
