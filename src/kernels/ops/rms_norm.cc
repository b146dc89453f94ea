#include "kernels/ops/rms_norm.h"

#include <cmath>

namespace gannet::kernels {

void rms_norm(const float* x, const float* w, float* out, int64_t n_rows, int64_t dim, float eps) {
    for (int64_t r = 0; r < n_rows; ++r) {
        const float* xr = x + r * dim;
        float* yr = out + r * dim;
        // Double accumulation: rows are up to ~16k wide and this is one pass, so it costs nothing
        // measurable and keeps the mean square independent of summation order.
        double sum_sq = 0.0;
        for (int64_t i = 0; i < dim; ++i) {
            sum_sq += static_cast<double>(xr[i]) * xr[i];
        }
        const float inv = static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(dim) + eps));
        for (int64_t i = 0; i < dim; ++i) {
            yr[i] = xr[i] * inv * w[i];
        }
    }
}

}  // namespace gannet::kernels
