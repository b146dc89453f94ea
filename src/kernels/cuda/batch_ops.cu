// Paged K/V store, per-token paged attention and row gather for the batched CUDA forward.
// Attention: grid (head, token), 4 warps. Warp w takes keys j0 + w, j0 + w + 4, ... up to the
// token's position; lanes split head_dim (lane d, d + 32, ...: one coalesced read per K or V
// vector) and keep an online softmax (max m, sum l, output acc). The 4 warps merge through shared
// memory in warp order. The key order and the merge order depend only on the token's position and
// window, never on the batch.
#include <cmath>

#include "base/cuda/cuda_status.h"
#include "base/result.h"
#include "kernels/cuda/batch_ops.h"
#include "kernels/cuda/common.cuh"

namespace gannet::kernels::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxPerLane = 8;  // head_dim <= 256
constexpr int kStoreBlock = 128;
constexpr int kGatherBlock = 128;

// The cache in elements: a block is [n_layers][2][n_kv_heads][block_size][head_dim].
struct Geometry {
    size_t block_floats;  // elements of the cache type
    size_t tile_floats;
    int32_t n_kv_heads;
    int32_t block_size;
    int32_t head_dim;
    int32_t layer;
};

__device__ __forceinline__ size_t tile_start(const Geometry& g, int32_t block, int32_t kv, int32_t head) {
    return static_cast<size_t>(block) * g.block_floats
           + ((static_cast<size_t>(g.layer) * 2 + static_cast<size_t>(kv)) * static_cast<size_t>(g.n_kv_heads)
              + static_cast<size_t>(head))
                 * g.tile_floats;
}

__device__ __forceinline__ void store_elem(float* p, float v) {
    *p = v;
}
__device__ __forceinline__ void store_elem(__half* p, float v) {
    *p = __float2half_rn(v);
}
__device__ __forceinline__ void store_elem(__nv_bfloat16* p, float v) {
    *p = __float2bfloat16_rn(v);
}

// T: the cache element (f32, or f16 / bf16 rounded to nearest as the CPU's f16 rows are).
template <typename T>
__global__ void __launch_bounds__(kStoreBlock)
    store_kv_kernel(const float* __restrict__ k, const float* __restrict__ v, T* __restrict__ kv, Geometry g,
                    const int32_t* __restrict__ token_seq, const int32_t* __restrict__ positions,
                    const int32_t* __restrict__ tables, int32_t max_blocks) {
    const int t = blockIdx.x;
    const int32_t pos = positions[t];
    const int32_t block = tables[static_cast<size_t>(token_seq[t]) * max_blocks + pos / g.block_size];
    const int32_t slot = pos % g.block_size;
    const int row = g.n_kv_heads * g.head_dim;
    for (int i = threadIdx.x; i < row; i += blockDim.x) {
        const int head = i / g.head_dim;
        const int d = i % g.head_dim;
        const size_t off = static_cast<size_t>(slot) * g.head_dim + d;
        store_elem(kv + tile_start(g, block, 0, head) + off, k[static_cast<size_t>(t) * row + i]);
        store_elem(kv + tile_start(g, block, 1, head) + off, v[static_cast<size_t>(t) * row + i]);
    }
}

__global__ void __launch_bounds__(kWarps * 32)
    attention_kernel(const float* __restrict__ q, const float* __restrict__ kv, Geometry g,
                     const int32_t* __restrict__ token_seq, const int32_t* __restrict__ positions,
                     const int32_t* __restrict__ tables, int32_t max_blocks, int32_t n_heads, float scale,
                     float softcap, int32_t window, float* __restrict__ out) {
    __shared__ float s_m[kWarps];
    __shared__ float s_l[kWarps];
    __shared__ float s_acc[kWarps][kMaxPerLane * 32];
    const int h = blockIdx.x;
    const int t = blockIdx.y;
    const int warp = threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    const int hd = g.head_dim;
    const int kvh = h / (n_heads / g.n_kv_heads);
    const int32_t pos = positions[t];
    const int32_t* table = tables + static_cast<size_t>(token_seq[t]) * max_blocks;
    const int32_t j0 = window > 0 ? max(0, pos - window + 1) : 0;

    float qv[kMaxPerLane];
#pragma unroll
    for (int k = 0; k < kMaxPerLane; ++k) {
        const int d = lane + 32 * k;
        qv[k] = d < hd ? q[(static_cast<size_t>(t) * n_heads + h) * hd + d] : 0.0f;
    }
    float m = -INFINITY;
    float l = 0.0f;
    float acc[kMaxPerLane] = {};
    for (int32_t j = j0 + warp; j <= pos; j += kWarps) {
        const int32_t block = table[j / g.block_size];
        const size_t slot = static_cast<size_t>(j % g.block_size) * hd;
        const float* kp = kv + tile_start(g, block, 0, kvh) + slot;
        const float* vp = kv + tile_start(g, block, 1, kvh) + slot;
        float dot = 0.0f;
#pragma unroll
        for (int k = 0; k < kMaxPerLane; ++k) {
            const int d = lane + 32 * k;
            if (d < hd) {
                dot = fmaf(qv[k], kp[d], dot);
            }
        }
        float score = warp_sum(dot) * scale;
        if (softcap > 0.0f) {
            score = softcap * tanhf(score / softcap);
        }
        const float m_new = fmaxf(m, score);
        const float corr = expf(m - m_new);  // 0 on the first key (m = -inf)
        const float p = expf(score - m_new);
        l = l * corr + p;
#pragma unroll
        for (int k = 0; k < kMaxPerLane; ++k) {
            const int d = lane + 32 * k;
            acc[k] = acc[k] * corr + (d < hd ? p * vp[d] : 0.0f);
        }
        m = m_new;
    }
    if (lane == 0) {
        s_m[warp] = m;
        s_l[warp] = l;
    }
#pragma unroll
    for (int k = 0; k < kMaxPerLane; ++k) {
        s_acc[warp][lane + 32 * k] = acc[k];
    }
    __syncthreads();
    float m_all = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
        m_all = fmaxf(m_all, s_m[w]);
    }
    float wgt[kWarps];
    float l_all = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
        // A warp that saw no key has m = -inf and contributes nothing (and no NaN).
        wgt[w] = s_m[w] == -INFINITY ? 0.0f : expf(s_m[w] - m_all);
        l_all += s_l[w] * wgt[w];
    }
    const float inv = l_all > 0.0f ? 1.0f / l_all : 0.0f;
    float* o = out + (static_cast<size_t>(t) * n_heads + h) * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float v = 0.0f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) {
            v += s_acc[w][d] * wgt[w];
        }
        o[d] = v * inv;
    }
}

__global__ void __launch_bounds__(kGatherBlock)
    gather_rows_kernel(const float* __restrict__ src, const int32_t* __restrict__ rows, float* __restrict__ dst,
                       int64_t dim) {
    const int r = blockIdx.x;
    const float* s = src + static_cast<size_t>(rows[r]) * dim;
    float* d = dst + static_cast<size_t>(r) * dim;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
        d[i] = s[i];
    }
}

enum class CacheTypes { kF32Only, kF32Or16Bit };

Status check_step(const PagedStepArgs& a, const char* op, CacheTypes types) {
    GANNET_RETURN_IF_ERROR(a.layout.validate());
    const kvcache::KvDType d = a.layout.dtype;
    const bool is_16bit = d == kvcache::KvDType::kF16 || d == kvcache::KvDType::kBF16;
    if (d != kvcache::KvDType::kF32 && !(types == CacheTypes::kF32Or16Bit && is_16bit)) {
        return make_error(ErrorCode::kUnimplemented, "%s: kv cache dtype %s (expected %s)", op,
                          kvcache::kv_dtype_name(d), types == CacheTypes::kF32Only ? "f32" : "f32, f16 or bf16");
    }
    if (a.layer < 0 || a.layer >= a.layout.n_layers || a.max_blocks < 1 || a.n_tokens < 0 || a.n_tokens > 65535
        || a.layout.head_dim > kMaxPerLane * 32) {
        return make_error(ErrorCode::kInvalidArgument,
                          "%s: bad args layer=%d of %d, max_blocks=%d, n_tokens=%d (<= 65535), head_dim=%d (<= %d)", op,
                          a.layer, a.layout.n_layers, a.max_blocks, a.n_tokens, a.layout.head_dim, kMaxPerLane * 32);
    }
    if (a.kv == nullptr || a.token_seq == nullptr || a.positions == nullptr || a.block_tables == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "%s: null pointer", op);
    }
    return Status();
}

Geometry geometry(const PagedStepArgs& a) {
    const kvcache::KvCacheLayout& L = a.layout;
    const size_t elem = L.dtype == kvcache::KvDType::kF32 ? sizeof(float) : 2;
    return Geometry{.block_floats = L.block_bytes() / elem,
                    .tile_floats = L.tile_bytes() / elem,
                    .n_kv_heads = L.n_kv_heads,
                    .block_size = L.block_size,
                    .head_dim = L.head_dim,
                    .layer = a.layer};
}

}  // namespace

Status paged_store_kv(const PagedStepArgs& a, const float* k, const float* v, cudaStream_t stream) {
    GANNET_RETURN_IF_ERROR(check_step(a, "paged_store_kv", CacheTypes::kF32Or16Bit));
    if (k == nullptr || v == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "paged_store_kv: null pointer");
    }
    if (a.n_tokens == 0) {
        return Status();
    }
    const auto n = static_cast<unsigned>(a.n_tokens);
    switch (a.layout.dtype) {
        case kvcache::KvDType::kF16:
            store_kv_kernel<<<n, kStoreBlock, 0, stream>>>(k, v, static_cast<__half*>(a.kv), geometry(a), a.token_seq,
                                                           a.positions, a.block_tables, a.max_blocks);
            break;
        case kvcache::KvDType::kBF16:
            store_kv_kernel<<<n, kStoreBlock, 0, stream>>>(k, v, static_cast<__nv_bfloat16*>(a.kv), geometry(a),
                                                           a.token_seq, a.positions, a.block_tables, a.max_blocks);
            break;
        default:
            store_kv_kernel<<<n, kStoreBlock, 0, stream>>>(k, v, static_cast<float*>(a.kv), geometry(a), a.token_seq,
                                                           a.positions, a.block_tables, a.max_blocks);
            break;
    }
    return gannet::cuda::cuda_status(cudaGetLastError(), "paged_store_kv launch");
}

Status batch_paged_attention(const PagedStepArgs& p, const BatchAttentionArgs& a, cudaStream_t stream) {
    GANNET_RETURN_IF_ERROR(check_step(p, "batch_paged_attention", CacheTypes::kF32Only));
    if (a.n_heads < 1 || a.n_heads % p.layout.n_kv_heads != 0 || a.window < 0 || !(a.softcap >= 0.0f)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "batch_paged_attention: n_heads %d is not a positive multiple of %d kv heads, or window %d "
                          "/ softcap %g negative",
                          a.n_heads, p.layout.n_kv_heads, a.window, static_cast<double>(a.softcap));
    }
    if (a.q == nullptr || a.out == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "batch_paged_attention: null pointer");
    }
    if (p.n_tokens == 0) {
        return Status();
    }
    const dim3 grid(static_cast<unsigned>(a.n_heads), static_cast<unsigned>(p.n_tokens));
    attention_kernel<<<grid, kWarps * 32, 0, stream>>>(a.q, static_cast<const float*>(p.kv), geometry(p), p.token_seq,
                                                       p.positions, p.block_tables, p.max_blocks, a.n_heads, a.scale,
                                                       a.softcap, a.window, a.out);
    return gannet::cuda::cuda_status(cudaGetLastError(), "batch_paged_attention launch");
}

Status gather_rows(const float* src, const int32_t* rows, float* dst, int64_t n_rows, int64_t dim,
                   cudaStream_t stream) {
    if (n_rows < 0 || dim < 1 || n_rows > 0x7fffffff) {
        return make_error(ErrorCode::kInvalidArgument, "gather_rows: %lld rows of %lld", static_cast<long long>(n_rows),
                          static_cast<long long>(dim));
    }
    if (src == nullptr || rows == nullptr || dst == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "gather_rows: null pointer");
    }
    if (n_rows == 0) {
        return Status();
    }
    gather_rows_kernel<<<static_cast<unsigned>(n_rows), kGatherBlock, 0, stream>>>(src, rows, dst, dim);
    return gannet::cuda::cuda_status(cudaGetLastError(), "gather_rows launch");
}

}  // namespace gannet::kernels::cuda
