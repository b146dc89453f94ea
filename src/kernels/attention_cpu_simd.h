// The SIMD body of flash_chunk, written once over a vector traits class V and compiled twice:
// attention_cpu_avx2.cc and attention_cpu_avx512.cc define GANNET_FLASH_TARGET (the target
// attribute) and V, then include this file inside their own namespace. Internal to src/kernels.
//
// Napkin math (one decode token, head dim 128, f16 cache, 4 heads per kv head): each K row is 256
// bytes, converted once per 16 values and multiplied into the 4 heads' accumulators (4 FMAs per
// conversion), so the loop runs at the L2/DRAM rate of the tile for decode; prefill tokens re-read
// the same tile from L1/L2 (a 16-row f16 tile is 4 KiB), where the FMA ports bound it.
//
// Per-head determinism: a head's dot product is one accumulator per row over d ascending, its
// softmax sums lanes in a fixed order over the chunk, its V accumulator runs over rows ascending.
// How many heads share a pass (1, 2 or 4) changes nothing in that arithmetic.
#ifndef GANNET_FLASH_TARGET
#error "define GANNET_FLASH_TARGET and the traits V before including attention_cpu_simd.h"
#endif

// Width-W values of a stored row from element d (a multiple of W) as floats.
template <tensor::DType T>
GANNET_FLASH_TARGET inline typename V::R load_row(const std::byte* row, int64_t d) {
    if constexpr (T == tensor::DType::kF32) {
        return V::load(reinterpret_cast<const float*>(row) + d);
    } else if constexpr (T == tensor::DType::kF16) {
        return V::load_f16(reinterpret_cast<const uint16_t*>(row) + d);
    } else if constexpr (T == tensor::DType::kBF16) {
        return V::load_bf16(reinterpret_cast<const uint16_t*>(row) + d);
    } else if constexpr (T == tensor::DType::kQ8_0) {
        const auto* b = reinterpret_cast<const tensor::BlockQ8_0*>(row) + d / tensor::kQK8_0;
        return V::load_q8(b->qs + d % tensor::kQK8_0, V::half(b->d));
    } else {
        static_assert(T == tensor::DType::kQ4_0);
        const auto* b = reinterpret_cast<const tensor::BlockQ4_0*>(row) + d / tensor::kQK4_0;
        const int64_t i = d % tensor::kQK4_0;  // elements 0..15 are low nibbles, 16..31 high ones
        return V::load_q4(b->qs + i % 16, i < 16 ? 0 : 4, V::half(b->d));
    }
}

// Raw dot products q_h · k_i of heads [h0, h0 + NH) into s[(h - h0) * kStride + i]. Rows go four
// at a time while 4 * NH accumulators fit the registers, so one query load serves four rows and one
// V::reduce4 replaces four horizontal sums; the rest one at a time. A (row, head) dot is the same
// either way: one accumulator over d ascending, then the fixed reduce() tree (reduce4 matches it
// bit for bit), so a row's score does not depend on where the row falls in the chunk.
template <tensor::DType T, int NH>
GANNET_FLASH_TARGET void k_pass(const FlashChunkArgs& a, int64_t h0, float* s) {
    const int64_t hd = a.head_dim_k;
    const float* q = a.q + h0 * hd;
    int64_t i0 = 0;
    if constexpr (4 * NH <= V::kMaxAcc) {
        for (; i0 + 4 <= a.n_rows; i0 += 4) {
            const std::byte* row = a.k + static_cast<size_t>(i0) * a.k_row_bytes;
            typename V::R acc[NH][4];
            for (int h = 0; h < NH; ++h) {
                for (int r = 0; r < 4; ++r) {
                    acc[h][r] = V::zero();
                }
            }
            for (int64_t d = 0; d < hd; d += V::kW) {
                typename V::R kk[4];
                for (int r = 0; r < 4; ++r) {
                    kk[r] = load_row<T>(row + static_cast<size_t>(r) * a.k_row_bytes, d);
                }
                for (int h = 0; h < NH; ++h) {
                    const typename V::R qq = V::load(q + h * hd + d);
                    for (int r = 0; r < 4; ++r) {
                        acc[h][r] = V::fma(qq, kk[r], acc[h][r]);
                    }
                }
            }
            for (int h = 0; h < NH; ++h) {
                V::reduce4(acc[h], s + h * kStride + i0);
            }
        }
    }
    for (int64_t i = i0; i < a.n_rows; ++i) {
        const std::byte* row = a.k + static_cast<size_t>(i) * a.k_row_bytes;
        typename V::R acc[NH];
        for (int h = 0; h < NH; ++h) {
            acc[h] = V::zero();
        }
        for (int64_t d = 0; d < hd; d += V::kW) {
            const typename V::R kk = load_row<T>(row, d);
            for (int h = 0; h < NH; ++h) {
                acc[h] = V::fma(V::load(q + h * hd + d), kk, acc[h]);
            }
        }
        for (int h = 0; h < NH; ++h) {
            s[h * kStride + i] = V::reduce(acc[h]);
        }
    }
}

// acc_h = acc_h * alpha_h + Σ_i p[h][i] v_i for heads [h0, h0 + NH): each W-wide slice of the
// accumulators stays in registers over every row.
template <tensor::DType T, int NH>
GANNET_FLASH_TARGET void v_pass(const FlashChunkArgs& a, int64_t h0, const float* p, const float* alpha) {
    const int64_t hv = a.head_dim_v;
    float* acc = a.acc + h0 * hv;
    for (int64_t d = 0; d < hv; d += V::kW) {
        typename V::R o[NH];
        for (int h = 0; h < NH; ++h) {
            o[h] = V::mul(V::load(acc + h * hv + d), V::set1(alpha[h]));
        }
        for (int64_t i = 0; i < a.n_rows; ++i) {
            const typename V::R vv = load_row<T>(a.v + static_cast<size_t>(i) * a.v_row_bytes, d);
            for (int h = 0; h < NH; ++h) {
                o[h] = V::fma(V::set1(p[h * kStride + i]), vv, o[h]);
            }
        }
        for (int h = 0; h < NH; ++h) {
            V::store(acc + h * hv + d, o[h]);
        }
    }
}

// Scores of one head (s[0, n)) to weights e^(s_i - M), updating its m and l; returns e^(m_old - M).
GANNET_FLASH_TARGET inline float softmax_step(const FlashChunkArgs& a, float* s, float* m, float* l) {
    const int64_t n = a.n_rows;
    float mx = *m;
    for (int64_t i = 0; i < n; ++i) {
        float x = s[i] * a.scale;
        if (a.softcap > 0.0f) {
            x = a.softcap * std::tanh(x / a.softcap);
        }
        s[i] = x;
        mx = std::max(mx, x);
    }
    const float alpha = *m == -std::numeric_limits<float>::infinity() ? 0.0f : detail::flash_exp(*m - mx);
    const int64_t n_pad = (n + V::kW - 1) / V::kW * V::kW;
    for (int64_t i = n; i < n_pad; ++i) {
        s[i] = -std::numeric_limits<float>::infinity();  // exp gives 0: adds nothing to the sum
    }
    const typename V::R vmx = V::set1(mx);
    typename V::R sum = V::zero();
    for (int64_t i = 0; i < n_pad; i += V::kW) {
        const typename V::R e = V::exp(V::sub(V::load(s + i), vmx));
        V::store(s + i, e);
        sum = V::add(sum, e);
    }
    *m = mx;
    *l = *l * alpha + V::reduce(sum);
    return alpha;
}

template <tensor::DType T, int NH>
GANNET_FLASH_TARGET void heads_pass(const FlashChunkArgs& a, int64_t h0, float* s) {
    k_pass<T, NH>(a, h0, s);
    float alpha[NH];
    for (int h = 0; h < NH; ++h) {
        alpha[h] = softmax_step(a, s + h * kStride, a.m + h0 + h, a.l + h0 + h);
    }
    v_pass<T, NH>(a, h0, s, alpha);
}

// Heads in passes of 4, then 2, then 1: four accumulators fill the FMA pipes without spilling.
template <tensor::DType T>
GANNET_FLASH_TARGET void chunk(const FlashChunkArgs& a) {
    alignas(64) float s[4 * kStride];
    int64_t h0 = 0;
    for (; h0 + 4 <= a.n_heads; h0 += 4) {
        heads_pass<T, 4>(a, h0, s);
    }
    if (h0 + 2 <= a.n_heads) {
        heads_pass<T, 2>(a, h0, s);
        h0 += 2;
    }
    if (h0 < a.n_heads) {
        heads_pass<T, 1>(a, h0, s);
    }
}

GANNET_FLASH_TARGET void chunk_any(const FlashChunkArgs& a) {
    switch (a.kv_dtype) {
        case tensor::DType::kF16: chunk<tensor::DType::kF16>(a); return;
        case tensor::DType::kBF16: chunk<tensor::DType::kBF16>(a); return;
        case tensor::DType::kQ8_0: chunk<tensor::DType::kQ8_0>(a); return;
        case tensor::DType::kQ4_0: chunk<tensor::DType::kQ4_0>(a); return;
        default: chunk<tensor::DType::kF32>(a); return;
    }
}
