// Rotary position embedding, applied in place to the query or key rows of a batch of tokens.
// Two pair layouts exist: kNormal rotates adjacent pairs (x[2i], x[2i+1]) — llama after the GGUF
// converter's Q/K permutation — and kNeox rotates (x[i], x[i + n_rot/2]) — qwen2/qwen3/gemma3.
// Only the first n_rot dimensions of each head rotate (partial rotary); the rest pass through.
// Thread-safety: pure.
#pragma once

#include <cstdint>

namespace gannet::kernels {

enum class RopeStyle { kNormal, kNeox };

struct RopeArgs {
    float* x = nullptr;                  // [n_tokens, n_heads, head_dim], rotated in place
    const int32_t* positions = nullptr;  // [n_tokens]
    int64_t n_tokens = 0;
    int64_t n_heads = 0;
    int64_t head_dim = 0;
    int64_t n_rot = 0;  // rotated dims per head, even, <= head_dim
    float freq_base = 10000.0f;
    float freq_scale = 1.0f;              // linear scaling: angle uses pos * freq_scale
    const float* freq_factors = nullptr;  // [n_rot / 2] or null; llama3 scaling divides each angle
    RopeStyle style = RopeStyle::kNormal;
};

// Angle of pair i at position pos: pos * freq_scale * freq_base^(-2i / n_rot) / freq_factors[i].
void rope(const RopeArgs& a);

}  // namespace gannet::kernels
