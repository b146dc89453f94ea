#include "model/block_select.h"

#include <algorithm>
#include <limits>

namespace gannet::model {
namespace {

// q . k over n floats with eight partial sums in a fixed order (as the attention's dot product).
float dot8(const float* a, const float* b, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t d = 0;
    for (; d + 8 <= n; d += 8) {
        for (int l = 0; l < 8; ++l) {
            acc[l] += a[d + l] * b[d + l];
        }
    }
    for (; d < n; ++d) {
        acc[0] += a[d] * b[d];
    }
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

bool is_forced(int32_t b, int32_t own, const SelectRule& r) {
    return b < r.init_blocks || (b <= own && b > own - r.local_blocks);
}

}  // namespace

SelectRule msa_rule(const SparseAttentionConfig& s) {
    return SelectRule{.topk = s.topk,
                      .init_blocks = s.init_blocks,
                      .local_blocks = s.local_blocks,
                      .is_local_in_topk = s.is_local_in_topk};
}

SelectRule quest_rule(int64_t topk) {
    return SelectRule{.topk = topk, .init_blocks = 0, .local_blocks = 1, .is_local_in_topk = true};
}

int32_t select_top_blocks(const float* scores, int32_t own, const SelectRule& r, int32_t* scratch,
                          std::span<int32_t> out) {
    std::fill(out.begin(), out.end(), -1);
    const int32_t n_vis = own + 1;
    int32_t n_cand = 0;
    int32_t n_forced = 0;
    for (int32_t b = 0; b < n_vis; ++b) {
        if (is_forced(b, own, r)) {
            ++n_forced;
        }
        // With the forced blocks inside the k they do not compete; otherwise every block does.
        if (!r.is_local_in_topk || !is_forced(b, own, r)) {
            scratch[n_cand++] = b;
        }
    }
    const int64_t slots = r.is_local_in_topk ? std::max<int64_t>(0, r.topk - n_forced) : r.topk;
    const int32_t n_take = static_cast<int32_t>(std::min<int64_t>(slots, n_cand));
    auto better = [scores](int32_t a, int32_t b) {
        return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
    };
    std::partial_sort(scratch, scratch + n_take, scratch + n_cand, better);
    int32_t n = 0;
    for (int32_t i = 0; i < n_take; ++i) {
        if (!is_forced(scratch[i], own, r)) {
            out[static_cast<size_t>(n++)] = scratch[i];
        }
    }
    for (int32_t b = 0; b < std::min<int64_t>(r.init_blocks, n_vis); ++b) {
        if (b <= own - r.local_blocks) {
            out[static_cast<size_t>(n++)] = b;
        }
    }
    for (int64_t j = std::min<int64_t>(r.local_blocks, n_vis) - 1; j >= 0; --j) {
        out[static_cast<size_t>(n++)] = static_cast<int32_t>(own - j);
    }
    return n;
}

// msa_block_scores for N heads: the queries transposed to [dim][N], so the inner loop over the heads
// is one SIMD register of partial sums per key dimension and each key row is read once for all heads.
template <int N>
void msa_block_scores_n(const float* q, const IndexKeyRows& keys, int64_t block_size, int64_t n_keys, int64_t b0,
                        int64_t b1, float* out, int64_t out_stride) {
    constexpr int64_t kMaxDim = 1024;  // kMaxRopeDims: the config refuses larger index heads
    const int64_t dim = keys.dim;
    alignas(64) float qt[kMaxDim * N];
    for (int64_t d = 0; d < dim; ++d) {
        for (int h = 0; h < N; ++h) {
            qt[d * N + h] = q[h * dim + d];
        }
    }
    for (int64_t b = b0; b < b1; ++b) {
        float best[N];
        for (int h = 0; h < N; ++h) {
            best[h] = -std::numeric_limits<float>::infinity();
        }
        const int64_t end = std::min(n_keys, (b + 1) * block_size);
        for (int64_t p = b * block_size; p < end; ++p) {
            const float* k = keys.row(p);
            float acc[N] = {};
            for (int64_t d = 0; d < dim; ++d) {
                const float kd = k[d];
                for (int h = 0; h < N; ++h) {
                    acc[h] += qt[d * N + h] * kd;
                }
            }
            for (int h = 0; h < N; ++h) {
                best[h] = std::max(best[h], acc[h]);
            }
        }
        for (int h = 0; h < N; ++h) {
            out[h * out_stride + (b - b0)] = best[h];
        }
    }
}

void msa_block_scores(const float* q, int64_t n_q, const IndexKeyRows& keys, int64_t block_size, int64_t n_keys,
                      int64_t b0, int64_t b1, float* out, int64_t out_stride) {
    if (keys.dim <= 1024) {
        switch (n_q) {
            case 1: return msa_block_scores_n<1>(q, keys, block_size, n_keys, b0, b1, out, out_stride);
            case 2: return msa_block_scores_n<2>(q, keys, block_size, n_keys, b0, b1, out, out_stride);
            case 4: return msa_block_scores_n<4>(q, keys, block_size, n_keys, b0, b1, out, out_stride);
            case 8: return msa_block_scores_n<8>(q, keys, block_size, n_keys, b0, b1, out, out_stride);
            case 16: return msa_block_scores_n<16>(q, keys, block_size, n_keys, b0, b1, out, out_stride);
            default: break;
        }
    }
    const float kNegInf = -std::numeric_limits<float>::infinity();
    for (int64_t b = b0; b < b1; ++b) {
        for (int64_t h = 0; h < n_q; ++h) {
            out[h * out_stride + (b - b0)] = kNegInf;
        }
        const int64_t end = std::min(n_keys, (b + 1) * block_size);
        for (int64_t p = b * block_size; p < end; ++p) {
            const float* k = keys.row(p);
            for (int64_t h = 0; h < n_q; ++h) {
                float& best = out[h * out_stride + (b - b0)];
                best = std::max(best, dot8(q + h * keys.dim, k, keys.dim));
            }
        }
    }
}

void quest_block_scores(const float* q, int64_t n_q, const kvcache::KvStorage& kv,
                        std::span<const kvcache::BlockId> table, int32_t layer, int32_t head, int64_t block_size,
                        int64_t b0, int64_t b1, float* minmax, float* out) {
    const int64_t hd = kv.layout().head_dim;
    const int64_t kv_bs = kv.layout().block_size;
    const int64_t per = block_size / kv_bs;
    float* mn = minmax;
    float* mx = minmax + hd;
    for (int64_t b = b0; b < b1; ++b) {
        for (int64_t i = 0; i < per; ++i) {
            const std::span<const float> s = kv.summaries().at(table[static_cast<size_t>(b * per + i)], layer, head);
            if (i == 0) {
                std::copy(s.begin(), s.begin() + hd, mn);
                std::copy(s.begin() + hd, s.begin() + 2 * hd, mx);
                continue;
            }
            for (int64_t d = 0; d < hd; ++d) {
                mn[d] = std::min(mn[d], s[static_cast<size_t>(d)]);
                mx[d] = std::max(mx[d], s[static_cast<size_t>(hd + d)]);
            }
        }
        float total = 0.0f;
        for (int64_t h = 0; h < n_q; ++h) {
            const float* qh = q + h * hd;
            for (int64_t d = 0; d < hd; ++d) {
                total += std::max(qh[d] * mn[d], qh[d] * mx[d]);
            }
        }
        out[b - b0] = total;
    }
}

int32_t selection_ranges(std::span<const int32_t> ids, int64_t block_size, int64_t pos, int32_t* sort_scratch,
                         int64_t* ranges) {
    int32_t n = 0;
    for (int32_t id : ids) {
        if (id >= 0) {
            sort_scratch[n++] = id;
        }
    }
    std::sort(sort_scratch, sort_scratch + n);
    int32_t n_ranges = 0;
    for (int32_t i = 0; i < n; ++i) {
        const int64_t lo = sort_scratch[i] * block_size;
        const int64_t hi = std::min((sort_scratch[i] + 1) * block_size, pos + 1);
        if (lo >= hi || (i > 0 && sort_scratch[i] == sort_scratch[i - 1])) {
            continue;
        }
        ranges[2 * n_ranges] = lo;
        ranges[2 * n_ranges + 1] = hi;
        ++n_ranges;
    }
    return n_ranges;
}

}  // namespace gannet::model
