#include "kernels/ops/activation.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gannet::kernels {

float silu(float x) {
    return x / (1.0f + std::exp(-x));
}

float gelu_tanh(float x) {
    constexpr float kSqrt2OverPi = 0.7978845608028654f;
    constexpr float kCoef = 0.044715f;
    return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + kCoef * x * x * x)));
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        out[i] = silu(gate[i]) * up[i];
    }
}

void geglu(const float* gate, const float* up, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        out[i] = gelu_tanh(gate[i]) * up[i];
    }
}

void swiglu_oai(const float* gate, const float* up, float* out, int64_t n, float alpha, float limit) {
    for (int64_t i = 0; i < n; ++i) {
        const float g = std::min(gate[i], limit);
        const float u = std::clamp(up[i], -limit, limit);
        out[i] = (u + 1.0f) * (g / (1.0f + std::exp(-alpha * g)));
    }
}

void add(const float* a, const float* b, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        out[i] = a[i] + b[i];
    }
}

void mul(const float* a, const float* b, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        out[i] = a[i] * b[i];
    }
}

void scale(float* x, float s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        x[i] *= s;
    }
}

void add_bias(float* x, const float* bias, int64_t n_rows, int64_t dim) {
    for (int64_t r = 0; r < n_rows; ++r) {
        add(x + r * dim, bias, x + r * dim, dim);
    }
}

void softmax(float* x, int64_t n) {
    if (n <= 0) {
        return;
    }
    const float max_v = *std::max_element(x, x + n);
    if (max_v == -std::numeric_limits<float>::infinity()) {
        std::fill(x, x + n, 0.0f);
        return;
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - max_v);
        sum += x[i];
    }
    const float inv = static_cast<float>(1.0 / sum);
    scale(x, inv, n);
}

void softcap(float* x, float cap, int64_t n) {
    const float inv = 1.0f / cap;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = cap * std::tanh(x[i] * inv);
    }
}

}  // namespace gannet::kernels
