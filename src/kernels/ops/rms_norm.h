// RMS normalization over rows: out = x / sqrt(mean(x²) + eps) * w. Gemma's (1 + w) form is folded
// into w when the model is exported, so every architecture uses this one op. Thread-safety: pure.
#pragma once

#include <cstdint>

namespace gannet::kernels {

// out may alias x. REQUIRES: x, out hold n_rows * dim floats; w holds dim floats.
void rms_norm(const float* x, const float* w, float* out, int64_t n_rows, int64_t dim, float eps);

}  // namespace gannet::kernels
