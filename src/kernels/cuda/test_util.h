// Helpers for the CUDA kernel parity tests: seeded random data (never zeros), upload/download,
// poisoning outputs with NaN, and the relative error the tolerances in tolerances.h are stated in.
// Owner: CUDA backend. Test-only; host code.
#pragma once

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "base/cuda/device_buffer.h"
#include "base/half.h"

namespace gannet::kernels::cuda::test {

// Uniform in [-scale, scale], pushed away from zero so an unwritten or zeroed output never passes.
inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-scale, scale);
    std::vector<float> v(n);
    for (float& x : v) {
        x = dist(rng);
        if (std::fabs(x) < 1e-3f * scale) {
            x = 0.5f * scale;
        }
    }
    return v;
}

inline std::vector<float> round_to_bf16(std::vector<float> v) {
    for (float& x : v) {
        x = bf16_to_fp32(fp32_to_bf16(x));
    }
    return v;
}

// Device copy of host data; aborts the test on failure.
template <typename T>
gannet::cuda::DeviceBuffer upload(const std::vector<T>& host) {
    Result<gannet::cuda::DeviceBuffer> buf = gannet::cuda::DeviceBuffer::allocate(host.size() * sizeof(T));
    EXPECT_TRUE(buf.has_value());
    if (!host.empty()) {
        EXPECT_EQ(cudaMemcpy(buf->data(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
    }
    return std::move(buf).value();
}

// A device buffer of n floats filled with NaN (0xff bytes), so unwritten elements fail any comparison.
inline gannet::cuda::DeviceBuffer poisoned(size_t n_bytes) {
    Result<gannet::cuda::DeviceBuffer> buf = gannet::cuda::DeviceBuffer::allocate(n_bytes);
    EXPECT_TRUE(buf.has_value());
    EXPECT_EQ(cudaMemset(buf->data(), 0xff, n_bytes), cudaSuccess);
    return std::move(buf).value();
}

// Synchronizes (so kernel faults surface here) and copies n elements back.
template <typename T>
std::vector<T> download(const gannet::cuda::DeviceBuffer& buf, size_t n) {
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<T> host(n);
    EXPECT_EQ(cudaMemcpy(host.data(), buf.data(), n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return host;
}

// ||got - ref|| / ||ref||; infinity when any element is NaN or infinite or the sizes differ.
inline double rel_err(const std::vector<float>& got, const std::vector<float>& ref) {
    if (got.size() != ref.size()) {
        return INFINITY;
    }
    double num = 0.0;
    double den = 0.0;
    for (size_t i = 0; i < got.size(); ++i) {
        if (!std::isfinite(got[i])) {
            return INFINITY;
        }
        const double d = static_cast<double>(got[i]) - static_cast<double>(ref[i]);
        num += d * d;
        den += static_cast<double>(ref[i]) * static_cast<double>(ref[i]);
    }
    return den > 0.0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace gannet::kernels::cuda::test
