#include "kernels/ops/rope.h"

#include <cmath>

#include "base/check.h"

namespace gannet::kernels {
namespace {

// Rotations per (token, pair) are shared by every head, so angles are computed once per token.
// Kept on the stack: head_dim above 1024 does not exist in the architectures we load.
constexpr int64_t kMaxPairs = 512;

}  // namespace

void rope(const RopeArgs& a) {
    GANNET_CHECK(a.n_rot % 2 == 0 && a.n_rot <= a.head_dim && a.n_rot / 2 <= kMaxPairs);
    const int64_t n_pairs = a.n_rot / 2;
    float inv_freq[kMaxPairs];
    for (int64_t i = 0; i < n_pairs; ++i) {
        // float32 arithmetic in the same order as Hugging Face's rotary embedding, so angles
        // round the same way as the reference logits we compare against.
        const float exponent = static_cast<float>(2 * i) / static_cast<float>(a.n_rot);
        float f = 1.0f / std::pow(a.freq_base, exponent);
        if (a.freq_factors != nullptr) {
            f /= a.freq_factors[i];
        }
        inv_freq[i] = f;
    }
    float cos_v[kMaxPairs];
    float sin_v[kMaxPairs];
    const int64_t half = n_pairs;
    for (int64_t t = 0; t < a.n_tokens; ++t) {
        const float pos = static_cast<float>(a.positions[t]) * a.freq_scale;
        for (int64_t i = 0; i < n_pairs; ++i) {
            const float theta = pos * inv_freq[i];
            cos_v[i] = std::cos(theta);
            sin_v[i] = std::sin(theta);
        }
        for (int64_t h = 0; h < a.n_heads; ++h) {
            float* x = a.x + (t * a.n_heads + h) * a.head_dim;
            if (a.style == RopeStyle::kNormal) {
                for (int64_t i = 0; i < n_pairs; ++i) {
                    const float x0 = x[2 * i];
                    const float x1 = x[2 * i + 1];
                    x[2 * i] = x0 * cos_v[i] - x1 * sin_v[i];
                    x[2 * i + 1] = x0 * sin_v[i] + x1 * cos_v[i];
                }
            } else {
                for (int64_t i = 0; i < n_pairs; ++i) {
                    const float x0 = x[i];
                    const float x1 = x[i + half];
                    x[i] = x0 * cos_v[i] - x1 * sin_v[i];
                    x[i + half] = x0 * sin_v[i] + x1 * cos_v[i];
                }
            }
        }
    }
}

}  // namespace gannet::kernels
