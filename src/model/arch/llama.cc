// llama (and llama 2/3, Mistral-style GQA): RMSNorm, SwiGLU, rope over adjacent pairs. The GGUF
// converter permutes the rows of Q and K so the interleaved-pair rope is exact for HF weights.
// llama 3's rope scaling arrives as the rope_freqs.weight tensor and is bound in weights.cc.
#include "model/arch/arch.h"

namespace gannet::model {

Status configure_llama(const gguf::File& /*file*/, ModelConfig& cfg) {
    cfg.arch = Arch::kLlama;
    cfg.rope_style = kernels::RopeStyle::kNormal;
    cfg.ffn = FfnKind::kSwiGlu;
    return Status();
}

}  // namespace gannet::model
