// Attention over the paged KV cache (the CUDA runner's two kernels), on caches whose blocks are
// scattered (a sequence's table is a shuffled list of block ids):
// - split-KV paged_attention against the CPU attention op over the same K/V laid out contiguously
//   (f32 and f16 caches, GQA, head_dim 16/64/128, sliding window, soft-capping, positions on and
//   across split boundaries), and bit-identical for a query alone and inside a batch;
// - the flash prefill kernel reading K/V through a block table against the same kernel on the
//   contiguous rows: the same bf16 inputs in the same order, so bit-identical (f32 and f16 caches).
#include "kernels/cuda/paged_attention.h"

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
#include "kernels/cuda/prefill_attention.h"
#include "kernels/cuda/test_util.h"
#include "kernels/cuda/tolerances.h"
#include "kernels/ops/attention.h"

namespace gannet::kernels::cuda {
namespace {

constexpr int32_t kBlockSize = 16;
constexpr int32_t kLayer = 1;  // of 2: the layer offset is exercised

// One sequence's K and V, contiguous [n_kv][n_kv_heads * head_dim], and its scattered block table.
struct Seq {
    std::vector<float> k;
    std::vector<float> v;
    std::vector<int32_t> table;
};

struct Cache {
    kvcache::KvCacheLayout layout;
    std::vector<uint8_t> bytes;
};

float round_f16(float x) {
    return fp16_to_fp32(fp32_to_fp16(x));
}

// n_seqs sequences of n_kv tokens each, in a cache whose blocks are handed out in shuffled order.
// With an f16 cache the contiguous copies hold the f16-rounded values the kernels see.
Cache make_cache(std::vector<Seq>& seqs, int32_t n_kv, int32_t n_kv_heads, int32_t head_dim, kvcache::KvDType dtype,
                 uint32_t seed) {
    const int32_t blocks_per_seq = (n_kv + kBlockSize - 1) / kBlockSize;
    const int32_t n_seqs = static_cast<int32_t>(seqs.size());
    Cache c;
    c.layout = {.n_blocks = n_seqs * blocks_per_seq + 3,
                .n_layers = 2,
                .n_kv_heads = n_kv_heads,
                .head_dim = head_dim,
                .block_size = kBlockSize,
                .dtype = dtype,
                .key_summary = kvcache::KeySummaryKind::kNone};
    c.bytes.assign(c.layout.total_bytes(), 0);
    std::vector<int32_t> ids(static_cast<size_t>(c.layout.n_blocks));
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), std::mt19937(seed));
    const size_t stride = static_cast<size_t>(n_kv_heads) * static_cast<size_t>(head_dim);
    for (int32_t s = 0; s < n_seqs; ++s) {
        Seq& q = seqs[static_cast<size_t>(s)];
        q.k = test::random_floats(static_cast<size_t>(n_kv) * stride, seed + 10 + 2 * static_cast<uint32_t>(s));
        q.v = test::random_floats(static_cast<size_t>(n_kv) * stride, seed + 11 + 2 * static_cast<uint32_t>(s));
        q.table.assign(ids.begin() + s * blocks_per_seq, ids.begin() + (s + 1) * blocks_per_seq);
        for (int32_t j = 0; j < n_kv; ++j) {
            const int32_t b = q.table[static_cast<size_t>(j / kBlockSize)];
            for (int32_t h = 0; h < n_kv_heads; ++h) {
                for (int kv = 0; kv < 2; ++kv) {
                    std::vector<float>& src = kv == 0 ? q.k : q.v;
                    float* row = src.data() + static_cast<size_t>(j) * stride + static_cast<size_t>(h) * head_dim;
                    const size_t off = kv == 0 ? c.layout.k_offset(b, kLayer, h, j % kBlockSize)
                                               : c.layout.v_offset(b, kLayer, h, j % kBlockSize);
                    for (int32_t d = 0; d < head_dim; ++d) {
                        if (dtype == kvcache::KvDType::kF16) {
                            row[d] = round_f16(row[d]);
                            const uint16_t bits = fp32_to_fp16(row[d]);
                            std::memcpy(c.bytes.data() + off + static_cast<size_t>(d) * 2, &bits, 2);
                        } else {
                            std::memcpy(c.bytes.data() + off + static_cast<size_t>(d) * 4, &row[d], 4);
                        }
                    }
                }
            }
        }
    }
    return c;
}

// The CPU op's answer for one query of head count n_heads at position pos over a sequence.
std::vector<float> cpu_attention(const Seq& s, const float* q, int32_t pos, int32_t n_heads, int32_t n_kv_heads,
                                 int32_t head_dim, float scale, float softcap, int32_t window) {
    std::vector<float> out(static_cast<size_t>(n_heads) * static_cast<size_t>(head_dim));
    kernels::AttentionArgs a;
    a.q = q;
    a.positions = &pos;
    a.k = s.k.data();
    a.k_stride = static_cast<int64_t>(n_kv_heads) * head_dim;
    a.v = s.v.data();
    a.v_stride = a.k_stride;
    a.out = out.data();
    a.n_tokens = 1;
    a.n_heads = n_heads;
    a.n_kv_heads = n_kv_heads;
    a.head_dim_k = head_dim;
    a.head_dim_v = head_dim;
    a.n_kv = pos + 1;
    a.scale = scale;
    a.softcap = softcap;
    a.window = window;
    ThreadPool pool(2);
    std::vector<float> scratch(static_cast<size_t>(attention_scratch_floats(pool.n_threads(), pos + 1)));
    EXPECT_TRUE(kernels::attention(a, scratch, pool).ok());
    return out;
}

struct DecodeCase {
    int32_t n_heads;
    int32_t n_kv_heads;
    int32_t head_dim;
    int32_t window;
    float softcap;
    kvcache::KvDType dtype;
};

// Queries of every sequence at positions that sit on, before and after split boundaries.
void check_decode(const DecodeCase& dc, uint32_t seed) {
    const int32_t n_kv = 300;
    std::vector<Seq> seqs(3);
    Cache cache = make_cache(seqs, n_kv, dc.n_kv_heads, dc.head_dim, dc.dtype, seed);
    const int32_t blocks_per_seq = static_cast<int32_t>(seqs[0].table.size());
    const std::vector<int32_t> positions = {0, 5, 63, 64, 65, 127, 128, 200, 299};
    const int32_t n_q = static_cast<int32_t>(positions.size() * seqs.size());
    const size_t q_row = static_cast<size_t>(dc.n_heads) * static_cast<size_t>(dc.head_dim);
    const std::vector<float> q = test::random_floats(static_cast<size_t>(n_q) * q_row, seed + 1);
    std::vector<int32_t> pos(static_cast<size_t>(n_q));
    std::vector<int32_t> token_seq(static_cast<size_t>(n_q));
    std::vector<int32_t> tables;
    for (const Seq& s : seqs) {
        tables.insert(tables.end(), s.table.begin(), s.table.end());
    }
    for (int32_t i = 0; i < n_q; ++i) {
        pos[static_cast<size_t>(i)] = positions[static_cast<size_t>(i) % positions.size()];
        token_seq[static_cast<size_t>(i)] = i / static_cast<int32_t>(positions.size());
    }
    const float scale = 1.0f / std::sqrt(static_cast<float>(dc.head_dim));
    gannet::cuda::DeviceBuffer kvd = test::upload(cache.bytes);
    gannet::cuda::DeviceBuffer qd = test::upload(q);
    gannet::cuda::DeviceBuffer pd = test::upload(pos);
    gannet::cuda::DeviceBuffer sd = test::upload(token_seq);
    gannet::cuda::DeviceBuffer td = test::upload(tables);
    PagedAttentionArgs a{.q = qd.as<float>(),
                         .kv = kvd.data(),
                         .layout = cache.layout,
                         .layer = kLayer,
                         .block_tables = td.as<int32_t>(),
                         .max_blocks_per_seq = blocks_per_seq,
                         .rows = nullptr,
                         .token_seq = sd.as<int32_t>(),
                         .positions = pd.as<int32_t>(),
                         .n_queries = n_q,
                         .n_heads = dc.n_heads,
                         .scale = scale,
                         .softcap = dc.softcap,
                         .window = dc.window};
    gannet::cuda::DeviceBuffer scratch = test::poisoned(paged_attention_scratch_floats(a) * sizeof(float));
    a.scratch = scratch.as<float>();
    a.scratch_floats = paged_attention_scratch_floats(a);
    gannet::cuda::DeviceBuffer od = test::poisoned(static_cast<size_t>(n_q) * q_row * sizeof(float));
    a.out = od.as<float>();
    const Status st = paged_attention(a, nullptr);
    ASSERT_TRUE(st.ok()) << st.to_string();
    const std::vector<float> batch = test::download<float>(od, static_cast<size_t>(n_q) * q_row);

    double worst = 0.0;
    for (int32_t i = 0; i < n_q; ++i) {
        const Seq& s = seqs[static_cast<size_t>(token_seq[static_cast<size_t>(i)])];
        const std::vector<float> want =
            cpu_attention(s, q.data() + static_cast<size_t>(i) * q_row, pos[static_cast<size_t>(i)], dc.n_heads,
                          dc.n_kv_heads, dc.head_dim, scale, dc.softcap, dc.window);
        const std::vector<float> got(batch.begin() + static_cast<std::ptrdiff_t>(i * q_row),
                                     batch.begin() + static_cast<std::ptrdiff_t>((i + 1) * q_row));
        worst = std::max(worst, test::rel_err(got, want));
    }
    EXPECT_LE(worst, kAttentionRelErr);

    // One query alone (through `rows`, into a fresh output) gives the same bits as in the batch.
    const int32_t lone = n_q - 2;
    gannet::cuda::DeviceBuffer rd = test::upload(std::vector<int32_t>{lone});
    gannet::cuda::DeviceBuffer od1 = test::poisoned(static_cast<size_t>(n_q) * q_row * sizeof(float));
    PagedAttentionArgs one = a;
    one.rows = rd.as<int32_t>();
    one.n_queries = 1;
    one.out = od1.as<float>();
    ASSERT_TRUE(paged_attention(one, nullptr).ok());
    const std::vector<float> alone = test::download<float>(od1, static_cast<size_t>(n_q) * q_row);
    EXPECT_EQ(std::memcmp(alone.data() + static_cast<size_t>(lone) * q_row,
                          batch.data() + static_cast<size_t>(lone) * q_row, q_row * sizeof(float)),
              0);
}

TEST(PagedAttentionTest, MatchesCpuAttention) {
    const DecodeCase cases[] = {
        {32, 8, 128, 0, 0.0f, kvcache::KvDType::kF32},   // Llama-3-8B heads
        {32, 8, 128, 0, 0.0f, kvcache::KvDType::kF16},   // the f16 cache
        {8, 4, 64, 100, 30.0f, kvcache::KvDType::kF32},  // window over split boundaries, soft-capping
        {4, 1, 16, 0, 0.0f, kvcache::KvDType::kF16},     // MQA, a head smaller than a chunk of lanes
        {8, 2, 256, 40, 0.0f, kvcache::KvDType::kF32},   // gemma-sized head, short window
    };
    uint32_t seed = 900;
    for (const DecodeCase& c : cases) {
        SCOPED_TRACE(testing::Message() << "heads " << c.n_heads << "/" << c.n_kv_heads << " head_dim " << c.head_dim
                                        << " window " << c.window << " softcap " << c.softcap << " "
                                        << kvcache::kv_dtype_name(c.dtype));
        check_decode(c, seed);
        seed += 7;
    }
}

TEST(PagedAttentionTest, RejectsBadArgs) {
    const kvcache::KvCacheLayout lay{.n_blocks = 2,
                                     .n_layers = 1,
                                     .n_kv_heads = 2,
                                     .head_dim = 64,
                                     .block_size = kBlockSize,
                                     .dtype = kvcache::KvDType::kF32,
                                     .key_summary = kvcache::KeySummaryKind::kNone};
    gannet::cuda::DeviceBuffer buf = test::upload(std::vector<float>(1 << 16, 0.0f));
    float* f = buf.as<float>();
    const auto* ints = reinterpret_cast<const int32_t*>(f);
    const PagedAttentionArgs ok{.q = f,
                                .kv = f,
                                .layout = lay,
                                .layer = 0,
                                .block_tables = ints,
                                .max_blocks_per_seq = 1,
                                .positions = ints,
                                .n_queries = 1,
                                .n_heads = 4,
                                .out = f + 4096,
                                .scratch = f + 8192,
                                .scratch_floats = 8192};
    EXPECT_TRUE(paged_attention(ok, nullptr).ok());
    PagedAttentionArgs bad = ok;
    bad.n_heads = 3;
    EXPECT_EQ(paged_attention(bad, nullptr).code(), ErrorCode::kInvalidArgument);
    bad = ok;
    bad.scratch_floats = 10;
    EXPECT_EQ(paged_attention(bad, nullptr).code(), ErrorCode::kInvalidArgument);
    bad = ok;
    bad.positions = nullptr;
    EXPECT_EQ(paged_attention(bad, nullptr).code(), ErrorCode::kInvalidArgument);
    bad = ok;
    bad.layout.dtype = kvcache::KvDType::kQ8_0;
    EXPECT_EQ(paged_attention(bad, nullptr).code(), ErrorCode::kUnimplemented);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

// A prefill chunk of n_tokens at positions [n_past, n_past + n_tokens) of one sequence: flash over the
// paged cache and flash over the contiguous rows give the same bits.
void check_flash(int32_t n_tokens, int32_t n_past, int32_t head_dim, int32_t window, kvcache::KvDType dtype,
                 uint32_t seed) {
    const int32_t n_heads = 8;
    const int32_t n_kv_heads = 2;
    const int32_t n_kv = n_past + n_tokens;
    std::vector<Seq> seqs(2);  // the second one's blocks sit between the first one's
    Cache cache = make_cache(seqs, n_kv, n_kv_heads, head_dim, dtype, seed);
    const Seq& s = seqs[1];
    const std::vector<float> q =
        test::random_floats(static_cast<size_t>(n_tokens) * n_heads * static_cast<size_t>(head_dim), seed + 3);
    std::vector<int32_t> pos(static_cast<size_t>(n_tokens));
    std::iota(pos.begin(), pos.end(), n_past);
    gannet::cuda::DeviceBuffer qd = test::upload(q);
    gannet::cuda::DeviceBuffer pd = test::upload(pos);
    gannet::cuda::DeviceBuffer kd = test::upload(s.k);
    gannet::cuda::DeviceBuffer vd = test::upload(s.v);
    gannet::cuda::DeviceBuffer kvd = test::upload(cache.bytes);
    gannet::cuda::DeviceBuffer td = test::upload(s.table);
    const size_t n_out = q.size();
    PrefillAttentionArgs a{.q = qd.as<float>(),
                           .positions = pd.as<int32_t>(),
                           .k = kd.as<float>(),
                           .k_stride = static_cast<int64_t>(n_kv_heads) * head_dim,
                           .v = vd.as<float>(),
                           .v_stride = static_cast<int64_t>(n_kv_heads) * head_dim,
                           .n_tokens = n_tokens,
                           .n_heads = n_heads,
                           .n_kv_heads = n_kv_heads,
                           .head_dim_k = head_dim,
                           .head_dim_v = head_dim,
                           .n_kv = n_kv,
                           .scale = 1.0f / std::sqrt(static_cast<float>(head_dim)),
                           .window = window,
                           .kernel = PrefillAttentionKernel::kFlash};
    gannet::cuda::DeviceBuffer o1 = test::poisoned(n_out * sizeof(float));
    a.out = o1.as<float>();
    Status st = prefill_attention(a, nullptr);
    ASSERT_TRUE(st.ok()) << st.to_string();
    PrefillAttentionArgs p = a;
    p.k = nullptr;
    p.v = nullptr;
    p.paged = paged_kv_source(cache.layout, kLayer, kvd.data(), td.as<int32_t>());
    gannet::cuda::DeviceBuffer o2 = test::poisoned(n_out * sizeof(float));
    p.out = o2.as<float>();
    st = prefill_attention(p, nullptr);
    ASSERT_TRUE(st.ok()) << st.to_string();
    const std::vector<float> contiguous = test::download<float>(o1, n_out);
    const std::vector<float> paged = test::download<float>(o2, n_out);
    EXPECT_EQ(std::memcmp(contiguous.data(), paged.data(), n_out * sizeof(float)), 0);
    EXPECT_TRUE(std::all_of(paged.begin(), paged.end(), [](float x) { return std::isfinite(x); }));
    p.kernel = PrefillAttentionKernel::kReference;
    EXPECT_EQ(prefill_attention(p, nullptr).code(), ErrorCode::kUnimplemented);
}

TEST(PagedAttentionTest, FlashPrefillThroughBlockTableIsBitIdentical) {
    check_flash(100, 0, 128, 0, kvcache::KvDType::kF32, 40);    // a whole prompt
    check_flash(77, 150, 128, 0, kvcache::KvDType::kF32, 41);   // a chunk after cached blocks
    check_flash(64, 37, 64, 0, kvcache::KvDType::kF16, 42);     // f16 cache, prefix mid-block
    check_flash(130, 20, 256, 50, kvcache::KvDType::kF16, 43);  // gemma head, sliding window
}

}  // namespace
}  // namespace gannet::kernels::cuda
