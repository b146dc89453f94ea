// Flash-attention prefill on tensor cores (nvcuda::wmma, bf16 16x16x16, f32 accumulation).
// A block of 4 warps takes 64 query tokens of one head; each warp owns 16 of those rows. Per tile of
// 64 keys the block loads K and V (f32 -> bf16) into shared memory once; each warp then computes
// S = Q Kᵀ for its rows (wmma), runs the online softmax on S in shared memory in plain f32 code
// (scale, soft-cap, causal/window mask, running max m and sum l, rescaling its rows of O by
// exp(m_old - m_new)), writes P in bf16 and adds P V to O (wmma, O kept in shared memory as f32).
// Staging S and O through shared memory keeps the code free of any assumption about how wmma lays
// fragments out in registers: correct first (this kernel was written without a GPU at hand).
// Napkin math (Llama-3-8B, 4096 tokens, one layer): Q Kᵀ and P V are 2 · 2 · 32 · 4096² / 2 · 128
// = 137 GFLOP over the causal half, ~0.4 ms at a third of the ~990 TFLOP/s dense bf16 peak; the softmax
// (64 exp per row per tile, 2 shuffles) and the S/O round trips through shared memory are the
// likely bound. The reference kernel did the same flops as f32 FMAs, re-reading K/V from L2 for
// every (token, head). Key tiles past a warp's rows (causal) or before its window are skipped.
// Shared memory: 64/96/160 KB for head_dim 64/128/256 (2 blocks per SM at 128).
// With a PagedKvSource (the CUDA runner's prefill chunks) the tile loader maps each key through the
// sequence's block table and reads f32 / f16 / bf16 rows; the rest of the kernel is unchanged, so
// the result equals the contiguous kernel's on the same values bit for bit.
#include <mma.h>

#include <cmath>
#include <cstdint>

#include "base/cuda/cuda_status.h"
#include "base/result.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/prefill_attention_flash.h"

namespace gannet::kernels::cuda::detail {
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kBq = 64;  // query rows per block
constexpr int kBk = 64;  // keys per tile
constexpr int kWarps = kBq / 16;
constexpr int kThreads = kWarps * 32;

// Shared-memory layout. Row strides are padded (16 bytes for bf16 rows, 32 for f32 rows) so rows
// start in different banks; every wmma pointer is 32-byte aligned: 16 rows of any stride below are
// a multiple of 32 bytes, and column offsets are multiples of 16 elements.
template <int kD>
struct Smem {
    static constexpr int kLdh = kD + 8;   // bf16 Q, K, V rows
    static constexpr int kLds = kBk + 8;  // f32 S rows
    static constexpr int kLdp = kBk + 8;  // bf16 P rows
    static constexpr int kLdo = kD + 8;   // f32 O rows
    // Q shares K's space: it is only read into registers before the key loop, whose first barrier
    // comes before the first K tile is written.
    static constexpr size_t kQ = 0;
    static constexpr size_t kK = 0;
    static constexpr size_t kV = kK + size_t{kBk} * kLdh * 2;
    static constexpr size_t kS = kV + size_t{kBk} * kLdh * 2;
    static constexpr size_t kP = kS + size_t{kBq} * kLds * 4;
    static constexpr size_t kO = kP + size_t{kBq} * kLdp * 2;
    static constexpr size_t kRows = kO + size_t{kBq} * kLdo * 4;  // m, l (f32), pos, lo (int32) per row
    static constexpr size_t kBytes = kRows + size_t{4} * kBq * 4;
    static_assert(kBq == kBk);  // Q fits K's space
    static_assert(kK % 32 == 0 && kV % 32 == 0 && kS % 32 == 0 && kP % 32 == 0 && kO % 32 == 0);
};

__device__ __forceinline__ void store_bf16x4(__nv_bfloat16* dst, float4 v) {
    // dst is 8-byte aligned: row strides are multiples of 8 bytes and columns step by 4 elements.
    const __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y);
    const __nv_bfloat162 hi = __floats2bfloat162_rn(v.z, v.w);
    uint2 packed;
    packed.x = *reinterpret_cast<const uint32_t*>(&lo);
    packed.y = *reinterpret_cast<const uint32_t*>(&hi);
    *reinterpret_cast<uint2*>(dst) = packed;
}

__device__ __forceinline__ float4 load4_16bit(const uint8_t* p, kvcache::KvDType dtype) {
    const uint2 u = __ldg(reinterpret_cast<const uint2*>(p));
    float2 a;
    float2 b;
    if (dtype == kvcache::KvDType::kF16) {
        a = __half22float2(*reinterpret_cast<const __half2*>(&u.x));
        b = __half22float2(*reinterpret_cast<const __half2*>(&u.y));
    } else {
        a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.x));
        b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.y));
    }
    return make_float4(a.x, a.y, b.x, b.y);
}

// Elements [c, c + 4) of position j's K and V rows of KV head g, through the sequence's block table.
__device__ __forceinline__ void load_paged(const PagedKvSource& p, int64_t n_kv_heads, int64_t g, int hd, int64_t j,
                                           int c, float4& k, float4& v) {
    const int32_t block = p.block_table[j / p.block_size];
    const size_t elem = p.dtype == kvcache::KvDType::kF32 ? 4 : 2;
    const size_t row = (static_cast<size_t>(j % p.block_size) * hd + c) * elem;
    const auto* base = static_cast<const uint8_t*>(p.kv) + static_cast<size_t>(block) * p.block_bytes + p.layer_offset
                       + static_cast<size_t>(g) * p.tile_bytes + row;
    const uint8_t* vbase = base + static_cast<size_t>(n_kv_heads) * p.tile_bytes;
    if (elem == 4) {
        k = __ldg(reinterpret_cast<const float4*>(base));
        v = __ldg(reinterpret_cast<const float4*>(vbase));
    } else {
        k = load4_16bit(base, p.dtype);
        v = load4_16bit(vbase, p.dtype);
    }
}

template <int kD>
__global__ void __launch_bounds__(kThreads) flash_prefill_kernel(PrefillAttentionArgs a) {
    using L = Smem<kD>;
    extern __shared__ __align__(128) unsigned char smem[];
    auto* qs = reinterpret_cast<__nv_bfloat16*>(smem + L::kQ);
    auto* ks = reinterpret_cast<__nv_bfloat16*>(smem + L::kK);
    auto* vs = reinterpret_cast<__nv_bfloat16*>(smem + L::kV);
    auto* ss = reinterpret_cast<float*>(smem + L::kS);
    auto* ps = reinterpret_cast<__nv_bfloat16*>(smem + L::kP);
    auto* os = reinterpret_cast<float*>(smem + L::kO);
    auto* row_m = reinterpret_cast<float*>(smem + L::kRows);
    float* row_l = row_m + kBq;
    auto* row_pos = reinterpret_cast<int32_t*>(row_l + kBq);
    int32_t* row_lo = row_pos + kBq;

    const int tid = static_cast<int>(threadIdx.x);
    const int warp = tid / 32;
    const int lane = tid % 32;
    // Later query tiles see more keys: launch them first so the short ones fill the tail.
    const int64_t t0 = static_cast<int64_t>(gridDim.x - 1 - blockIdx.x) * kBq;
    const int64_t h = blockIdx.y;
    const int64_t g = h / (a.n_heads / a.n_kv_heads);

    if (tid < kBq) {
        const int64_t t = t0 + tid;
        int32_t pos = -1;  // a padding row past n_tokens sees no key
        int32_t lo = 0;
        if (t < a.n_tokens) {
            pos = a.positions[t];
            lo = a.window > 0 && pos - a.window + 1 > 0 ? static_cast<int32_t>(pos - a.window + 1) : 0;
        }
        row_pos[tid] = pos;
        row_lo[tid] = lo;
        row_m[tid] = -INFINITY;
        row_l[tid] = 0.0f;
    }
    for (int i = tid; i < kBq * (kD / 4); i += kThreads) {
        const int r = i / (kD / 4);
        const int c = (i % (kD / 4)) * 4;
        const int64_t t = t0 + r;
        float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (t < a.n_tokens) {
            v = *reinterpret_cast<const float4*>(a.q + (t * a.n_heads + h) * kD + c);
        }
        store_bf16x4(qs + r * L::kLdh + c, v);
    }
    for (int i = tid; i < kBq * L::kLdo; i += kThreads) {
        os[i] = 0.0f;
    }
    __syncthreads();

    // Keys the block needs, and the warp's own share of them (warp-uniform).
    int32_t blk_lo = INT32_MAX;
    int32_t blk_hi = -1;
    int32_t warp_lo = INT32_MAX;
    int32_t warp_hi = -1;
    for (int r = 0; r < kBq; ++r) {
        if (row_pos[r] >= 0) {
            blk_lo = min(blk_lo, row_lo[r]);
            blk_hi = max(blk_hi, row_pos[r]);
            if (r / 16 == warp) {
                warp_lo = min(warp_lo, row_lo[r]);
                warp_hi = max(warp_hi, row_pos[r]);
            }
        }
    }

    // Q fragments stay in registers for the whole key loop.
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> qa[kD / 16];
#pragma unroll
    for (int k = 0; k < kD / 16; ++k) {
        wmma::load_matrix_sync(qa[k], qs + warp * 16 * L::kLdh + k * 16, L::kLdh);
    }

    for (int64_t kv0 = blk_lo; kv0 <= blk_hi; kv0 += kBk) {
        __syncthreads();  // every warp is done with the previous K/V tile
        // 16-byte loads, a fixed count per thread (kBk * kD / 4 / kThreads = 8, 16 or 32 each for K
        // and V), unrolled so up to 16 are in flight before the first conversion (32 would spill at
        // head_dim 256).
        constexpr int kLoads = kBk * (kD / 4) / kThreads;
        static_assert(kBk * (kD / 4) % kThreads == 0);
#pragma unroll 16
        for (int it = 0; it < kLoads; ++it) {
            const int i = tid + it * kThreads;
            const int r = i / (kD / 4);
            const int c = (i % (kD / 4)) * 4;
            const int64_t j = kv0 + r;
            float4 kv = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            float4 vv = kv;
            if (j <= blk_hi && a.paged.kv != nullptr) {
                load_paged(a.paged, a.n_kv_heads, g, kD, j, c, kv, vv);
            } else if (j <= blk_hi) {  // blk_hi < n_kv
                kv = __ldg(reinterpret_cast<const float4*>(a.k + j * a.k_stride + g * kD + c));
                vv = __ldg(reinterpret_cast<const float4*>(a.v + j * a.v_stride + g * kD + c));
            }
            store_bf16x4(ks + r * L::kLdh + c, kv);
            store_bf16x4(vs + r * L::kLdh + c, vv);
        }
        __syncthreads();
        if (kv0 > warp_hi || kv0 + kBk - 1 < warp_lo) {
            continue;  // no row of this warp sees a key of this tile
        }

        // S = Q Kᵀ for the warp's 16 rows: Kᵀ is K read column-major.
#pragma unroll
        for (int n = 0; n < kBk / 16; ++n) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> s;
            wmma::fill_fragment(s, 0.0f);
#pragma unroll
            for (int k = 0; k < kD / 16; ++k) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> kb;
                wmma::load_matrix_sync(kb, ks + n * 16 * L::kLdh + k * 16, L::kLdh);
                wmma::mma_sync(s, qa[k], kb, s);
            }
            wmma::store_matrix_sync(ss + warp * 16 * L::kLds + n * 16, s, L::kLds, wmma::mem_row_major);
        }
        __syncwarp();

        // Online softmax: a pair of lanes per row (lane / 2 = row of the warp's 16), each lane taking the
        // interleaved 4-key chunks half * 4 + 8 * i of the tile, so one shuffle combines a row and the
        // 16-byte shared-memory accesses of a quarter-warp fall in distinct banks (row strides of
        // 8 words mod 32 plus the 4-word half offset).
        {
            const int r = warp * 16 + lane / 2;
            const int half = lane % 2;
            const int32_t pos = row_pos[r];
            const int32_t lo = row_lo[r];
            float sc[kBk / 2];
            float mx = -INFINITY;
#pragma unroll
            for (int i = 0; i < kBk / 8; ++i) {
                const int c = half * 4 + 8 * i;
                const float4 s4 = *reinterpret_cast<const float4*>(ss + r * L::kLds + c);
                const float raw[4] = {s4.x, s4.y, s4.z, s4.w};
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const int64_t j = kv0 + c + e;
                    float v = raw[e] * a.scale;
                    if (a.softcap > 0.0f) {
                        v = a.softcap * tanhf(v / a.softcap);
                    }
                    v = j <= pos && j >= lo ? v : -INFINITY;
                    sc[i * 4 + e] = v;
                    mx = fmaxf(mx, v);
                }
            }
            mx = fmaxf(mx, __shfl_xor_sync(kFullMask, mx, 1));
            const float m_old = row_m[r];
            const float m_new = fmaxf(m_old, mx);
            // All keys so far masked (m_new = -inf): P is 0 and nothing is rescaled. Otherwise
            // corr = exp(m_old - m_new), 0 when m_old is -inf (O and l are still 0 then).
            const bool is_empty = m_new == -INFINITY;
            const float corr = is_empty ? 1.0f : expf(m_old - m_new);
            float sum = 0.0f;
#pragma unroll
            for (int i = 0; i < kBk / 8; ++i) {
                const int c = half * 4 + 8 * i;
                float p[4];
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    p[e] = is_empty ? 0.0f : expf(sc[i * 4 + e] - m_new);
                    sum += p[e];
                }
                const __nv_bfloat162 p01 = __floats2bfloat162_rn(p[0], p[1]);
                const __nv_bfloat162 p23 = __floats2bfloat162_rn(p[2], p[3]);
                uint2 packed;
                packed.x = *reinterpret_cast<const uint32_t*>(&p01);
                packed.y = *reinterpret_cast<const uint32_t*>(&p23);
                *reinterpret_cast<uint2*>(ps + r * L::kLdp + c) = packed;
            }
            sum += __shfl_xor_sync(kFullMask, sum, 1);
            __syncwarp();  // both lanes of the pair have read row_m[r] before it is replaced
            if (half == 0) {
                row_m[r] = m_new;
                row_l[r] = row_l[r] * corr + sum;
            }
            if (corr != 1.0f) {
                for (int c = half * 4; c < kD; c += 8) {
                    float4* o4 = reinterpret_cast<float4*>(os + r * L::kLdo + c);
                    float4 o = *o4;
                    o.x *= corr;
                    o.y *= corr;
                    o.z *= corr;
                    o.w *= corr;
                    *o4 = o;
                }
            }
        }
        __syncwarp();

        // O += P V for the warp's rows.
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> pa[kBk / 16];
#pragma unroll
        for (int k = 0; k < kBk / 16; ++k) {
            wmma::load_matrix_sync(pa[k], ps + warp * 16 * L::kLdp + k * 16, L::kLdp);
        }
#pragma unroll 2
        for (int n = 0; n < kD / 16; ++n) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> o;
            float* o_ptr = os + warp * 16 * L::kLdo + n * 16;
            wmma::load_matrix_sync(o, o_ptr, L::kLdo, wmma::mem_row_major);
#pragma unroll
            for (int k = 0; k < kBk / 16; ++k) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> vb;
                wmma::load_matrix_sync(vb, vs + k * 16 * L::kLdh + n * 16, L::kLdh);
                wmma::mma_sync(o, pa[k], vb, o);
            }
            wmma::store_matrix_sync(o_ptr, o, L::kLdo, wmma::mem_row_major);
        }
        __syncwarp();
    }
    __syncwarp();

    for (int rr = 0; rr < 16; ++rr) {
        const int r = warp * 16 + rr;
        const int64_t t = t0 + r;
        if (t >= a.n_tokens) {
            break;  // rows past n_tokens are at the end of the tile
        }
        const float l = row_l[r];
        const float inv = l > 0.0f ? 1.0f / l : 0.0f;
        float* o = a.out + (t * a.n_heads + h) * kD;
        for (int d = lane; d < kD; d += 32) {
            o[d] = os[r * L::kLdo + d] * inv;
        }
    }
}

template <int kD>
Status launch(const PrefillAttentionArgs& a, cudaStream_t stream) {
    constexpr size_t kBytes = Smem<kD>::kBytes;
    GANNET_RETURN_IF_ERROR(gannet::cuda::cuda_status(
        cudaFuncSetAttribute(flash_prefill_kernel<kD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(kBytes)),
        "prefill_attention_flash smem attribute"));
    const dim3 grid(static_cast<unsigned>((a.n_tokens + kBq - 1) / kBq), static_cast<unsigned>(a.n_heads));
    flash_prefill_kernel<kD><<<grid, kThreads, kBytes, stream>>>(a);
    return gannet::cuda::cuda_status(cudaGetLastError(), "prefill_attention_flash launch");
}

}  // namespace

size_t prefill_attention_flash_smem_bytes(int64_t head_dim) {
    switch (head_dim) {
        case 64: return Smem<64>::kBytes;
        case 128: return Smem<128>::kBytes;
        case 256: return Smem<256>::kBytes;
        default: return 0;
    }
}

Status prefill_attention_flash(const PrefillAttentionArgs& a, cudaStream_t stream) {
    switch (a.head_dim_k) {
        case 64: return launch<64>(a, stream);
        case 128: return launch<128>(a, stream);
        case 256: return launch<256>(a, stream);
        default:
            return make_error(ErrorCode::kUnimplemented, "prefill_attention: no flash kernel for head_dim %lld",
                              static_cast<long long>(a.head_dim_k));
    }
}

}  // namespace gannet::kernels::cuda::detail
