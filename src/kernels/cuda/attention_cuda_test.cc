// Parity of the CUDA attention kernels: paged decode attention (split-KV, GQA, f32/f16/bf16 K/V)
// against a double-precision reference read from the same paged cache through KvCacheLayout, and the
// simple prefill attention against the CPU op in kernels/ops/attention.h.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "base/half.h"
#include "base/thread_pool.h"
#include "kernels/cuda/paged_attention.h"
#include "kernels/cuda/prefill_attention.h"
#include "kernels/cuda/test_util.h"
#include "kernels/cuda/tolerances.h"
#include "kernels/ops/attention.h"
#include "kvcache/kv_layout.h"

namespace gannet::kernels::cuda {
namespace {

using kvcache::KvCacheLayout;
using kvcache::KvDType;

float read_elem(const uint8_t* p, KvDType dtype) {
    uint16_t h = 0;
    switch (dtype) {
        case KvDType::kF32: {
            float f = 0.0f;
            std::memcpy(&f, p, 4);
            return f;
        }
        case KvDType::kF16: std::memcpy(&h, p, 2); return fp16_to_fp32(h);
        case KvDType::kBF16: std::memcpy(&h, p, 2); return bf16_to_fp32(h);
        case KvDType::kQ8_0:
        case KvDType::kQ4_0: break;  // block types: the CUDA paged attention reads 16/32-bit caches only
    }
    return NAN;
}

void write_elem(uint8_t* p, KvDType dtype, float v) {
    if (dtype == KvDType::kF32) {
        std::memcpy(p, &v, 4);
        return;
    }
    const uint16_t h = dtype == KvDType::kF16 ? fp32_to_fp16(v) : fp32_to_bf16(v);
    std::memcpy(p, &h, 2);
}

struct PagedCase {
    KvDType dtype;
    int32_t n_heads;
    int32_t n_kv_heads;
    int32_t head_dim;
    int32_t block_size;
    std::vector<int32_t> seq_lens;
};

void check_paged(const PagedCase& c, uint32_t seed) {
    SCOPED_TRACE(testing::Message() << kvcache::kv_dtype_name(c.dtype) << " heads=" << c.n_heads << "/" << c.n_kv_heads
                                    << " head_dim=" << c.head_dim << " block_size=" << c.block_size);
    const auto n_seqs = static_cast<int32_t>(c.seq_lens.size());
    const int32_t max_len = *std::max_element(c.seq_lens.begin(), c.seq_lens.end());
    const int32_t max_blocks = (max_len + c.block_size - 1) / c.block_size + 1;  // one spare column
    KvCacheLayout L;
    L.n_blocks = n_seqs * max_blocks + 3;
    L.n_layers = 2;
    L.n_kv_heads = c.n_kv_heads;
    L.head_dim = c.head_dim;
    L.block_size = c.block_size;
    L.dtype = c.dtype;
    ASSERT_TRUE(L.validate().ok());
    // The CUDA paged attention reads element caches (f32/f16/bf16): one block is one value.
    const size_t elem = kvcache::kv_dtype_block_bytes(c.dtype);
    const int32_t layer = 1;
    // Random cache contents everywhere (other layers and unused blocks too), and a shuffled block
    // assignment so a kernel that assumed contiguous blocks would read the wrong keys.
    std::vector<uint8_t> cache(L.total_bytes());
    {
        const std::vector<float> f = test::random_floats(cache.size() / elem, seed);
        for (size_t i = 0; i < f.size(); ++i) {
            write_elem(cache.data() + i * elem, c.dtype, f[i]);
        }
    }
    std::vector<int32_t> ids(static_cast<size_t>(L.n_blocks));
    std::iota(ids.begin(), ids.end(), 0);
    std::mt19937 rng(seed);
    std::shuffle(ids.begin(), ids.end(), rng);
    std::vector<int32_t> tables(static_cast<size_t>(n_seqs * max_blocks));
    for (size_t i = 0; i < tables.size(); ++i) {
        tables[i] = ids[i];
    }
    const std::vector<float> q = test::random_floats(static_cast<size_t>(n_seqs * c.n_heads * c.head_dim), seed + 1);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));

    std::vector<float> ref(q.size());
    const int32_t group = c.n_heads / c.n_kv_heads;
    for (int32_t s = 0; s < n_seqs; ++s) {
        for (int32_t h = 0; h < c.n_heads; ++h) {
            const float* qh = q.data() + (static_cast<size_t>(s) * c.n_heads + h) * c.head_dim;
            const int32_t len = c.seq_lens[static_cast<size_t>(s)];
            std::vector<double> scores(static_cast<size_t>(len));
            double m = -INFINITY;
            for (int32_t t = 0; t < len; ++t) {
                const int32_t block = tables[static_cast<size_t>(s * max_blocks + t / c.block_size)];
                const uint8_t* k = cache.data() + L.k_offset(block, layer, h / group, t % c.block_size);
                double dot = 0.0;
                for (int32_t d = 0; d < c.head_dim; ++d) {
                    dot += static_cast<double>(qh[d]) * read_elem(k + d * elem, c.dtype);
                }
                scores[static_cast<size_t>(t)] = dot * scale;
                m = std::max(m, scores[static_cast<size_t>(t)]);
            }
            double sum = 0.0;
            std::vector<double> out(static_cast<size_t>(c.head_dim), 0.0);
            for (int32_t t = 0; t < len; ++t) {
                const double p = std::exp(scores[static_cast<size_t>(t)] - m);
                sum += p;
                const int32_t block = tables[static_cast<size_t>(s * max_blocks + t / c.block_size)];
                const uint8_t* v = cache.data() + L.v_offset(block, layer, h / group, t % c.block_size);
                for (int32_t d = 0; d < c.head_dim; ++d) {
                    out[static_cast<size_t>(d)] += p * read_elem(v + d * elem, c.dtype);
                }
            }
            for (int32_t d = 0; d < c.head_dim; ++d) {
                ref[(static_cast<size_t>(s) * c.n_heads + h) * c.head_dim + d] =
                    static_cast<float>(out[static_cast<size_t>(d)] / sum);
            }
        }
    }

    gannet::cuda::DeviceBuffer cache_d = test::upload(cache);
    gannet::cuda::DeviceBuffer q_d = test::upload(q);
    gannet::cuda::DeviceBuffer tables_d = test::upload(tables);
    std::vector<int32_t> last(c.seq_lens.size());  // each query sits at its sequence's last position
    for (size_t i = 0; i < last.size(); ++i) {
        last[i] = c.seq_lens[i] - 1;
    }
    gannet::cuda::DeviceBuffer lens_d = test::upload(last);
    gannet::cuda::DeviceBuffer out_d = test::poisoned(q.size() * sizeof(float));
    PagedAttentionArgs a;
    a.q = q_d.as<float>();
    a.kv = cache_d.data();
    a.layout = L;
    a.layer = layer;
    a.block_tables = tables_d.as<int32_t>();
    a.max_blocks_per_seq = max_blocks;
    a.positions = lens_d.as<int32_t>();
    a.n_queries = n_seqs;
    a.n_heads = c.n_heads;
    a.scale = scale;
    a.out = out_d.as<float>();
    gannet::cuda::DeviceBuffer scratch = test::poisoned(paged_attention_scratch_floats(a) * sizeof(float));
    a.scratch = scratch.as<float>();
    a.scratch_floats = paged_attention_scratch_floats(a);
    const Status st = paged_attention(a, nullptr);
    ASSERT_TRUE(st.ok()) << st.to_string();
    EXPECT_LE(test::rel_err(test::download<float>(out_d, q.size()), ref), kAttentionRelErr);
}

TEST(PagedAttentionCudaTest, MatchesReferenceAcrossSplitsAndGqa) {
    uint32_t seed = 3;
    for (KvDType dtype : {KvDType::kF16, KvDType::kF32, KvDType::kBF16}) {
        // Llama-3-8B heads; lengths of 1 token, part of a block, several splits (64 tokens each).
        check_paged({dtype, 32, 8, 128, 16, {1, 17, 300, 1031}}, seed++);
    }
    // Odd shapes: no GQA, head_dim 64, blocks of 32; and head_dim 80 (not a multiple of 32), MQA.
    // (paged_attention_test.cc covers windows, soft-capping and batch invariance.)
    check_paged({KvDType::kF16, 4, 4, 64, 32, {33, 2, 513}}, seed++);
    check_paged({KvDType::kF32, 6, 1, 80, 16, {95, 7}}, seed++);
}

TEST(PagedAttentionCudaTest, RejectsBadHeadCountsAndShortScratch) {
    PagedAttentionArgs a;
    a.layout.n_blocks = 4;
    a.layout.n_layers = 1;
    a.layout.n_kv_heads = 3;
    a.layout.head_dim = 64;
    a.n_queries = 1;
    a.n_heads = 4;  // not a multiple of 3
    a.max_blocks_per_seq = 1;
    EXPECT_EQ(paged_attention(a, nullptr).code(), ErrorCode::kInvalidArgument);
    a.n_heads = 6;
    int dummy = 0;
    float f = 0.0f;
    a.q = &f;
    a.kv = &dummy;
    a.block_tables = &dummy;
    a.positions = &dummy;
    a.out = &f;
    a.scratch = &f;
    a.scratch_floats = 1;
    const Status st = paged_attention(a, nullptr);
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(st.message().find("scratch"), std::string::npos);
}

TEST(PrefillAttentionCudaTest, MatchesCpuWithGqaWindowAndSoftcap) {
    struct Case {
        int64_t n_tokens;
        int64_t n_heads;
        int64_t n_kv_heads;
        int64_t head_dim;
        int64_t window;
        float softcap;
    };
    uint32_t seed = 70;
    for (Case c : {Case{13, 32, 8, 128, 0, 0.0f}, Case{1, 4, 4, 64, 0, 0.0f}, Case{77, 6, 2, 80, 16, 30.0f}}) {
        SCOPED_TRACE(testing::Message() << "n_tokens=" << c.n_tokens << " heads=" << c.n_heads << "/" << c.n_kv_heads
                                        << " head_dim=" << c.head_dim);
        const int64_t n_past = 5;  // tokens already cached before this chunk
        const int64_t n_kv = n_past + c.n_tokens;
        const int64_t stride = c.n_kv_heads * c.head_dim;
        const std::vector<float> q =
            test::random_floats(static_cast<size_t>(c.n_tokens * c.n_heads * c.head_dim), seed++);
        const std::vector<float> k = test::random_floats(static_cast<size_t>(n_kv * stride), seed++);
        const std::vector<float> v = test::random_floats(static_cast<size_t>(n_kv * stride), seed++);
        std::vector<int32_t> pos(static_cast<size_t>(c.n_tokens));
        for (int64_t t = 0; t < c.n_tokens; ++t) {
            pos[static_cast<size_t>(t)] = static_cast<int32_t>(n_past + t);
        }
        std::vector<float> ref(static_cast<size_t>(c.n_tokens * c.n_heads * c.head_dim));
        kernels::AttentionArgs ca;
        ca.q = q.data();
        ca.positions = pos.data();
        ca.k = k.data();
        ca.k_stride = stride;
        ca.v = v.data();
        ca.v_stride = stride;
        ca.out = ref.data();
        ca.n_tokens = c.n_tokens;
        ca.n_heads = c.n_heads;
        ca.n_kv_heads = c.n_kv_heads;
        ca.head_dim_k = c.head_dim;
        ca.head_dim_v = c.head_dim;
        ca.n_kv = n_kv;
        ca.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
        ca.softcap = c.softcap;
        ca.window = c.window;
        ThreadPool pool(2);
        std::vector<float> scratch(static_cast<size_t>(attention_scratch_floats(pool.n_threads(), n_kv)));
        ASSERT_TRUE(kernels::attention(ca, scratch, pool).ok());

        gannet::cuda::DeviceBuffer qd = test::upload(q);
        gannet::cuda::DeviceBuffer kd = test::upload(k);
        gannet::cuda::DeviceBuffer vd = test::upload(v);
        gannet::cuda::DeviceBuffer pd = test::upload(pos);
        gannet::cuda::DeviceBuffer od = test::poisoned(ref.size() * sizeof(float));
        PrefillAttentionArgs a;
        a.q = qd.as<float>();
        a.positions = pd.as<int32_t>();
        a.k = kd.as<float>();
        a.k_stride = stride;
        a.v = vd.as<float>();
        a.v_stride = stride;
        a.out = od.as<float>();
        a.n_tokens = c.n_tokens;
        a.n_heads = c.n_heads;
        a.n_kv_heads = c.n_kv_heads;
        a.head_dim_k = c.head_dim;
        a.head_dim_v = c.head_dim;
        a.n_kv = n_kv;
        a.scale = ca.scale;
        a.softcap = c.softcap;
        a.window = c.window;
        a.kernel = PrefillAttentionKernel::kReference;  // f32 throughout; the flash kernel has its own test
        ASSERT_TRUE(prefill_attention(a, nullptr).ok());
        EXPECT_LE(test::rel_err(test::download<float>(od, ref.size()), ref), kAttentionRelErr);
    }
}

}  // namespace
}  // namespace gannet::kernels::cuda
