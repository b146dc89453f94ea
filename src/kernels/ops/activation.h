// Element-wise ops of the transformer block: activations, gated units, residual add, scaling,
// softmax and tanh soft-capping. Plain loops the compiler vectorizes; all are memory-bound and
// negligible next to the matmuls. out may alias an input. Thread-safety: pure.
#pragma once

#include <cstdint>

namespace gannet::kernels {

float silu(float x);       // x * sigmoid(x)
float gelu_tanh(float x);  // GELU, tanh approximation (PyTorch approximate="tanh")

// out[i] = silu(gate[i]) * up[i]   (SwiGLU, llama/qwen FFN)
void swiglu(const float* gate, const float* up, float* out, int64_t n);
// out[i] = gelu_tanh(gate[i]) * up[i]   (GeGLU, gemma FFN)
void geglu(const float* gate, const float* up, float* out, int64_t n);
// out[i] = (clamp(up[i], -limit, limit) + 1) * g * sigmoid(alpha * g), g = min(gate[i], limit)
// (SwiGLU-OAI, MiniMax-M3 / gpt-oss FFN)
void swiglu_oai(const float* gate, const float* up, float* out, int64_t n, float alpha, float limit);

void add(const float* a, const float* b, float* out, int64_t n);  // out = a + b
void mul(const float* a, const float* b, float* out, int64_t n);  // out = a * b
void scale(float* x, float s, int64_t n);                         // x *= s
// x[r][i] += bias[i] for each of n_rows rows of width dim.
void add_bias(float* x, const float* bias, int64_t n_rows, int64_t dim);

// In place, numerically stable (subtracts the max). An all -inf row gives all zeros.
void softmax(float* x, int64_t n);
// x = cap * tanh(x / cap); cap > 0.
void softcap(float* x, float cap, int64_t n);

}  // namespace gannet::kernels
