// diffusion_gemma: DiffusionGemma's text model (transformers' modeling_diffusion_gemma.py, #18),
// one weight set run in two modes: the causal encoder (forward_batch, writes the KV cache) and the
// bidirectional decoder over a canvas (forward_canvas, reads the cache, writes nothing). Its blocks
// are Gemma 4's: embeddings scaled by sqrt(n_embd); QK-norm and a weightless V-norm per head;
// attention scale 1.0; global layers have no v_proj (V = the raw k projection) and "proportional"
// rope (only the first global_partial_rotary_factor * head_dim / 2 pairs rotate, with exponents
// over the whole head), sliding layers default rope (base 10000) over the whole head; GeGLU; norms
// before and after attention and the FFN, plus post_feedforward_layernorm_1 on the FFN output;
// RMSNorm multiplies by w (not 1 + w; stored as is); final logits softcapped (30). The layer
// pattern is transformers' default: every 6th layer global, and the last one always.
// Dense FFN only: the MoE branch of the released 26B-A4B model is not supported (our models are
// dense; training/diffusion_gguf.py refuses to drop nonzero experts). Global layers must share the
// sliding layers' head_dim and kv heads (one paged-cache layout), as in our models.
#include <cmath>

#include "base/result.h"
#include "model/arch/arch.h"

namespace gannet::model {

namespace {
constexpr int64_t kDefaultSwaPattern = 6;
constexpr double kDefaultRopeBaseSwa = 10000.0;
constexpr double kDefaultGlobalRopeFraction = 0.25;
constexpr double kDefaultFinalSoftcap = 30.0;  // DiffusionGemmaTextConfig.final_logit_softcapping
constexpr int64_t kMaxCanvasLength = 4096;
}  // namespace

Status configure_diffusion_gemma(const gguf::File& file, ModelConfig& cfg) {
    cfg.arch = Arch::kDiffusionGemma;
    cfg.rope_style = kernels::RopeStyle::kNeox;
    cfg.ffn = FfnKind::kGeGlu;
    cfg.has_qk_norm = true;
    cfg.has_post_norms = true;
    cfg.has_v_norm = true;
    cfg.is_global_v_from_k = true;
    cfg.has_ffn_post_norm_1 = true;
    cfg.is_last_layer_global = true;
    cfg.attn_scale = 1.0f;  // QK-norm makes the 1/sqrt(d) unnecessary (HF: self.scaling = 1.0)
    cfg.embd_scale = std::sqrt(static_cast<float>(cfg.n_embd));
    GANNET_ASSIGN_OR_RETURN(cfg.canvas_length, file.get_int_or("diffusion_gemma.canvas_length", 0));
    if (cfg.canvas_length < 1 || cfg.canvas_length > kMaxCanvasLength) {
        return make_error(ErrorCode::kDataLoss, "model: diffusion_gemma.canvas_length is %lld, expected 1..%lld",
                          static_cast<long long>(cfg.canvas_length), static_cast<long long>(kMaxCanvasLength));
    }
    GANNET_ASSIGN_OR_RETURN(cfg.sliding_window, file.get_int_or("diffusion_gemma.attention.sliding_window", 0));
    if (cfg.sliding_window < 0 || cfg.sliding_window > kMaxSlidingWindow) {
        return make_error(ErrorCode::kDataLoss,
                          "model: diffusion_gemma.attention.sliding_window is %lld, expected 0..%lld",
                          static_cast<long long>(cfg.sliding_window), static_cast<long long>(kMaxSlidingWindow));
    }
    GANNET_ASSIGN_OR_RETURN(cfg.swa_pattern,
                            file.get_int_or("diffusion_gemma.attention.sliding_window_pattern", kDefaultSwaPattern));
    if (cfg.swa_pattern < 1 || cfg.swa_pattern > kMaxLayers) {
        return make_error(ErrorCode::kDataLoss,
                          "model: diffusion_gemma.attention.sliding_window_pattern is %lld, expected 1..%lld",
                          static_cast<long long>(cfg.swa_pattern), static_cast<long long>(kMaxLayers));
    }
    GANNET_ASSIGN_OR_RETURN(const double base_swa,
                            file.get_float_or("diffusion_gemma.rope.freq_base_swa", kDefaultRopeBaseSwa));
    GANNET_ASSIGN_OR_RETURN(const double frac, file.get_float_or("diffusion_gemma.rope.global_partial_rotary_factor",
                                                                 kDefaultGlobalRopeFraction));
    GANNET_ASSIGN_OR_RETURN(const double cap,
                            file.get_float_or("diffusion_gemma.final_logit_softcapping", kDefaultFinalSoftcap));
    if (!(base_swa > 0.0) || !(frac > 0.0 && frac <= 1.0) || !(cap >= 0.0)) {
        return make_error(ErrorCode::kDataLoss,
                          "model: diffusion_gemma rope.freq_base_swa %g (expected > 0), "
                          "rope.global_partial_rotary_factor %g (expected in (0, 1]), final_logit_softcapping %g "
                          "(expected >= 0)",
                          base_swa, frac, cap);
    }
    cfg.rope_freq_base_swa = static_cast<float>(base_swa);
    cfg.global_rope_fraction = static_cast<float>(frac);
    cfg.final_softcap = static_cast<float>(cap);
    // V = K on global layers and one cache layout for all layers: the value width is the key width,
    // and rope covers the whole head (the proportional rope is expressed as per-pair factors).
    if (cfg.head_dim_v != cfg.head_dim_k || cfg.n_rot != cfg.head_dim_k) {
        return make_error(ErrorCode::kDataLoss,
                          "model: diffusion_gemma.attention.value_length %lld and rope.dimension_count %lld must "
                          "equal attention.key_length %lld",
                          static_cast<long long>(cfg.head_dim_v), static_cast<long long>(cfg.n_rot),
                          static_cast<long long>(cfg.head_dim_k));
    }
    return Status();
}

}  // namespace gannet::model
