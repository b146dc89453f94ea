// Per-architecture configuration: each function fills the variant switches of ModelConfig for its
// architecture after the shared hyperparameters have been read. One architecture per file
// (llama.cc, qwen.cc, gemma3.cc, gemma4.cc, diffusion_gemma.cc, minimax_m3.cc). Owner: model.
// Thread-safety: pure.
#pragma once

#include "base/status.h"
#include "gguf/gguf_file.h"
#include "model/model_config.h"

namespace gannet::model {

Status configure_llama(const gguf::File& file, ModelConfig& cfg);
Status configure_qwen2(const gguf::File& file, ModelConfig& cfg);
Status configure_qwen3(const gguf::File& file, ModelConfig& cfg);
Status configure_gemma3(const gguf::File& file, ModelConfig& cfg);
Status configure_gemma4(const gguf::File& file, ModelConfig& cfg);
Status configure_diffusion_gemma(const gguf::File& file, ModelConfig& cfg);
Status configure_minimax_m3(const gguf::File& file, ModelConfig& cfg);

}  // namespace gannet::model
