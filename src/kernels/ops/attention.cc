#include "kernels/ops/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/check.h"

namespace gannet::kernels {
namespace {

// Eight independent partial sums so the compiler can keep them in vector lanes without
// -ffast-math (a single running sum is a serial dependency chain it must not reorder).
float dot(const float* a, const float* b, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int l = 0; l < 8; ++l) {
            acc[l] += a[i + l] * b[i + l];
        }
    }
    float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; ++i) {
        sum += a[i] * b[i];
    }
    return sum;
}

// Heads [h0, h0 + n_h) of kv group g for token t. The heads of a group share their keys and
// values, so each cached row is loaded once for all of them: bytes moved per call are
// n_visible * (head_dim_k + head_dim_v) * 4, memory-bound on long contexts, and grouping divides
// the traffic by the group size. scores: [n_h][n_visible].
void attend_heads(const AttentionArgs& a, int64_t t, int64_t g, int64_t h0, int64_t n_h, float* scores) {
    const int64_t pos = a.positions[t];
    const int64_t lo = a.window > 0 ? std::max<int64_t>(0, pos - a.window + 1) : 0;
    const int64_t n = pos - lo + 1;
    const float* q = a.q + (t * a.n_heads + h0) * a.head_dim_k;
    for (int64_t j = 0; j < n; ++j) {
        const float* k = a.k + (lo + j) * a.k_stride + g * a.head_dim_k;
        for (int64_t h = 0; h < n_h; ++h) {
            float s = dot(q + h * a.head_dim_k, k, a.head_dim_k) * a.scale;
            if (a.softcap > 0.0f) {
                s = a.softcap * std::tanh(s / a.softcap);
            }
            scores[h * n + j] = s;
        }
    }
    for (int64_t h = 0; h < n_h; ++h) {
        float* sc = scores + h * n;
        const float max_s = *std::max_element(sc, sc + n);
        float sum = 0.0f;
        for (int64_t j = 0; j < n; ++j) {
            sc[j] = std::exp(sc[j] - max_s);
            sum += sc[j];
        }
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < n; ++j) {
            sc[j] *= inv;
        }
    }
    float* out = a.out + (t * a.n_heads + h0) * a.head_dim_v;
    std::fill(out, out + n_h * a.head_dim_v, 0.0f);
    for (int64_t j = 0; j < n; ++j) {
        const float* v = a.v + (lo + j) * a.v_stride + g * a.head_dim_v;
        for (int64_t h = 0; h < n_h; ++h) {
            const float w = scores[h * n + j];
            float* o = out + h * a.head_dim_v;
            for (int64_t d = 0; d < a.head_dim_v; ++d) {
                o[d] += w * v[d];
            }
        }
    }
}

}  // namespace

int64_t attention_scratch_floats(int n_threads, int64_t n_kv, int64_t n_heads_per_kv_head) {
    return static_cast<int64_t>(n_threads) * n_kv * n_heads_per_kv_head;
}

Status attention(const AttentionArgs& a, std::span<float> scratch, ThreadPool& pool) {
    if (a.n_kv_heads <= 0 || a.n_heads % a.n_kv_heads != 0) {
        return make_error(ErrorCode::kInvalidArgument, "attention: n_heads %lld is not a multiple of n_kv_heads %lld",
                          static_cast<long long>(a.n_heads), static_cast<long long>(a.n_kv_heads));
    }
    for (int64_t t = 0; t < a.n_tokens; ++t) {
        if (a.positions[t] < 0 || a.positions[t] >= a.n_kv) {
            return make_error(ErrorCode::kInvalidArgument, "attention: position %d outside the cache [0, %lld)",
                              a.positions[t], static_cast<long long>(a.n_kv));
        }
    }
    const int64_t group = a.n_heads / a.n_kv_heads;
    const int n_threads = pool.n_threads();
    GANNET_CHECK(static_cast<int64_t>(scratch.size()) >= attention_scratch_floats(n_threads, a.n_kv, 1));
    // Work items are (token, kv group, slice of the group's heads). Whole groups share K/V loads best;
    // slices are smaller when the scratch holds fewer heads' scores, or when there are fewer
    // (token, group) pairs than threads (decode with few kv heads), so every thread has work.
    // Results do not depend on the split.
    const int64_t max_heads = std::clamp<int64_t>(
        static_cast<int64_t>(scratch.size()) / (static_cast<int64_t>(n_threads) * a.n_kv), 1, group);
    const int64_t n_pairs = a.n_tokens * a.n_kv_heads;
    const int64_t n_slices = std::clamp<int64_t>(
        std::max((n_threads + n_pairs - 1) / n_pairs, (group + max_heads - 1) / max_heads), 1, group);
    // The lambda captures one pointer so std::function stores it inline: decode steps must not allocate.
    struct Job {
        const AttentionArgs& a;
        float* scratch;
        int64_t scratch_per_thread;
        int64_t group;
        int64_t n_slices;
        int64_t n_items;
        int n_threads;
    } job{a, scratch.data(), a.n_kv * max_heads, group, n_slices, n_pairs * n_slices, n_threads};
    pool.run([j = &job](int thread) {
        const int64_t begin = j->n_items * thread / j->n_threads;
        const int64_t end = j->n_items * (thread + 1) / j->n_threads;
        float* scores = j->scratch + static_cast<int64_t>(thread) * j->scratch_per_thread;
        for (int64_t item = begin; item < end; ++item) {
            const int64_t slice = item % j->n_slices;
            const int64_t pair = item / j->n_slices;
            const int64_t t = pair / j->a.n_kv_heads;
            const int64_t g = pair % j->a.n_kv_heads;
            const int64_t h_begin = g * j->group + j->group * slice / j->n_slices;
            const int64_t h_end = g * j->group + j->group * (slice + 1) / j->n_slices;
            attend_heads(j->a, t, g, h_begin, h_end - h_begin, scores);
        }
    });
    return Status();
}

}  // namespace gannet::kernels
