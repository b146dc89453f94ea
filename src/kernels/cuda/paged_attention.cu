// Split-KV paged decode attention.
// Kernel 1: grid (split, head, seq), 4 warps. Each warp takes every 4th token of the split; lanes
// split head_dim (lane d, d + 32, ...: consecutive lanes read consecutive elements, so a K or V
// vector is one coalesced read) and keep an online softmax (running max m, sum l, output acc). The
// 4 warps merge through shared memory and write the split's (m, l, acc) to scratch.
// Kernel 2: grid (head, seq) merges the splits and normalizes.
// Bytes: every K and V element of the sequence is read once per query head (GQA siblings hit L2).
#include <cmath>

#include "base/cuda/cuda_status.h"
#include "base/result.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/paged_attention.h"

namespace gannet::kernels::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxPerLane = 8;  // head_dim <= 256

struct CacheGeometry {
    size_t block_bytes;   // one block, all layers
    size_t tile_bytes;    // one [block_size, head_dim] tile
    size_t layer_offset;  // bytes from a block's start to layer's K tile of head 0
    int32_t n_kv_heads;
    int32_t block_size;
    int32_t head_dim;
};

template <typename T>
__global__ void __launch_bounds__(kWarps * 32)
    paged_attention_split_kernel(const float* __restrict__ q, const uint8_t* __restrict__ kv, CacheGeometry g,
                                 const int32_t* __restrict__ block_tables, int32_t max_blocks,
                                 const int32_t* __restrict__ seq_lens, int32_t n_heads, float scale,
                                 int32_t split_tokens, float* __restrict__ scratch) {
    __shared__ float s_m[kWarps];
    __shared__ float s_l[kWarps];
    __shared__ float s_acc[kWarps][kMaxPerLane * 32];
    const int split = blockIdx.x;
    const int h = blockIdx.y;
    const int s = blockIdx.z;
    const int n_splits = gridDim.x;
    const int warp = threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    const int hd = g.head_dim;
    const int kvh = h / (n_heads / g.n_kv_heads);

    float qv[kMaxPerLane];
#pragma unroll
    for (int k = 0; k < kMaxPerLane; ++k) {
        const int d = lane + 32 * k;
        qv[k] = d < hd ? q[(static_cast<size_t>(s) * n_heads + h) * hd + d] * scale : 0.0f;
    }
    const int32_t len = seq_lens[s];
    const int32_t t_begin = split * split_tokens;
    const int32_t t_end = min(len, t_begin + split_tokens);
    const size_t k_tile = g.layer_offset + static_cast<size_t>(kvh) * g.tile_bytes;
    const size_t v_tile = k_tile + static_cast<size_t>(g.n_kv_heads) * g.tile_bytes;

    float m = -INFINITY;
    float l = 0.0f;
    float acc[kMaxPerLane] = {};
    for (int32_t t = t_begin + warp; t < t_end; t += kWarps) {
        const int32_t block = block_tables[static_cast<size_t>(s) * max_blocks + t / g.block_size];
        const size_t slot = static_cast<size_t>(t % g.block_size) * hd;
        const T* kp = reinterpret_cast<const T*>(kv + block * g.block_bytes + k_tile) + slot;
        const T* vp = reinterpret_cast<const T*>(kv + block * g.block_bytes + v_tile) + slot;
        float dot = 0.0f;
#pragma unroll
        for (int k = 0; k < kMaxPerLane; ++k) {
            const int d = lane + 32 * k;
            if (d < hd) {
                dot = fmaf(qv[k], to_float(kp[d]), dot);
            }
        }
        const float score = warp_sum(dot);
        const float m_new = fmaxf(m, score);
        const float corr = expf(m - m_new);  // 0 on the first token (m = -inf)
        const float p = expf(score - m_new);
        l = l * corr + p;
#pragma unroll
        for (int k = 0; k < kMaxPerLane; ++k) {
            const int d = lane + 32 * k;
            acc[k] = acc[k] * corr + (d < hd ? p * to_float(vp[d]) : 0.0f);
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
        // A warp that saw no token has m = -inf and contributes nothing (and no NaN).
        wgt[w] = s_m[w] == -INFINITY ? 0.0f : expf(s_m[w] - m_all);
        l_all += s_l[w] * wgt[w];
    }
    const size_t part = (static_cast<size_t>(s) * n_heads + h) * n_splits + split;
    float* part_acc = scratch + part * (hd + 2);
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float v = 0.0f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) {
            v += s_acc[w][d] * wgt[w];
        }
        part_acc[2 + d] = v;
    }
    if (threadIdx.x == 0) {
        part_acc[0] = m_all;
        part_acc[1] = l_all;
    }
}

__global__ void paged_attention_merge_kernel(const float* __restrict__ scratch, int32_t n_splits, int32_t n_heads,
                                             int32_t hd, float* __restrict__ out) {
    const int h = blockIdx.x;
    const int s = blockIdx.y;
    const float* parts = scratch + (static_cast<size_t>(s) * n_heads + h) * n_splits * (hd + 2);
    float m_all = -INFINITY;
    for (int i = 0; i < n_splits; ++i) {
        m_all = fmaxf(m_all, parts[i * (hd + 2)]);
    }
    float l_all = 0.0f;
    for (int i = 0; i < n_splits; ++i) {
        const float m = parts[i * (hd + 2)];
        l_all += m == -INFINITY ? 0.0f : parts[i * (hd + 2) + 1] * expf(m - m_all);
    }
    const float inv = l_all > 0.0f ? 1.0f / l_all : 0.0f;  // an empty sequence gives zeros
    float* o = out + (static_cast<size_t>(s) * n_heads + h) * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float v = 0.0f;
        for (int i = 0; i < n_splits; ++i) {
            const float m = parts[i * (hd + 2)];
            v += m == -INFINITY ? 0.0f : parts[i * (hd + 2) + 2 + d] * expf(m - m_all);
        }
        o[d] = v * inv;
    }
}

int32_t split_tokens(const PagedAttentionArgs& a) {
    const int32_t bs = a.layout.block_size;
    const int32_t blocks = kPagedAttentionSplitTokens / bs > 0 ? kPagedAttentionSplitTokens / bs : 1;
    return blocks * bs;
}

}  // namespace

int32_t paged_attention_n_splits(const PagedAttentionArgs& a) {
    const int64_t max_tokens = static_cast<int64_t>(a.max_blocks_per_seq) * a.layout.block_size;
    const int32_t st = split_tokens(a);
    const int64_t n = (max_tokens + st - 1) / st;
    return static_cast<int32_t>(n > 0 ? n : 1);
}

size_t paged_attention_scratch_floats(const PagedAttentionArgs& a) {
    return static_cast<size_t>(a.n_seqs) * static_cast<size_t>(a.n_heads)
           * static_cast<size_t>(paged_attention_n_splits(a)) * static_cast<size_t>(a.layout.head_dim + 2);
}

Status paged_attention(const PagedAttentionArgs& a, cudaStream_t stream) {
    if (a.n_seqs == 0) {
        return Status();
    }
    const kvcache::KvCacheLayout& L = a.layout;
    GANNET_RETURN_IF_ERROR(L.validate());
    if (a.n_seqs < 0 || a.n_heads <= 0 || a.n_heads % L.n_kv_heads != 0 || L.head_dim > kMaxPerLane * 32 || a.layer < 0
        || a.layer >= L.n_layers || a.max_blocks_per_seq <= 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "paged_attention: bad args n_seqs=%d n_heads=%d n_kv_heads=%d head_dim=%d layer=%d "
                          "max_blocks_per_seq=%d",
                          a.n_seqs, a.n_heads, L.n_kv_heads, L.head_dim, a.layer, a.max_blocks_per_seq);
    }
    if (a.q == nullptr || a.kv == nullptr || a.block_tables == nullptr || a.seq_lens == nullptr || a.out == nullptr
        || a.scratch == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "paged_attention: null pointer");
    }
    const size_t need = paged_attention_scratch_floats(a);
    if (a.scratch_floats < need) {
        return make_error(ErrorCode::kInvalidArgument, "paged_attention: scratch of %zu floats, expected at least %zu",
                          a.scratch_floats, need);
    }
    CacheGeometry g{};
    g.tile_bytes = L.tile_bytes();
    g.block_bytes = L.block_bytes();
    g.layer_offset = static_cast<size_t>(a.layer) * 2 * static_cast<size_t>(L.n_kv_heads) * g.tile_bytes;
    g.n_kv_heads = L.n_kv_heads;
    g.block_size = L.block_size;
    g.head_dim = L.head_dim;
    const int32_t n_splits = paged_attention_n_splits(a);
    const dim3 grid(static_cast<unsigned>(n_splits), static_cast<unsigned>(a.n_heads), static_cast<unsigned>(a.n_seqs));
    const auto* kv = static_cast<const uint8_t*>(a.kv);
    const int32_t st = split_tokens(a);
    switch (L.dtype) {
        case kvcache::KvDType::kF32:
            paged_attention_split_kernel<float><<<grid, kWarps * 32, 0, stream>>>(
                a.q, kv, g, a.block_tables, a.max_blocks_per_seq, a.seq_lens, a.n_heads, a.scale, st, a.scratch);
            break;
        case kvcache::KvDType::kF16:
            paged_attention_split_kernel<__half><<<grid, kWarps * 32, 0, stream>>>(
                a.q, kv, g, a.block_tables, a.max_blocks_per_seq, a.seq_lens, a.n_heads, a.scale, st, a.scratch);
            break;
        case kvcache::KvDType::kBF16:
            paged_attention_split_kernel<__nv_bfloat16><<<grid, kWarps * 32, 0, stream>>>(
                a.q, kv, g, a.block_tables, a.max_blocks_per_seq, a.seq_lens, a.n_heads, a.scale, st, a.scratch);
            break;
        case kvcache::KvDType::kQ8_0:
        case kvcache::KvDType::kQ4_0:
            return make_error(ErrorCode::kUnimplemented, "paged_attention: %s KV cache is CPU-only for now",
                              kvcache::kv_dtype_name(L.dtype));
    }
    GANNET_RETURN_IF_ERROR(gannet::cuda::cuda_status(cudaGetLastError(), "paged_attention launch"));
    const dim3 grid2(static_cast<unsigned>(a.n_heads), static_cast<unsigned>(a.n_seqs));
    paged_attention_merge_kernel<<<grid2, 128, 0, stream>>>(a.scratch, n_splits, a.n_heads, L.head_dim, a.out);
    return gannet::cuda::cuda_status(cudaGetLastError(), "paged_attention merge launch");
}

}  // namespace gannet::kernels::cuda
