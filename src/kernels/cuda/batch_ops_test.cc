// The batched paged kernels (batch_ops.h) against CPU references at awkward sizes: head_dim 16, 80
// (not a multiple of 32), 128 and 256; GQA 1:1 and 4:1; block sizes 16 and 5; sliding window and
// soft-capping; sequences of 1 token, exactly a block and several blocks, in shuffled blocks of
// layer 1. Stores are exact; attention within relative L2 1e-5 of a double-precision reference.
#include "kernels/cuda/batch_ops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cuda/test_util.h"

namespace gannet::kernels::cuda {
namespace {

using gannet::kernels::cuda::test::download;
using gannet::kernels::cuda::test::poisoned;
using gannet::kernels::cuda::test::random_floats;
using gannet::kernels::cuda::test::rel_err;
using gannet::kernels::cuda::test::upload;

struct Case {
    int32_t head_dim;
    int32_t n_heads;
    int32_t n_kv_heads;
    int32_t block_size;
    int32_t window;
    float softcap;
};

void run_case(const Case& c) {
    SCOPED_TRACE(testing::Message() << "head_dim " << c.head_dim << " heads " << c.n_heads << "/" << c.n_kv_heads
                                    << " block " << c.block_size << " window " << c.window << " softcap " << c.softcap);
    const kvcache::KvCacheLayout lay{.n_blocks = 40,
                                     .n_layers = 2,
                                     .n_kv_heads = c.n_kv_heads,
                                     .head_dim = c.head_dim,
                                     .block_size = c.block_size,
                                     .dtype = kvcache::KvDType::kF32,
                                     .key_summary = kvcache::KeySummaryKind::kNone};
    const int32_t layer = 1;
    const std::vector<int32_t> lens = {1, c.block_size, 3 * c.block_size + 2, 37};
    const int32_t n_seqs = static_cast<int32_t>(lens.size());
    std::vector<int32_t> perm(static_cast<size_t>(lay.n_blocks));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), std::mt19937(7));
    int32_t max_blocks = 0;
    for (int32_t len : lens) {
        max_blocks = std::max(max_blocks, (len + c.block_size - 1) / c.block_size);
    }
    std::vector<int32_t> tables(static_cast<size_t>(n_seqs * max_blocks), 0);
    std::vector<int32_t> token_seq;
    std::vector<int32_t> positions;
    size_t next = 0;
    for (int32_t s = 0; s < n_seqs; ++s) {
        for (int32_t b = 0; b * c.block_size < lens[static_cast<size_t>(s)]; ++b) {
            tables[static_cast<size_t>(s * max_blocks + b)] = perm[next++];
        }
        for (int32_t p = 0; p < lens[static_cast<size_t>(s)]; ++p) {
            token_seq.push_back(s);
            positions.push_back(p);
        }
    }
    ASSERT_LE(next, perm.size());
    const int32_t n_tokens = static_cast<int32_t>(positions.size());
    const int32_t row = c.n_kv_heads * c.head_dim;
    const std::vector<float> k = random_floats(static_cast<size_t>(n_tokens * row), 1);
    const std::vector<float> v = random_floats(static_cast<size_t>(n_tokens * row), 2);

    // Store: the device cache equals a host cache written slot by slot.
    std::vector<float> want_kv(lay.total_bytes() / sizeof(float), 0.0f);
    for (int32_t t = 0; t < n_tokens; ++t) {
        const int32_t s = token_seq[static_cast<size_t>(t)];
        const int32_t p = positions[static_cast<size_t>(t)];
        const int32_t b = tables[static_cast<size_t>(s * max_blocks + p / c.block_size)];
        for (int32_t g = 0; g < c.n_kv_heads; ++g) {
            std::memcpy(want_kv.data() + lay.k_offset(b, layer, g, p % c.block_size) / sizeof(float),
                        k.data() + static_cast<size_t>(t * row + g * c.head_dim), c.head_dim * sizeof(float));
            std::memcpy(want_kv.data() + lay.v_offset(b, layer, g, p % c.block_size) / sizeof(float),
                        v.data() + static_cast<size_t>(t * row + g * c.head_dim), c.head_dim * sizeof(float));
        }
    }
    auto kv = gannet::cuda::DeviceBuffer::allocate(lay.total_bytes());
    ASSERT_TRUE(kv.has_value());
    ASSERT_EQ(cudaMemset(kv->data(), 0, lay.total_bytes()), cudaSuccess);
    auto d_k = upload(k);
    auto d_v = upload(v);
    auto d_seq = upload(token_seq);
    auto d_pos = upload(positions);
    auto d_tables = upload(tables);
    PagedStepArgs step{.kv = kv->data(),
                       .layout = lay,
                       .layer = layer,
                       .token_seq = d_seq.as<int32_t>(),
                       .positions = d_pos.as<int32_t>(),
                       .block_tables = d_tables.as<int32_t>(),
                       .max_blocks = max_blocks,
                       .n_tokens = n_tokens};
    ASSERT_TRUE(paged_store_kv(step, d_k.as<float>(), d_v.as<float>(), nullptr).ok());
    const std::vector<float> got_kv = download<float>(*kv, want_kv.size());
    ASSERT_TRUE(std::memcmp(got_kv.data(), want_kv.data(), want_kv.size() * sizeof(float)) == 0);

    // Attention of every token (each sequence's own causal prefix) against a double reference.
    const std::vector<float> q = random_floats(static_cast<size_t>(n_tokens * c.n_heads * c.head_dim), 3);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    const int32_t group = c.n_heads / c.n_kv_heads;
    std::vector<float> want(q.size());
    for (int32_t t = 0; t < n_tokens; ++t) {
        const int32_t s = token_seq[static_cast<size_t>(t)];
        const int32_t p = positions[static_cast<size_t>(t)];
        const int32_t j0 = c.window > 0 ? std::max(0, p - c.window + 1) : 0;
        for (int32_t h = 0; h < c.n_heads; ++h) {
            const int32_t g = h / group;
            const float* qv = q.data() + static_cast<size_t>((t * c.n_heads + h) * c.head_dim);
            std::vector<double> score;
            double mx = -INFINITY;
            for (int32_t j = j0; j <= p; ++j) {
                const int32_t b = tables[static_cast<size_t>(s * max_blocks + j / c.block_size)];
                const float* kp = want_kv.data() + lay.k_offset(b, layer, g, j % c.block_size) / sizeof(float);
                double d = 0.0;
                for (int32_t i = 0; i < c.head_dim; ++i) {
                    d += static_cast<double>(qv[i]) * kp[i];
                }
                d *= scale;
                if (c.softcap > 0.0f) {
                    d = c.softcap * std::tanh(d / c.softcap);
                }
                score.push_back(d);
                mx = std::max(mx, d);
            }
            double sum = 0.0;
            for (double& x : score) {
                x = std::exp(x - mx);
                sum += x;
            }
            float* o = want.data() + static_cast<size_t>((t * c.n_heads + h) * c.head_dim);
            for (int32_t i = 0; i < c.head_dim; ++i) {
                double acc = 0.0;
                for (int32_t j = j0; j <= p; ++j) {
                    const int32_t b = tables[static_cast<size_t>(s * max_blocks + j / c.block_size)];
                    const float* vp = want_kv.data() + lay.v_offset(b, layer, g, j % c.block_size) / sizeof(float);
                    acc += score[static_cast<size_t>(j - j0)] * vp[i];
                }
                o[i] = static_cast<float>(acc / sum);
            }
        }
    }
    auto d_q = upload(q);
    auto d_out = poisoned(q.size() * sizeof(float));
    const BatchAttentionArgs args{.q = d_q.as<float>(),
                                  .out = d_out.as<float>(),
                                  .n_heads = c.n_heads,
                                  .scale = scale,
                                  .softcap = c.softcap,
                                  .window = c.window};
    ASSERT_TRUE(batch_paged_attention(step, args, nullptr).ok());
    const std::vector<float> got = download<float>(d_out, q.size());
    EXPECT_LE(rel_err(got, want), 1e-5);

    // Decode-shaped: only each sequence's last token, listed in reverse sequence order.
    std::vector<int32_t> dec_seq;
    std::vector<int32_t> dec_pos;
    std::vector<float> dec_q;
    std::vector<float> dec_want;
    const size_t head_row = static_cast<size_t>(c.n_heads * c.head_dim);
    for (int32_t s = n_seqs - 1; s >= 0; --s) {
        int32_t t = 0;
        for (int32_t i = 0; i <= s; ++i) {
            t += lens[static_cast<size_t>(i)];
        }
        --t;  // the last token of sequence s
        dec_seq.push_back(s);
        dec_pos.push_back(positions[static_cast<size_t>(t)]);
        dec_q.insert(dec_q.end(), q.begin() + static_cast<ptrdiff_t>(t * head_row),
                     q.begin() + static_cast<ptrdiff_t>((t + 1) * head_row));
        dec_want.insert(dec_want.end(), want.begin() + static_cast<ptrdiff_t>(t * head_row),
                        want.begin() + static_cast<ptrdiff_t>((t + 1) * head_row));
    }
    auto d_dec_seq = upload(dec_seq);
    auto d_dec_pos = upload(dec_pos);
    auto d_dec_q = upload(dec_q);
    auto d_dec_out = poisoned(dec_q.size() * sizeof(float));
    PagedStepArgs dec_step = step;
    dec_step.token_seq = d_dec_seq.as<int32_t>();
    dec_step.positions = d_dec_pos.as<int32_t>();
    dec_step.n_tokens = n_seqs;
    BatchAttentionArgs dec_args = args;
    dec_args.q = d_dec_q.as<float>();
    dec_args.out = d_dec_out.as<float>();
    ASSERT_TRUE(batch_paged_attention(dec_step, dec_args, nullptr).ok());
    const std::vector<float> dec_got = download<float>(d_dec_out, dec_q.size());
    EXPECT_LE(rel_err(dec_got, dec_want), 1e-5);
    // The same token gives the same bits whatever else is in the launch.
    for (int32_t s = 0; s < n_seqs; ++s) {
        int32_t t = -1;
        for (int32_t i = 0; i <= s; ++i) {
            t += lens[static_cast<size_t>(i)];
        }
        const size_t r = static_cast<size_t>(n_seqs - 1 - s);
        EXPECT_TRUE(std::memcmp(dec_got.data() + r * head_row, got.data() + static_cast<size_t>(t) * head_row,
                                head_row * sizeof(float))
                    == 0)
            << "sequence " << s;
    }
}

TEST(BatchOps, PagedStoreAndAttentionMatchCpu) {
    for (const Case& c : {Case{16, 4, 2, 16, 0, 0.0f}, Case{80, 8, 2, 5, 0, 0.0f}, Case{128, 8, 8, 16, 0, 0.0f},
                          Case{128, 16, 4, 16, 7, 0.0f}, Case{256, 8, 2, 16, 0, 50.0f}, Case{64, 4, 1, 5, 4, 30.0f}}) {
        run_case(c);
    }
}

TEST(BatchOps, GatherRows) {
    const std::vector<float> src = random_floats(5 * 33, 4);
    const std::vector<int32_t> rows = {4, 0, 4};
    auto d_src = upload(src);
    auto d_rows = upload(rows);
    auto d_dst = poisoned(3 * 33 * sizeof(float));
    ASSERT_TRUE(gather_rows(d_src.as<float>(), d_rows.as<int32_t>(), d_dst.as<float>(), 3, 33, nullptr).ok());
    const std::vector<float> got = download<float>(d_dst, 3 * 33);
    for (size_t r = 0; r < rows.size(); ++r) {
        EXPECT_TRUE(std::memcmp(got.data() + r * 33, src.data() + static_cast<size_t>(rows[r]) * 33, 33 * sizeof(float))
                    == 0);
    }
    EXPECT_EQ(gather_rows(nullptr, d_rows.as<int32_t>(), d_dst.as<float>(), 3, 33, nullptr).code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(gather_rows(d_src.as<float>(), d_rows.as<int32_t>(), d_dst.as<float>(), -1, 33, nullptr).code(),
              ErrorCode::kInvalidArgument);
    EXPECT_TRUE(gather_rows(d_src.as<float>(), d_rows.as<int32_t>(), d_dst.as<float>(), 0, 33, nullptr).ok());
}

TEST(BatchOps, RejectsBadArguments) {
    kvcache::KvCacheLayout lay{.n_blocks = 2,
                               .n_layers = 1,
                               .n_kv_heads = 2,
                               .head_dim = 64,
                               .block_size = 16,
                               .dtype = kvcache::KvDType::kF32,
                               .key_summary = kvcache::KeySummaryKind::kNone};
    auto kv = gannet::cuda::DeviceBuffer::allocate(lay.total_bytes());
    ASSERT_TRUE(kv.has_value());
    auto ints = upload(std::vector<int32_t>(4, 0));
    auto floats = upload(std::vector<float>(4 * 8 * 64, 1.0f));
    const PagedStepArgs ok{.kv = kv->data(),
                           .layout = lay,
                           .layer = 0,
                           .token_seq = ints.as<int32_t>(),
                           .positions = ints.as<int32_t>(),
                           .block_tables = ints.as<int32_t>(),
                           .max_blocks = 1,
                           .n_tokens = 1};
    const BatchAttentionArgs att{.q = floats.as<float>(), .out = floats.as<float>(), .n_heads = 4, .scale = 1.0f};
    EXPECT_TRUE(batch_paged_attention(ok, att, nullptr).ok());
    EXPECT_TRUE(paged_store_kv(ok, floats.as<float>(), floats.as<float>(), nullptr).ok());
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

    PagedStepArgs bad = ok;
    bad.layer = 1;
    EXPECT_EQ(batch_paged_attention(bad, att, nullptr).code(), ErrorCode::kInvalidArgument);
    bad = ok;
    bad.block_tables = nullptr;
    EXPECT_EQ(paged_store_kv(bad, floats.as<float>(), floats.as<float>(), nullptr).code(), ErrorCode::kInvalidArgument);
    bad = ok;
    bad.layout.dtype = kvcache::KvDType::kF16;
    EXPECT_EQ(batch_paged_attention(bad, att, nullptr).code(), ErrorCode::kUnimplemented);
    bad = ok;
    bad.layout.head_dim = 288;
    EXPECT_EQ(batch_paged_attention(bad, att, nullptr).code(), ErrorCode::kInvalidArgument);
    bad = ok;
    bad.n_tokens = 70000;
    EXPECT_EQ(batch_paged_attention(bad, att, nullptr).code(), ErrorCode::kInvalidArgument);
    BatchAttentionArgs bad_att = att;
    bad_att.n_heads = 3;  // not a multiple of 2 kv heads
    EXPECT_EQ(batch_paged_attention(ok, bad_att, nullptr).code(), ErrorCode::kInvalidArgument);
    bad_att = att;
    bad_att.q = nullptr;
    EXPECT_EQ(batch_paged_attention(ok, bad_att, nullptr).code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(paged_store_kv(ok, nullptr, floats.as<float>(), nullptr).code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace gannet::kernels::cuda
