// The reference prefill attention: one warp per (token, head) with an online softmax over the
// visible positions; lanes split the head dimension so each K/V vector is one coalesced read.
// O(n_tokens² · head_dim) f32 FMAs with K/V reads that mostly hit L2: exact (f32 throughout), for
// the shapes the flash kernel (prefill_attention_flash.cu) does not cover and as its test reference.
#include <cmath>

#include "base/cuda/cuda_status.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/prefill_attention.h"
#include "kernels/cuda/prefill_attention_flash.h"

namespace gannet::kernels::cuda {
namespace {

constexpr int kMaxPerLane = 8;
constexpr int kWarpsPerBlock = 4;

__global__ void prefill_attention_kernel(PrefillAttentionArgs a) {
    const int64_t t = blockIdx.y;
    const int64_t h = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (h >= a.n_heads) {
        return;  // whole warp leaves together, so the warp shuffles below stay full
    }
    const int64_t g = h / (a.n_heads / a.n_kv_heads);
    const float* qr = a.q + (t * a.n_heads + h) * a.head_dim_k;
    float qv[kMaxPerLane];
#pragma unroll
    for (int k = 0; k < kMaxPerLane; ++k) {
        const int64_t d = lane + 32 * k;
        qv[k] = d < a.head_dim_k ? qr[d] : 0.0f;
    }
    const int64_t pos = a.positions[t];
    const int64_t j_begin = a.window > 0 && pos - a.window + 1 > 0 ? pos - a.window + 1 : 0;
    float m = -INFINITY;
    float l = 0.0f;
    float acc[kMaxPerLane] = {};
    for (int64_t j = j_begin; j <= pos; ++j) {
        const float* kr = a.k + j * a.k_stride + g * a.head_dim_k;
        const float* vr = a.v + j * a.v_stride + g * a.head_dim_v;
        float dot = 0.0f;
#pragma unroll
        for (int k = 0; k < kMaxPerLane; ++k) {
            const int64_t d = lane + 32 * k;
            if (d < a.head_dim_k) {
                dot = fmaf(qv[k], kr[d], dot);
            }
        }
        float score = warp_sum(dot) * a.scale;
        if (a.softcap > 0.0f) {
            score = a.softcap * tanhf(score / a.softcap);
        }
        const float m_new = fmaxf(m, score);
        const float corr = expf(m - m_new);
        const float p = expf(score - m_new);
        l = l * corr + p;
#pragma unroll
        for (int k = 0; k < kMaxPerLane; ++k) {
            const int64_t d = lane + 32 * k;
            acc[k] = acc[k] * corr + (d < a.head_dim_v ? p * vr[d] : 0.0f);
        }
        m = m_new;
    }
    float* o = a.out + (t * a.n_heads + h) * a.head_dim_v;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
    for (int k = 0; k < kMaxPerLane; ++k) {
        const int64_t d = lane + 32 * k;
        if (d < a.head_dim_v) {
            o[d] = acc[k] * inv;
        }
    }
}

}  // namespace

bool prefill_attention_flash_supported(const PrefillAttentionArgs& a) {
    if (a.head_dim_k != a.head_dim_v || detail::prefill_attention_flash_smem_bytes(a.head_dim_k) == 0) {
        return false;
    }
    auto aligned16 = [](const void* p) {
        return reinterpret_cast<uintptr_t>(p) % 16 == 0;
    };
    if (a.paged.kv != nullptr) {
        // Paged rows start at block/tile/slot offsets: multiples of head_dim elements (>= 64), so
        // 16-byte aligned for f32 and 8-byte for 16-bit types, given an aligned cache.
        const bool is_type_ok = a.paged.dtype == kvcache::KvDType::kF32 || a.paged.dtype == kvcache::KvDType::kF16
                                || a.paged.dtype == kvcache::KvDType::kBF16;
        if (!aligned16(a.q) || !aligned16(a.paged.kv) || !is_type_ok || a.paged.block_table == nullptr
            || a.paged.block_size <= 0) {
            return false;
        }
    } else if (!aligned16(a.q) || !aligned16(a.k) || !aligned16(a.v) || a.k_stride % 4 != 0 || a.v_stride % 4 != 0) {
        return false;
    }
    int device = 0;
    int smem_optin = 0;
    if (cudaGetDevice(&device) != cudaSuccess
        || cudaDeviceGetAttribute(&smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess) {
        cudaGetLastError();  // reset the last-error state so a later launch check does not see this one
        return false;
    }
    return static_cast<size_t>(smem_optin) >= detail::prefill_attention_flash_smem_bytes(a.head_dim_k);
}

bool paged_prefill_supported(int64_t head_dim) {
    // Any 16-byte aligned addresses stand for the real ones (cudaMalloc returns 256-byte aligned).
    static const float kAligned[4] __attribute__((aligned(16))) = {};
    static const int32_t kTable[4] __attribute__((aligned(16))) = {};
    return prefill_attention_flash_supported({.q = kAligned,
                                              .head_dim_k = head_dim,
                                              .head_dim_v = head_dim,
                                              .paged = {.kv = kAligned, .block_table = kTable, .block_size = 16}});
}

Status prefill_attention(const PrefillAttentionArgs& a, cudaStream_t stream) {
    if (a.n_tokens == 0) {
        return Status();
    }
    if (a.n_tokens < 0 || a.n_tokens > 65535 || a.n_heads <= 0 || a.n_heads > 65535 || a.n_kv_heads <= 0
        || a.n_heads % a.n_kv_heads != 0 || a.head_dim_k <= 0 || a.head_dim_k > kMaxPerLane * 32 || a.head_dim_v <= 0
        || a.head_dim_v > kMaxPerLane * 32 || a.n_kv <= 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "prefill_attention: bad args n_tokens=%lld n_heads=%lld n_kv_heads=%lld head_dim=%lld/%lld",
                          static_cast<long long>(a.n_tokens), static_cast<long long>(a.n_heads),
                          static_cast<long long>(a.n_kv_heads), static_cast<long long>(a.head_dim_k),
                          static_cast<long long>(a.head_dim_v));
    }
    const bool is_paged = a.paged.kv != nullptr;
    if (a.q == nullptr || a.positions == nullptr || (!is_paged && (a.k == nullptr || a.v == nullptr))
        || a.out == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "prefill_attention: null pointer");
    }
    if (is_paged) {
        if (a.kernel == PrefillAttentionKernel::kReference || !prefill_attention_flash_supported(a)) {
            return make_error(ErrorCode::kUnimplemented,
                              "prefill_attention: paged K/V (%s) need the flash kernel: head_dim %lld/%lld must be "
                              "64, 128 or 256 for both, the cache f32/f16/bf16 and q/kv 16-byte aligned",
                              kvcache::kv_dtype_name(a.paged.dtype), static_cast<long long>(a.head_dim_k),
                              static_cast<long long>(a.head_dim_v));
        }
        return detail::prefill_attention_flash(a, stream);
    }
    const bool wants_flash = a.kernel == PrefillAttentionKernel::kFlash
                             || (a.kernel == PrefillAttentionKernel::kAuto && a.n_tokens >= kFlashMinTokens);
    if (wants_flash) {
        if (prefill_attention_flash_supported(a)) {
            return detail::prefill_attention_flash(a, stream);
        }
        if (a.kernel == PrefillAttentionKernel::kFlash) {
            return make_error(ErrorCode::kUnimplemented,
                              "prefill_attention: no flash kernel for head_dim %lld/%lld (64, 128 or 256 for both, "
                              "16-byte aligned q/k/v and strides)",
                              static_cast<long long>(a.head_dim_k), static_cast<long long>(a.head_dim_v));
        }
    }
    const dim3 grid(static_cast<unsigned>((a.n_heads + kWarpsPerBlock - 1) / kWarpsPerBlock),
                    static_cast<unsigned>(a.n_tokens));
    prefill_attention_kernel<<<grid, kWarpsPerBlock * 32, 0, stream>>>(a);
    return gannet::cuda::cuda_status(cudaGetLastError(), "prefill_attention launch");
}

}  // namespace gannet::kernels::cuda
