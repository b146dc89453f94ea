// qwen2 and qwen3: llama's block with rope over half-split pairs (neox layout). qwen2 adds biases to
// the q/k/v projections; qwen3 drops them and RMS-normalizes each head of q and k before rope.
#include "model/arch/arch.h"

namespace gannet::model {

Status configure_qwen2(const gguf::File& /*file*/, ModelConfig& cfg) {
    cfg.arch = Arch::kQwen2;
    cfg.rope_style = kernels::RopeStyle::kNeox;
    cfg.ffn = FfnKind::kSwiGlu;
    cfg.has_qkv_bias = true;
    return Status();
}

Status configure_qwen3(const gguf::File& /*file*/, ModelConfig& cfg) {
    cfg.arch = Arch::kQwen3;
    cfg.rope_style = kernels::RopeStyle::kNeox;
    cfg.ffn = FfnKind::kSwiGlu;
    cfg.has_qk_norm = true;
    return Status();
}

}  // namespace gannet::model
