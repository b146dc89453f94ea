#include "model/cuda/model_ops.h"

#include <cmath>

#include "base/cuda/cuda_status.h"
#include "base/result.h"

namespace gannet::model::cuda {
namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) {
    const int64_t b = (n + kThreads - 1) / kThreads;
    return static_cast<int>(b < 65535 * 16 ? b : 65535 * 16);
}

__global__ void scale_kernel(float* x, float s, int64_t n) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        x[i] *= s;
    }
}

__global__ void add_bias_kernel(float* x, const float* b, int64_t n, int64_t dim) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        x[i] += b[i % dim];
    }
}

__global__ void softcap_kernel(float* x, float cap, int64_t n) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        x[i] = cap * tanhf(x[i] / cap);
    }
}

__global__ void store_rows_kernel(const float* src, float* dst, const int32_t* positions, int64_t n, int64_t dim) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t t = i / dim;
        dst[static_cast<int64_t>(positions[t]) * dim + i % dim] = src[i];
    }
}

Status launched(const char* what) {
    return gannet::cuda::cuda_status(cudaGetLastError(), what);
}

}  // namespace

Status scale(float* x, float s, int64_t n, cudaStream_t stream) {
    if (n <= 0) {
        return Status();
    }
    scale_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, s, n);
    return launched("scale");
}

Status add_bias(float* x, const float* b, int64_t n_rows, int64_t dim, cudaStream_t stream) {
    const int64_t n = n_rows * dim;
    if (n <= 0) {
        return Status();
    }
    add_bias_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, b, n, dim);
    return launched("add_bias");
}

Status softcap(float* x, float cap, int64_t n, cudaStream_t stream) {
    if (n <= 0) {
        return Status();
    }
    softcap_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, cap, n);
    return launched("softcap");
}

Status store_rows(const float* src, float* dst, const int32_t* positions, int64_t n_tokens, int64_t dim,
                  cudaStream_t stream) {
    const int64_t n = n_tokens * dim;
    if (n <= 0) {
        return Status();
    }
    store_rows_kernel<<<blocks_for(n), kThreads, 0, stream>>>(src, dst, positions, n, dim);
    return launched("store_rows");
}

}  // namespace gannet::model::cuda

namespace gannet::model::cuda {
namespace {

constexpr int kDecodeWarps = 4;
constexpr int kMaxPerLane = 8;  // head dims up to 256

__device__ float warp_sum32(float v) {
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    return v;
}

// Grid (n_heads, n_splits), kDecodeWarps warps: warp w takes keys split_begin + w, + kDecodeWarps, ...
// Partial per (head, split): [m, l, acc[head_dim_v]].
__global__ void decode_attention_split_kernel(DecodeAttentionArgs a) {
    const int64_t h = blockIdx.x;
    const int64_t split = blockIdx.y;
    const int warp = threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    const int64_t g = h / (a.n_heads / a.n_kv_heads);
    const int64_t pos = a.position[0];
    const int64_t j_first = a.window > 0 && pos - a.window + 1 > 0 ? pos - a.window + 1 : 0;
    const int64_t begin = max(split * kDecodeSplit, j_first);
    const int64_t end = min((split + 1) * kDecodeSplit, pos + 1);
    const int64_t stride = a.head_dim_v + 2;
    float* part = a.scratch + (h * gridDim.y + split) * stride;
    if (split * kDecodeSplit > pos) {
        return;  // beyond the query: the merge never reads it
    }
    float qv[kMaxPerLane];
    const float* qr = a.q + h * a.head_dim_k;
#pragma unroll
    for (int k = 0; k < kMaxPerLane; ++k) {
        const int64_t d = lane + 32 * k;
        qv[k] = d < a.head_dim_k ? qr[d] * a.scale : 0.0f;
    }
    float m = -INFINITY;
    float l = 0.0f;
    float acc[kMaxPerLane] = {};
    for (int64_t j = begin + warp; j < end; j += kDecodeWarps) {
        const float* kr = a.k + j * a.k_stride + g * a.head_dim_k;
        const float* vr = a.v + j * a.v_stride + g * a.head_dim_v;
        float dot = 0.0f;
        float vv[kMaxPerLane];
#pragma unroll
        for (int k = 0; k < kMaxPerLane; ++k) {
            const int64_t d = lane + 32 * k;
            if (d < a.head_dim_k) {
                dot = fmaf(qv[k], kr[d], dot);
            }
            vv[k] = d < a.head_dim_v ? vr[d] : 0.0f;
        }
        float score = warp_sum32(dot);
        if (a.softcap > 0.0f) {
            score = a.softcap * tanhf(score / a.softcap);
        }
        const float m_new = fmaxf(m, score);
        const float corr = expf(m - m_new);
        const float p = expf(score - m_new);
        l = l * corr + p;
#pragma unroll
        for (int k = 0; k < kMaxPerLane; ++k) {
            acc[k] = acc[k] * corr + p * vv[k];
        }
        m = m_new;
    }
    __shared__ float sm[kDecodeWarps];
    __shared__ float sl[kDecodeWarps];
    __shared__ float sacc[kDecodeWarps][32 * kMaxPerLane];
    if (lane == 0) {
        sm[warp] = m;
        sl[warp] = l;
    }
#pragma unroll
    for (int k = 0; k < kMaxPerLane; ++k) {
        sacc[warp][lane + 32 * k] = acc[k];
    }
    __syncthreads();
    float mm = -INFINITY;
    for (int w = 0; w < kDecodeWarps; ++w) {
        mm = fmaxf(mm, sm[w]);
    }
    for (int64_t d = threadIdx.x; d < a.head_dim_v; d += blockDim.x) {
        float o = 0.0f;
        for (int w = 0; w < kDecodeWarps; ++w) {
            if (sl[w] > 0.0f) {
                o += sacc[w][d] * expf(sm[w] - mm);
            }
        }
        part[2 + d] = o;
    }
    if (threadIdx.x == 0) {
        float ll = 0.0f;
        for (int w = 0; w < kDecodeWarps; ++w) {
            if (sl[w] > 0.0f) {
                ll += sl[w] * expf(sm[w] - mm);
            }
        }
        part[0] = mm;
        part[1] = ll;
    }
}

// Grid n_heads: merges the splits up to the query's position.
__global__ void decode_attention_merge_kernel(DecodeAttentionArgs a, int n_splits) {
    const int64_t h = blockIdx.x;
    const int64_t pos = a.position[0];
    const int64_t j_first = a.window > 0 && pos - a.window + 1 > 0 ? pos - a.window + 1 : 0;
    const int s_begin = static_cast<int>(j_first / kDecodeSplit);
    const int s_end = static_cast<int>(pos / kDecodeSplit) + 1;
    const int64_t stride = a.head_dim_v + 2;
    const float* parts = a.scratch + h * n_splits * stride;
    float mm = -INFINITY;
    for (int s = s_begin; s < s_end; ++s) {
        if (parts[s * stride + 1] > 0.0f) {
            mm = fmaxf(mm, parts[s * stride]);
        }
    }
    float l = 0.0f;
    for (int s = s_begin; s < s_end; ++s) {
        if (parts[s * stride + 1] > 0.0f) {
            l += parts[s * stride + 1] * expf(parts[s * stride] - mm);
        }
    }
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    for (int64_t d = threadIdx.x; d < a.head_dim_v; d += blockDim.x) {
        float o = 0.0f;
        for (int s = s_begin; s < s_end; ++s) {
            if (parts[s * stride + 1] > 0.0f) {
                o += parts[s * stride + 2 + d] * expf(parts[s * stride] - mm);
            }
        }
        a.out[h * a.head_dim_v + d] = o * inv;
    }
}

}  // namespace

size_t decode_attention_scratch_floats(int64_t n_heads, int64_t head_dim_v, int64_t n_ctx) {
    const int64_t n_splits = (n_ctx + kDecodeSplit - 1) / kDecodeSplit;
    return static_cast<size_t>(n_heads * n_splits * (head_dim_v + 2));
}

Status decode_attention(const DecodeAttentionArgs& a, cudaStream_t stream) {
    if (a.q == nullptr || a.position == nullptr || a.k == nullptr || a.v == nullptr || a.out == nullptr ||
        a.scratch == nullptr || a.n_heads <= 0 || a.n_kv_heads <= 0 || a.n_heads % a.n_kv_heads != 0 ||
        a.head_dim_k <= 0 || a.head_dim_k > 32 * kMaxPerLane || a.head_dim_v <= 0 ||
        a.head_dim_v > 32 * kMaxPerLane || a.n_ctx <= 0 || a.n_heads > 65535) {
        return make_error(ErrorCode::kInvalidArgument,
                          "decode_attention: bad args n_heads=%lld n_kv_heads=%lld head_dim=%lld/%lld n_ctx=%lld",
                          static_cast<long long>(a.n_heads), static_cast<long long>(a.n_kv_heads),
                          static_cast<long long>(a.head_dim_k), static_cast<long long>(a.head_dim_v),
                          static_cast<long long>(a.n_ctx));
    }
    const int n_splits = static_cast<int>((a.n_ctx + kDecodeSplit - 1) / kDecodeSplit);
    decode_attention_split_kernel<<<dim3(static_cast<unsigned>(a.n_heads), static_cast<unsigned>(n_splits)),
                                    32 * kDecodeWarps, 0, stream>>>(a);
    GANNET_RETURN_IF_ERROR(launched("decode_attention split"));
    decode_attention_merge_kernel<<<static_cast<unsigned>(a.n_heads), 128, 0, stream>>>(a, n_splits);
    return launched("decode_attention merge");
}

}  // namespace gannet::model::cuda
