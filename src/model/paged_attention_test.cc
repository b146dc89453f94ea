// paged_attention (the flash attention over the paged KV cache) against kernels::attention, the plain
// contiguous attention op, run on the same rows dequantized; and its determinism contract: a
// (token, head) result is the same bits whether the token is alone or in a query block of 8 with
// others, whatever the thread count.
//
// Tolerance: both sides read the same float values; they differ in summation order and in the exp
// polynomial (kernels/attention_cpu_test.cc derives the bound). Scores here are O(1) over <= 300
// keys with |v| < 1, so the derived bound is below 1e-4; a lost key or a wrong tile is ~1e-2 off.
#include "model/paged_attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/check.h"
#include "kernels/ops/attention.h"
#include "tensor/quant.h"

namespace gannet::model {
namespace {

constexpr double kTol = 1e-4;

tensor::DType tensor_type(kvcache::KvDType t) {
    switch (t) {
        case kvcache::KvDType::kF16: return tensor::DType::kF16;
        case kvcache::KvDType::kBF16: return tensor::DType::kBF16;
        case kvcache::KvDType::kQ8_0: return tensor::DType::kQ8_0;
        case kvcache::KvDType::kQ4_0: return tensor::DType::kQ4_0;
        default: return tensor::DType::kF32;
    }
}

struct Fixture {
    ModelConfig c;
    kvcache::KvStorage kv;
    std::vector<kvcache::BlockId> table;  // scattered over the pool, not in order
    std::vector<float> k_deq, v_deq;      // [n_pos, k_dim] the stored rows as floats
    std::vector<float> q;                 // [n_pos, q_dim]
    int64_t n_pos = 0;
};

Fixture make_fixture(kvcache::KvDType type, int64_t hd, int64_t n_heads, int64_t n_kv_heads, int64_t n_pos,
                     float softcap, uint32_t seed) {
    ModelConfig c;
    c.arch_name = "test";
    c.n_layers = 1;
    c.n_heads = n_heads;
    c.n_kv_heads = n_kv_heads;
    c.head_dim_k = c.head_dim_v = c.n_rot = hd;
    c.attn_scale = 1.0f / std::sqrt(static_cast<float>(hd));
    c.attn_softcap = softcap;
    const int32_t bs = 16;
    const auto n_blocks = static_cast<int32_t>((n_pos + bs - 1) / bs + 3);
    const kvcache::KvCacheLayout lay{.n_blocks = n_blocks,
                                     .n_layers = 1,
                                     .n_kv_heads = static_cast<int32_t>(n_kv_heads),
                                     .head_dim = static_cast<int32_t>(hd),
                                     .block_size = bs,
                                     .dtype = type,
                                     .key_summary = kvcache::KeySummaryKind::kMinMax};
    Result<kvcache::KvStorage> kv = kvcache::KvStorage::create(lay);
    GANNET_CHECK(kv.has_value());
    Fixture f{.c = c, .kv = std::move(*kv), .table = {}, .k_deq = {}, .v_deq = {}, .q = {}, .n_pos = n_pos};
    for (int32_t b = n_blocks - 1; b >= 0; --b) {
        f.table.push_back(b);  // reversed: each tile jump goes backwards
    }
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    f.k_deq.resize(static_cast<size_t>(n_pos * f.c.k_dim()));
    f.v_deq.resize(static_cast<size_t>(n_pos * f.c.v_dim()));
    f.q.resize(static_cast<size_t>(n_pos * f.c.q_dim()));
    for (float& x : f.q) {
        x = 2.0f * dist(rng);
    }
    std::vector<float> row(static_cast<size_t>(hd));
    for (int64_t p = 0; p < n_pos; ++p) {
        const kvcache::BlockId blk = f.table[static_cast<size_t>(p / bs)];
        for (int32_t g = 0; g < n_kv_heads; ++g) {
            for (int pass = 0; pass < 2; ++pass) {
                for (float& x : row) {
                    x = dist(rng);
                }
                std::byte* dst = (pass == 0 ? f.kv.k(blk, 0, g) : f.kv.v(blk, 0, g)) + (p % bs) * lay.row_bytes();
                EXPECT_TRUE(tensor::quantize_row(tensor_type(type), row.data(), dst, hd).ok());
                float* deq = (pass == 0 ? f.k_deq.data() : f.v_deq.data()) + p * f.c.k_dim() + g * hd;
                EXPECT_TRUE(tensor::dequantize_row(tensor_type(type), dst, deq, hd).ok());
            }
        }
    }
    return f;
}

// Attention of tokens at positions [p0, p0 + n) of the one sequence, in one paged_attention call.
std::vector<float> run_paged(const Fixture& f, int64_t p0, int64_t n, int64_t window, ThreadPool& pool,
                             kernels::Isa isa = kernels::Isa::kAuto) {
    std::vector<int32_t> tokens(static_cast<size_t>(n), 0);
    std::vector<int32_t> positions(static_cast<size_t>(n));
    std::vector<int32_t> seq_of(static_cast<size_t>(n), 0);
    for (int64_t i = 0; i < n; ++i) {
        positions[static_cast<size_t>(i)] = static_cast<int32_t>(p0 + i);
    }
    const BatchSeq seq{.tokens = tokens, .pos = static_cast<int32_t>(p0), .block_table = f.table};
    std::vector<float> att(static_cast<size_t>(n * f.c.n_heads * f.c.head_dim_v), -1.0f);
    std::vector<float> scratch(static_cast<size_t>(pool.n_threads() * paged_attention_scratch_floats(f.c)));
    std::vector<int64_t> ranges(static_cast<size_t>(pool.n_threads() * kAttentionQueryBlock * 2));
    std::vector<int32_t> sort(static_cast<size_t>(pool.n_threads()));
    paged_attention({.c = &f.c,
                     .seqs = std::span<const BatchSeq>(&seq, 1),
                     .kv = &f.kv,
                     .positions = positions.data(),
                     .seq_of = seq_of.data(),
                     .q = f.q.data() + p0 * f.c.q_dim(),
                     .att = att.data(),
                     .n_tokens = n,
                     .layer = 0,
                     .window = window,
                     .scratch = scratch.data(),
                     .ranges = ranges.data(),
                     .sort = sort.data(),
                     .isa = isa},
                    pool);
    return att;
}

std::vector<float> run_reference(const Fixture& f, int64_t p0, int64_t n, int64_t window, ThreadPool& pool) {
    std::vector<int32_t> positions(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        positions[static_cast<size_t>(i)] = static_cast<int32_t>(p0 + i);
    }
    const ModelConfig& c = f.c;
    std::vector<float> out(static_cast<size_t>(n * c.n_heads * c.head_dim_v));
    std::vector<float> scratch(
        static_cast<size_t>(kernels::attention_scratch_floats(pool.n_threads(), f.n_pos, c.n_heads / c.n_kv_heads)));
    const Status st = kernels::attention({.q = f.q.data() + p0 * c.q_dim(),
                                          .positions = positions.data(),
                                          .k = f.k_deq.data(),
                                          .k_stride = c.k_dim(),
                                          .v = f.v_deq.data(),
                                          .v_stride = c.v_dim(),
                                          .out = out.data(),
                                          .n_tokens = n,
                                          .n_heads = c.n_heads,
                                          .n_kv_heads = c.n_kv_heads,
                                          .head_dim_k = c.head_dim_k,
                                          .head_dim_v = c.head_dim_v,
                                          .n_kv = p0 + n,
                                          .scale = c.attn_scale,
                                          .softcap = c.attn_softcap,
                                          .window = window},
                                         scratch, pool);
    EXPECT_TRUE(st.ok()) << st.to_string();
    return out;
}

std::vector<kernels::Isa> isas() {
    std::vector<kernels::Isa> out = {kernels::Isa::kPortable};
    for (kernels::Isa isa : {kernels::Isa::kAvx2, kernels::Isa::kAvx512}) {
        if (kernels::isa_supported(isa)) {
            out.push_back(isa);
        }
    }
    return out;
}

TEST(PagedAttention, MatchesContiguousAttentionOnEveryTypeAndIsa) {
    ThreadPool pool(3);
    struct Case {
        kvcache::KvDType type;
        int64_t hd, n_heads, n_kv_heads, window;
        float softcap;
    };
    const Case cases[] = {
        {kvcache::KvDType::kF32, 64, 8, 2, 0, 0.0f},   {kvcache::KvDType::kF16, 128, 8, 2, 0, 0.0f},
        {kvcache::KvDType::kBF16, 128, 4, 4, 0, 0.0f}, {kvcache::KvDType::kQ8_0, 128, 8, 2, 0, 0.0f},
        {kvcache::KvDType::kQ4_0, 256, 4, 1, 0, 0.0f}, {kvcache::KvDType::kF16, 80, 6, 2, 0, 0.0f},
        {kvcache::KvDType::kQ8_0, 64, 8, 2, 37, 0.0f}, {kvcache::KvDType::kF16, 128, 8, 1, 0, 30.0f},
        {kvcache::KvDType::kF32, 64, 3, 1, 16, 50.0f},
    };
    uint32_t seed = 1;
    for (const Case& cs : cases) {
        const Fixture f = make_fixture(cs.type, cs.hd, cs.n_heads, cs.n_kv_heads, 203, cs.softcap, seed++);
        // A prefill chunk crossing tile boundaries (positions 150..202) and a decode step at 202.
        for (const auto& [p0, n] : {std::pair<int64_t, int64_t>{150, 53}, {202, 1}, {0, 20}}) {
            const std::vector<float> ref = run_reference(f, p0, n, cs.window, pool);
            for (kernels::Isa isa : isas()) {
                const std::vector<float> got = run_paged(f, p0, n, cs.window, pool, isa);
                for (size_t i = 0; i < got.size(); ++i) {
                    ASSERT_NEAR(got[i], ref[i], kTol)
                        << kvcache::kv_dtype_name(cs.type) << " hd " << cs.hd << " window " << cs.window << " softcap "
                        << cs.softcap << " p0 " << p0 << " n " << n << " isa " << kernels::isa_name(isa) << " at " << i;
                }
            }
        }
    }
}

// The determinism contract: each token computed alone (a query block of one, decode-like head
// slices) and in one call of 61 tokens (query blocks of 8, a partial last one; tokens that see the
// same rows of a tile share one kernel call as extra heads), on 1 or 3 threads, gives the same bits.
// GQA groups of 4 and of 2 (two tokens' head pairs then share a pass of 4 heads).
TEST(PagedAttention, TokenResultDoesNotDependOnItsQueryBlockOrThreads) {
    ThreadPool pool1(1);
    ThreadPool pool3(3);
    for (kvcache::KvDType type :
         {kvcache::KvDType::kF32, kvcache::KvDType::kF16, kvcache::KvDType::kQ8_0, kvcache::KvDType::kQ4_0}) {
        for (const auto& [window, n_heads] : {std::pair<int64_t, int64_t>{0, 8}, {21, 8}, {0, 4}, {21, 4}}) {
            const Fixture f = make_fixture(type, 64, n_heads, 2, 140, 0.0f, 7);
            const int64_t p0 = 79;
            const int64_t n = 61;
            const std::vector<float> together = run_paged(f, p0, n, window, pool3);
            const std::vector<float> together1 = run_paged(f, p0, n, window, pool1);
            ASSERT_EQ(std::memcmp(together.data(), together1.data(), together.size() * sizeof(float)), 0);
            const int64_t row = f.c.n_heads * f.c.head_dim_v;
            for (int64_t i = 0; i < n; ++i) {
                const std::vector<float> alone = run_paged(f, p0 + i, 1, window, pool3);
                ASSERT_EQ(
                    std::memcmp(alone.data(), together.data() + i * row, static_cast<size_t>(row) * sizeof(float)), 0)
                    << kvcache::kv_dtype_name(type) << " window " << window << " token " << i;
            }
        }
    }
}

}  // namespace
}  // namespace gannet::model
