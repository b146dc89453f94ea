// Block-sparse attention kernels (sparse_attention.h).
// msa_block_scores: grid (block, query), 4 warps; each warp takes every 4th key of the block and
//   scores it against every index head (lanes split index_dim); the block max per head is reduced
//   through shared memory. Future blocks get -inf. Raw scores: no exp anywhere in the selection.
// top_blocks: grid (row, query), 256 threads; the own block first, then topk - 1 rounds of a
//   block-wide argmax over the scores with the chosen ones excluded (a bitmask in shared memory).
// sparse_attention: grid (selected slot, head, query), 4 warps, the online softmax of
//   paged_attention.cu over one selected block; a merge kernel combines the slots.
#include <cmath>

#include "base/cuda/cuda_status.h"
#include "base/result.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/sparse_attention.h"

namespace gannet::kernels::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxPerLane = 8;  // dims <= 256
constexpr int kTopThreads = 256;
constexpr int kMaxTopBlocks = 16384;  // 2M tokens of 128: the exclusion bitmask in shared memory

constexpr int kMaxIdxHeads = 16;
constexpr int kIdxPerLane = 4;  // index_dim <= 128

// One CTA per (block, query): every index head at once, so each key row is read once per query.
__global__ void __launch_bounds__(kWarps * 32)
    msa_scores_kernel(const float* __restrict__ idx_q, const float* __restrict__ idx_k,
                      const int32_t* __restrict__ positions, int32_t n_index_heads, int32_t dim, int32_t n_keys,
                      int32_t block, int32_t max_blocks, float* __restrict__ out) {
    __shared__ float s_best[kWarps][kMaxIdxHeads];
    const int b = blockIdx.x;
    const int t = blockIdx.y;
    const int warp = threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    const int own = positions[t] / block;
    float* o = out + static_cast<size_t>(t) * n_index_heads * max_blocks + b;
    if (b > own) {
        if (threadIdx.x < n_index_heads) {
            o[static_cast<size_t>(threadIdx.x) * max_blocks] = -INFINITY;
        }
        return;
    }
    float qv[kMaxIdxHeads][kIdxPerLane];
    float best[kMaxIdxHeads];
#pragma unroll
    for (int h = 0; h < kMaxIdxHeads; ++h) {
        best[h] = -INFINITY;
#pragma unroll
        for (int k = 0; k < kIdxPerLane; ++k) {
            const int d = lane + 32 * k;
            qv[h][k] =
                (h < n_index_heads && d < dim) ? idx_q[(static_cast<size_t>(t) * n_index_heads + h) * dim + d] : 0.0f;
        }
    }
    const int end = min(n_keys, (b + 1) * block);
    for (int p = b * block + warp; p < end; p += kWarps) {
        const float* k = idx_k + static_cast<size_t>(p) * dim;
        float kv[kIdxPerLane];
#pragma unroll
        for (int kk = 0; kk < kIdxPerLane; ++kk) {
            const int d = lane + 32 * kk;
            kv[kk] = d < dim ? k[d] : 0.0f;
        }
#pragma unroll
        for (int h = 0; h < kMaxIdxHeads; ++h) {
            if (h < n_index_heads) {
                float dot = 0.0f;
#pragma unroll
                for (int kk = 0; kk < kIdxPerLane; ++kk) {
                    dot = fmaf(qv[h][kk], kv[kk], dot);
                }
                best[h] = fmaxf(best[h], warp_sum(dot));
            }
        }
    }
    if (lane == 0) {
#pragma unroll
        for (int h = 0; h < kMaxIdxHeads; ++h) {
            s_best[warp][h] = best[h];
        }
    }
    __syncthreads();
    if (threadIdx.x < n_index_heads) {
        float m = s_best[0][threadIdx.x];
#pragma unroll
        for (int w = 1; w < kWarps; ++w) {
            m = fmaxf(m, s_best[w][threadIdx.x]);
        }
        o[static_cast<size_t>(threadIdx.x) * max_blocks] = m;
    }
}

__global__ void __launch_bounds__(kTopThreads)
    top_blocks_kernel(const float* __restrict__ scores, const int32_t* __restrict__ positions, int32_t n_rows,
                      int32_t max_blocks, int32_t block, int32_t topk, int32_t stride, int32_t* __restrict__ ids) {
    __shared__ uint32_t s_taken[kMaxTopBlocks / 32];
    __shared__ float s_val[kTopThreads];
    __shared__ int32_t s_idx[kTopThreads];
    const int g = blockIdx.x;
    const int t = blockIdx.y;
    const int own = positions[t] / block;
    const int n_vis = own + 1;
    const float* sc = scores + (static_cast<size_t>(t) * n_rows + g) * max_blocks;
    int32_t* out = ids + (static_cast<size_t>(t) * n_rows + g) * stride;
    for (int i = threadIdx.x; i < (n_vis + 31) / 32; i += blockDim.x) {
        s_taken[i] = 0u;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        s_taken[own / 32] |= 1u << (own % 32);
    }
    __syncthreads();
    const int n_pick = min(topk, n_vis) - 1;  // besides the own block
    for (int r = 0; r < n_pick; ++r) {
        float v = -INFINITY;
        int idx = -1;
        for (int b = threadIdx.x; b < n_vis; b += blockDim.x) {
            const bool taken = (s_taken[b / 32] >> (b % 32)) & 1u;
            // Ties go to the lower block id, as on the CPU.
            if (!taken && (idx < 0 || sc[b] > v)) {
                v = sc[b];
                idx = b;
            }
        }
        s_val[threadIdx.x] = v;
        s_idx[threadIdx.x] = idx;
        __syncthreads();
        for (int w = blockDim.x / 2; w > 0; w /= 2) {
            if (threadIdx.x < w) {
                const float ov = s_val[threadIdx.x + w];
                const int oi = s_idx[threadIdx.x + w];
                const int mi = s_idx[threadIdx.x];
                if (oi >= 0 && (mi < 0 || ov > s_val[threadIdx.x] || (ov == s_val[threadIdx.x] && oi < mi))) {
                    s_val[threadIdx.x] = ov;
                    s_idx[threadIdx.x] = oi;
                }
            }
            __syncthreads();
        }
        if (threadIdx.x == 0) {
            const int pick = s_idx[0];
            out[r] = pick;
            if (pick >= 0) {
                s_taken[pick / 32] |= 1u << (pick % 32);
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        out[n_pick] = own;
    }
    for (int i = n_pick + 1 + threadIdx.x; i < stride; i += blockDim.x) {
        out[i] = -1;
    }
}

struct Geometry {
    size_t block_bytes;
    size_t tile_bytes;
    size_t layer_offset;
    int32_t n_kv_heads;
    int32_t block_size;
    int32_t head_dim;
};

__global__ void __launch_bounds__(kWarps * 32)
    sparse_attention_kernel(const float* __restrict__ q, const uint8_t* __restrict__ kv, Geometry g,
                            const int32_t* __restrict__ table, const int32_t* __restrict__ positions,
                            const int32_t* __restrict__ ids, int32_t stride, int32_t n_heads, float scale,
                            float* __restrict__ scratch) {
    __shared__ float s_m[kWarps];
    __shared__ float s_l[kWarps];
    __shared__ float s_acc[kWarps][kMaxPerLane * 32];
    const int slot = blockIdx.x;
    const int h = blockIdx.y;
    const int t = blockIdx.z;
    const int warp = threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    const int hd = g.head_dim;
    const int kvh = h / (n_heads / g.n_kv_heads);
    const int32_t lb = ids[(static_cast<size_t>(t) * g.n_kv_heads + kvh) * stride + slot];
    const int32_t pos = positions[t];
    float* part = scratch + ((static_cast<size_t>(t) * n_heads + h) * stride + slot) * (hd + 2);
    if (lb < 0) {
        if (threadIdx.x == 0) {
            part[0] = -INFINITY;
            part[1] = 0.0f;
        }
        return;
    }
    float qv[kMaxPerLane];
#pragma unroll
    for (int k = 0; k < kMaxPerLane; ++k) {
        const int d = lane + 32 * k;
        qv[k] = d < hd ? q[(static_cast<size_t>(t) * n_heads + h) * hd + d] * scale : 0.0f;
    }
    const size_t base =
        static_cast<size_t>(table[lb]) * g.block_bytes + g.layer_offset + static_cast<size_t>(kvh) * g.tile_bytes;
    const float* kt = reinterpret_cast<const float*>(kv + base);
    const float* vt = reinterpret_cast<const float*>(kv + base + static_cast<size_t>(g.n_kv_heads) * g.tile_bytes);
    const int32_t t_end = min(g.block_size, pos - lb * g.block_size + 1);
    float m = -INFINITY;
    float l = 0.0f;
    float acc[kMaxPerLane] = {};
    for (int32_t r = warp; r < t_end; r += kWarps) {
        const float* kp = kt + static_cast<size_t>(r) * hd;
        const float* vp = vt + static_cast<size_t>(r) * hd;
        float dot = 0.0f;
#pragma unroll
        for (int k = 0; k < kMaxPerLane; ++k) {
            const int d = lane + 32 * k;
            if (d < hd) {
                dot = fmaf(qv[k], kp[d], dot);
            }
        }
        const float score = warp_sum(dot);
        const float m_new = fmaxf(m, score);
        const float corr = expf(m - m_new);
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
        wgt[w] = s_m[w] == -INFINITY ? 0.0f : expf(s_m[w] - m_all);
        l_all += s_l[w] * wgt[w];
    }
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float v = 0.0f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) {
            v += s_acc[w][d] * wgt[w];
        }
        part[2 + d] = v;
    }
    if (threadIdx.x == 0) {
        part[0] = m_all;
        part[1] = l_all;
    }
}

__global__ void sparse_merge_kernel(const float* __restrict__ scratch, int32_t stride, int32_t n_heads, int32_t hd,
                                    float* __restrict__ out) {
    const int h = blockIdx.x;
    const int t = blockIdx.y;
    const float* parts = scratch + (static_cast<size_t>(t) * n_heads + h) * stride * (hd + 2);
    float m_all = -INFINITY;
    for (int i = 0; i < stride; ++i) {
        m_all = fmaxf(m_all, parts[i * (hd + 2)]);
    }
    float l_all = 0.0f;
    for (int i = 0; i < stride; ++i) {
        const float m = parts[i * (hd + 2)];
        l_all += m == -INFINITY ? 0.0f : parts[i * (hd + 2) + 1] * expf(m - m_all);
    }
    const float inv = l_all > 0.0f ? 1.0f / l_all : 0.0f;
    float* o = out + (static_cast<size_t>(t) * n_heads + h) * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float v = 0.0f;
        for (int i = 0; i < stride; ++i) {
            const float m = parts[i * (hd + 2)];
            v += m == -INFINITY ? 0.0f : parts[i * (hd + 2) + 2 + d] * expf(m - m_all);
        }
        o[d] = v * inv;
    }
}

}  // namespace

Status msa_block_scores(const MsaScoreArgs& a, cudaStream_t stream) {
    if (a.n_q == 0) {
        return Status();
    }
    if (a.n_q < 0 || a.n_q > 65535 || a.n_index_heads < 1 || a.n_index_heads > kMaxIdxHeads || a.index_dim < 1
        || a.index_dim > kIdxPerLane * 32 || a.block < 1 || a.max_blocks < 1 || a.n_keys < 0 || a.idx_q == nullptr
        || a.idx_k == nullptr || a.positions == nullptr || a.out == nullptr) {
        return make_error(ErrorCode::kInvalidArgument,
                          "msa_block_scores: bad args n_q=%d heads=%d dim=%d block=%d max_blocks=%d", a.n_q,
                          a.n_index_heads, a.index_dim, a.block, a.max_blocks);
    }
    const dim3 grid(static_cast<unsigned>(a.max_blocks), static_cast<unsigned>(a.n_q));
    msa_scores_kernel<<<grid, kWarps * 32, 0, stream>>>(a.idx_q, a.idx_k, a.positions, a.n_index_heads, a.index_dim,
                                                        a.n_keys, a.block, a.max_blocks, a.out);
    return gannet::cuda::cuda_status(cudaGetLastError(), "msa_block_scores launch");
}

Status top_blocks(const TopBlocksArgs& a, cudaStream_t stream) {
    if (a.n_q == 0) {
        return Status();
    }
    if (a.n_q < 0 || a.n_rows < 1 || a.max_blocks < 1 || a.max_blocks > kMaxTopBlocks || a.topk < 1 || a.stride < a.topk
        || a.block < 1 || a.scores == nullptr || a.positions == nullptr || a.ids == nullptr) {
        return make_error(ErrorCode::kInvalidArgument,
                          "top_blocks: bad args n_q=%d rows=%d max_blocks=%d (at most %d) topk=%d stride=%d", a.n_q,
                          a.n_rows, a.max_blocks, kMaxTopBlocks, a.topk, a.stride);
    }
    const dim3 grid(static_cast<unsigned>(a.n_rows), static_cast<unsigned>(a.n_q));
    top_blocks_kernel<<<grid, kTopThreads, 0, stream>>>(a.scores, a.positions, a.n_rows, a.max_blocks, a.block, a.topk,
                                                        a.stride, a.ids);
    return gannet::cuda::cuda_status(cudaGetLastError(), "top_blocks launch");
}

size_t sparse_attention_scratch_floats(const SparseAttentionArgs& a) {
    return static_cast<size_t>(a.n_q) * static_cast<size_t>(a.n_heads) * static_cast<size_t>(a.stride)
           * static_cast<size_t>(a.layout.head_dim + 2);
}

Status sparse_attention(const SparseAttentionArgs& a, cudaStream_t stream) {
    if (a.n_q == 0) {
        return Status();
    }
    const kvcache::KvCacheLayout& L = a.layout;
    GANNET_RETURN_IF_ERROR(L.validate());
    if (L.dtype != kvcache::KvDType::kF32 || a.n_q < 0 || a.n_heads <= 0 || a.n_heads % L.n_kv_heads != 0
        || L.head_dim > kMaxPerLane * 32 || a.layer < 0 || a.layer >= L.n_layers || a.stride < 1) {
        return make_error(ErrorCode::kInvalidArgument,
                          "sparse_attention: bad args (f32 cache only) n_q=%d n_heads=%d n_kv_heads=%d head_dim=%d "
                          "layer=%d stride=%d",
                          a.n_q, a.n_heads, L.n_kv_heads, L.head_dim, a.layer, a.stride);
    }
    if (a.q == nullptr || a.kv == nullptr || a.block_table == nullptr || a.positions == nullptr || a.ids == nullptr
        || a.out == nullptr || a.scratch == nullptr || a.scratch_floats < sparse_attention_scratch_floats(a)) {
        return make_error(ErrorCode::kInvalidArgument, "sparse_attention: null pointer or scratch under %zu floats",
                          sparse_attention_scratch_floats(a));
    }
    Geometry g{};
    g.tile_bytes = L.tile_bytes();
    g.block_bytes = L.block_bytes();
    g.layer_offset = static_cast<size_t>(a.layer) * 2 * static_cast<size_t>(L.n_kv_heads) * g.tile_bytes;
    g.n_kv_heads = L.n_kv_heads;
    g.block_size = L.block_size;
    g.head_dim = L.head_dim;
    const dim3 grid(static_cast<unsigned>(a.stride), static_cast<unsigned>(a.n_heads), static_cast<unsigned>(a.n_q));
    sparse_attention_kernel<<<grid, kWarps * 32, 0, stream>>>(a.q, static_cast<const uint8_t*>(a.kv), g, a.block_table,
                                                              a.positions, a.ids, a.stride, a.n_heads, a.scale,
                                                              a.scratch);
    GANNET_RETURN_IF_ERROR(gannet::cuda::cuda_status(cudaGetLastError(), "sparse_attention launch"));
    const dim3 grid2(static_cast<unsigned>(a.n_heads), static_cast<unsigned>(a.n_q));
    sparse_merge_kernel<<<grid2, 128, 0, stream>>>(a.scratch, a.stride, a.n_heads, L.head_dim, a.out);
    return gannet::cuda::cuda_status(cudaGetLastError(), "sparse_attention merge launch");
}

}  // namespace gannet::kernels::cuda
