// Split-KV paged attention.
// Kernel 1: grid (split, head, query), 128 threads = 16 groups of 8 lanes. Group g takes keys
// t_begin + g, + 16, ... of the split; its 8 lanes split head_dim in 4-element chunks (lane s holds
// elements (8c + s) * 4 .. + 3, so a group reads a K or V row as 16-byte (f32) or 8-byte (f16/bf16)
// coalesced loads) and keep an online softmax (running max m, sum l, output acc). K and V of a key
// are loaded together before the 3-shuffle dot reduction, so 16 keys per CTA are in flight at once
// (the old one-key-per-warp loop was latency-bound). The 16 groups merge in group order through
// shared memory and write the split's (m, l, acc) to scratch. Splits outside [lo, p] exit at once.
// Kernel 2: grid (head, query) merges the splits that intersect [lo, p] in split order and
// normalizes. Every order above is fixed by the query's own position: batch invariant.
// Bytes: every K and V element of the sequence is read once per query head (GQA siblings hit L2).
#include <cmath>

#include "base/cuda/cuda_status.h"
#include "base/result.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/paged_attention.h"

namespace gannet::kernels::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kLanesPerKey = 8;
constexpr int kGroups = kThreads / kLanesPerKey;
constexpr int kMaxHeadDim = 256;

struct Params {
    const float* q;
    const uint8_t* kv;
    size_t block_bytes;   // one block, all layers
    size_t tile_bytes;    // one [block_size, head_dim] tile
    size_t layer_offset;  // bytes from a block's start to the layer's K tile of head 0
    int32_t n_kv_heads;
    int32_t block_size;
    int32_t head_dim;
    const int32_t* block_tables;
    int32_t max_blocks;
    const int32_t* rows;
    const int32_t* token_seq;
    const int32_t* positions;
    int32_t n_heads;
    float scale;
    float softcap;
    int32_t window;
    int32_t n_splits;
    float* scratch;
    float* out;
};

__device__ __forceinline__ float4 load4(const float* p) {
    return *reinterpret_cast<const float4*>(p);
}
__device__ __forceinline__ float4 load4(const __half* p) {
    const uint2 u = *reinterpret_cast<const uint2*>(p);
    const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&u.x));
    const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&u.y));
    return make_float4(a.x, a.y, b.x, b.y);
}
__device__ __forceinline__ float4 load4(const __nv_bfloat16* p) {
    const uint2 u = *reinterpret_cast<const uint2*>(p);
    const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.x));
    const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.y));
    return make_float4(a.x, a.y, b.x, b.y);
}

__device__ __forceinline__ void query_range(const Params& p, int32_t t, int32_t& pos, int32_t& lo) {
    pos = p.positions[t];
    lo = p.window > 0 && pos - p.window + 1 > 0 ? pos - p.window + 1 : 0;
}

template <typename T, int kChunks>
__global__ void __launch_bounds__(kThreads) paged_split_kernel(Params p) {
    __shared__ float s_m[kGroups];
    __shared__ float s_l[kGroups];
    __shared__ __align__(16) float s_acc[kGroups][kMaxHeadDim];  // float4 stores
    const int split = blockIdx.x;
    const int h = blockIdx.y;
    const int32_t t = p.rows != nullptr ? p.rows[blockIdx.z] : static_cast<int32_t>(blockIdx.z);
    int32_t pos = 0;
    int32_t lo = 0;
    query_range(p, t, pos, lo);
    const int32_t s_begin = split * kPagedAttentionSplitTokens;
    if (s_begin > pos || s_begin + kPagedAttentionSplitTokens <= lo) {
        return;  // no key of this split is visible: the merge never reads it
    }
    const int32_t t_begin = max(s_begin, lo);
    const int32_t t_end = min(s_begin + kPagedAttentionSplitTokens, pos + 1);
    const int32_t seq = p.token_seq != nullptr ? p.token_seq[t] : t;
    const int32_t* table = p.block_tables + static_cast<size_t>(seq) * p.max_blocks;
    const int group = threadIdx.x / kLanesPerKey;
    const int sub = threadIdx.x % kLanesPerKey;
    const int hd = p.head_dim;
    const int kvh = h / (p.n_heads / p.n_kv_heads);
    const size_t k_tile = p.layer_offset + static_cast<size_t>(kvh) * p.tile_bytes;
    const size_t v_tile = k_tile + static_cast<size_t>(p.n_kv_heads) * p.tile_bytes;

    float4 qv[kChunks];
    const float* qr = p.q + (static_cast<size_t>(t) * p.n_heads + h) * hd;
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
        const int e = (c * kLanesPerKey + sub) * 4;
        float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (e < hd) {
            v = load4(qr + e);
            v.x *= p.scale;
            v.y *= p.scale;
            v.z *= p.scale;
            v.w *= p.scale;
        }
        qv[c] = v;
    }
    float m = -INFINITY;
    float l = 0.0f;
    float4 acc[kChunks];
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
        acc[c] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
    for (int32_t j = t_begin + group; j < t_end; j += kGroups) {
        const int32_t block = table[j / p.block_size];
        const size_t slot = static_cast<size_t>(j % p.block_size) * hd;
        const uint8_t* base = p.kv + static_cast<size_t>(block) * p.block_bytes;
        const T* kp = reinterpret_cast<const T*>(base + k_tile) + slot;
        const T* vp = reinterpret_cast<const T*>(base + v_tile) + slot;
        float4 kr[kChunks];
        float4 vr[kChunks];
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
            const int e = (c * kLanesPerKey + sub) * 4;
            const bool in = e < hd;
            kr[c] = in ? load4(kp + e) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            vr[c] = in ? load4(vp + e) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        }
        float dot = 0.0f;
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
            dot = fmaf(qv[c].x, kr[c].x, dot);
            dot = fmaf(qv[c].y, kr[c].y, dot);
            dot = fmaf(qv[c].z, kr[c].z, dot);
            dot = fmaf(qv[c].w, kr[c].w, dot);
        }
        dot += __shfl_xor_sync(kFullMask, dot, 4);
        dot += __shfl_xor_sync(kFullMask, dot, 2);
        dot += __shfl_xor_sync(kFullMask, dot, 1);
        if (p.softcap > 0.0f) {
            dot = p.softcap * tanhf(dot / p.softcap);
        }
        const float m_new = fmaxf(m, dot);
        const float corr = expf(m - m_new);  // 0 on the group's first key (m = -inf)
        const float w = expf(dot - m_new);
        l = l * corr + w;
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
            acc[c].x = fmaf(w, vr[c].x, acc[c].x * corr);
            acc[c].y = fmaf(w, vr[c].y, acc[c].y * corr);
            acc[c].z = fmaf(w, vr[c].z, acc[c].z * corr);
            acc[c].w = fmaf(w, vr[c].w, acc[c].w * corr);
        }
        m = m_new;
    }
    if (sub == 0) {
        s_m[group] = m;
        s_l[group] = l;
    }
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
        const int e = (c * kLanesPerKey + sub) * 4;
        if (e < hd) {
            *reinterpret_cast<float4*>(&s_acc[group][e]) = acc[c];
        }
    }
    __syncthreads();
    float m_all = -INFINITY;
#pragma unroll
    for (int g = 0; g < kGroups; ++g) {
        m_all = fmaxf(m_all, s_m[g]);
    }
    const size_t part = (static_cast<size_t>(blockIdx.z) * p.n_heads + h) * p.n_splits + split;
    float* part_acc = p.scratch + part * (hd + 2);
    for (int d = threadIdx.x; d < hd; d += kThreads) {
        float v = 0.0f;
#pragma unroll
        for (int g = 0; g < kGroups; ++g) {
            // A group that saw no key has m = -inf and contributes nothing (and no NaN).
            v += s_m[g] == -INFINITY ? 0.0f : s_acc[g][d] * expf(s_m[g] - m_all);
        }
        part_acc[2 + d] = v;
    }
    if (threadIdx.x == 0) {
        float l_all = 0.0f;
        for (int g = 0; g < kGroups; ++g) {
            l_all += s_m[g] == -INFINITY ? 0.0f : s_l[g] * expf(s_m[g] - m_all);
        }
        part_acc[0] = m_all;
        part_acc[1] = l_all;
    }
}

__global__ void paged_merge_kernel(Params p) {
    const int h = blockIdx.x;
    const int32_t t = p.rows != nullptr ? p.rows[blockIdx.y] : static_cast<int32_t>(blockIdx.y);
    int32_t pos = 0;
    int32_t lo = 0;
    query_range(p, t, pos, lo);
    const int s_begin = lo / kPagedAttentionSplitTokens;
    const int s_end = pos / kPagedAttentionSplitTokens + 1;
    const int hd = p.head_dim;
    const float* parts = p.scratch + (static_cast<size_t>(blockIdx.y) * p.n_heads + h) * p.n_splits * (hd + 2);
    float m_all = -INFINITY;
    for (int i = s_begin; i < s_end; ++i) {
        m_all = fmaxf(m_all, parts[i * (hd + 2)]);
    }
    float l_all = 0.0f;
    for (int i = s_begin; i < s_end; ++i) {
        l_all += parts[i * (hd + 2) + 1] * expf(parts[i * (hd + 2)] - m_all);
    }
    const float inv = l_all > 0.0f ? 1.0f / l_all : 0.0f;
    float* o = p.out + (static_cast<size_t>(t) * p.n_heads + h) * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float v = 0.0f;
        for (int i = s_begin; i < s_end; ++i) {
            v += parts[i * (hd + 2) + 2 + d] * expf(parts[i * (hd + 2)] - m_all);
        }
        o[d] = v * inv;
    }
}

template <typename T>
void launch_split(const Params& p, dim3 grid, cudaStream_t stream) {
    if (p.head_dim <= 32) {
        paged_split_kernel<T, 1><<<grid, kThreads, 0, stream>>>(p);
    } else if (p.head_dim <= 64) {
        paged_split_kernel<T, 2><<<grid, kThreads, 0, stream>>>(p);
    } else if (p.head_dim <= 128) {
        paged_split_kernel<T, 4><<<grid, kThreads, 0, stream>>>(p);
    } else {
        paged_split_kernel<T, 8><<<grid, kThreads, 0, stream>>>(p);
    }
}

}  // namespace

int32_t paged_attention_n_splits(const PagedAttentionArgs& a) {
    const int64_t max_tokens = static_cast<int64_t>(a.max_blocks_per_seq) * a.layout.block_size;
    const int64_t n = (max_tokens + kPagedAttentionSplitTokens - 1) / kPagedAttentionSplitTokens;
    return static_cast<int32_t>(n > 0 ? n : 1);
}

size_t paged_attention_scratch_floats(const PagedAttentionArgs& a) {
    return static_cast<size_t>(a.n_queries) * static_cast<size_t>(a.n_heads)
           * static_cast<size_t>(paged_attention_n_splits(a)) * static_cast<size_t>(a.layout.head_dim + 2);
}

Status paged_attention(const PagedAttentionArgs& a, cudaStream_t stream) {
    if (a.n_queries == 0) {
        return Status();
    }
    const kvcache::KvCacheLayout& L = a.layout;
    GANNET_RETURN_IF_ERROR(L.validate());
    if (a.n_queries < 0 || a.n_queries > 65535 || a.n_heads <= 0 || a.n_heads > 65535 || a.n_heads % L.n_kv_heads != 0
        || L.head_dim > kMaxHeadDim || L.head_dim % 4 != 0 || a.layer < 0 || a.layer >= L.n_layers
        || a.max_blocks_per_seq <= 0 || a.window < 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "paged_attention: bad args n_queries=%d n_heads=%d n_kv_heads=%d head_dim=%d (<= 256, "
                          "a multiple of 4) layer=%d max_blocks_per_seq=%d window=%d",
                          a.n_queries, a.n_heads, L.n_kv_heads, L.head_dim, a.layer, a.max_blocks_per_seq, a.window);
    }
    if (a.q == nullptr || a.kv == nullptr || a.block_tables == nullptr || a.positions == nullptr || a.out == nullptr
        || a.scratch == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "paged_attention: null pointer");
    }
    const size_t need = paged_attention_scratch_floats(a);
    if (a.scratch_floats < need) {
        return make_error(ErrorCode::kInvalidArgument, "paged_attention: scratch of %zu floats, expected at least %zu",
                          a.scratch_floats, need);
    }
    const Params p{
        .q = a.q,
        .kv = static_cast<const uint8_t*>(a.kv),
        .block_bytes = L.block_bytes(),
        .tile_bytes = L.tile_bytes(),
        .layer_offset = static_cast<size_t>(a.layer) * 2 * static_cast<size_t>(L.n_kv_heads) * L.tile_bytes(),
        .n_kv_heads = L.n_kv_heads,
        .block_size = L.block_size,
        .head_dim = L.head_dim,
        .block_tables = a.block_tables,
        .max_blocks = a.max_blocks_per_seq,
        .rows = a.rows,
        .token_seq = a.token_seq,
        .positions = a.positions,
        .n_heads = a.n_heads,
        .scale = a.scale,
        .softcap = a.softcap,
        .window = a.window,
        .n_splits = paged_attention_n_splits(a),
        .scratch = a.scratch,
        .out = a.out};
    const dim3 grid(static_cast<unsigned>(p.n_splits), static_cast<unsigned>(a.n_heads),
                    static_cast<unsigned>(a.n_queries));
    switch (L.dtype) {
        case kvcache::KvDType::kF32: launch_split<float>(p, grid, stream); break;
        case kvcache::KvDType::kF16: launch_split<__half>(p, grid, stream); break;
        case kvcache::KvDType::kBF16: launch_split<__nv_bfloat16>(p, grid, stream); break;
        case kvcache::KvDType::kQ8_0:
        case kvcache::KvDType::kQ4_0:
            return make_error(ErrorCode::kUnimplemented, "paged_attention: %s KV cache is CPU-only for now",
                              kvcache::kv_dtype_name(L.dtype));
    }
    GANNET_RETURN_IF_ERROR(gannet::cuda::cuda_status(cudaGetLastError(), "paged_attention launch"));
    const dim3 grid2(static_cast<unsigned>(a.n_heads), static_cast<unsigned>(a.n_queries));
    paged_merge_kernel<<<grid2, 128, 0, stream>>>(p);
    return gannet::cuda::cuda_status(cudaGetLastError(), "paged_attention merge launch");
}

}  // namespace gannet::kernels::cuda
