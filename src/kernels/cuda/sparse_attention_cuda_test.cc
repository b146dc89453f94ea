// The CUDA block-sparse kernels (sparse_attention.h) against the CPU path (model/paged_attention.h)
// on the same random cache: MSA block scores and top-k give the same block lists, and the attention
// over them the same output to 1e-4. Label gpu: runs on the GPU machine only.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "base/cuda/device_buffer.h"
#include "base/cuda/stream.h"
#include "base/thread_pool.h"
#include "kernels/cuda/sparse_attention.h"
#include "model/block_select.h"
#include "model/paged_attention.h"

namespace gannet::kernels::cuda {
namespace {

template <typename T>
gannet::cuda::DeviceBuffer upload(const T* data, size_t n) {
    gannet::cuda::DeviceBuffer b = gannet::cuda::DeviceBuffer::allocate(n * sizeof(T)).value();
    EXPECT_EQ(cudaMemcpy(b.data(), data, n * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
    return b;
}

template <typename T>
std::vector<T> download(const gannet::cuda::DeviceBuffer& b, size_t n) {
    std::vector<T> out(n);
    EXPECT_EQ(cudaMemcpy(out.data(), b.data(), n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return out;
}

TEST(SparseAttentionCuda, MatchesTheCpuSelectionAndAttention) {
    constexpr int64_t kCtx = 1500, kBlock = 128, kHeads = 8, kKvHeads = 2, kDim = 128, kTopk = 4, kNq = 8;
    model::ModelConfig c;
    c.n_layers = 1;
    c.n_heads = kHeads;
    c.n_kv_heads = kKvHeads;
    c.head_dim_k = c.head_dim_v = c.n_rot = kDim;
    c.attn_scale = 1.0f / std::sqrt(static_cast<float>(kDim));
    c.sparse = model::SparseAttentionConfig{.has_index = true,
                                            .block_size = kBlock,
                                            .topk = kTopk,
                                            .n_index_heads = kKvHeads,
                                            .index_dim = kDim,
                                            .layers = {1}};
    const kvcache::KvCacheLayout lay{.n_blocks = static_cast<int32_t>((kCtx + kBlock - 1) / kBlock),
                                     .n_layers = 1,
                                     .n_kv_heads = kKvHeads,
                                     .head_dim = kDim,
                                     .block_size = kBlock,
                                     .dtype = kvcache::KvDType::kF32,
                                     .key_summary = kvcache::KeySummaryKind::kMinMax,
                                     .index_dim = kDim};
    kvcache::KvStorage kv = kvcache::KvStorage::create(lay).value();
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    auto* kv_base = reinterpret_cast<float*>(kv.k(0, 0, 0));
    for (size_t i = 0; i < lay.total_bytes() / sizeof(float); ++i) {
        kv_base[i] = u(rng);
    }
    float* idx_k = kv.index_k(0, 0);  // one layer: position-major
    for (int64_t i = 0; i < lay.n_blocks * kBlock * kDim; ++i) {
        idx_k[i] = u(rng);
    }
    std::vector<float> q(kNq * kHeads * kDim), idx_q(kNq * kKvHeads * kDim);
    for (float& x : q)
        x = u(rng);
    for (float& x : idx_q)
        x = u(rng);
    std::vector<kvcache::BlockId> table(static_cast<size_t>(lay.n_blocks));
    for (int32_t b = 0; b < lay.n_blocks; ++b)
        table[static_cast<size_t>(b)] = b;
    std::vector<int32_t> tokens(kNq, 0), positions(kNq), seq_of(kNq, 0);
    for (int64_t t = 0; t < kNq; ++t)
        positions[static_cast<size_t>(t)] = static_cast<int32_t>(kCtx - kNq + t);

    // CPU.
    const model::BatchSeq seq{.tokens = tokens, .pos = static_cast<int32_t>(kCtx - kNq), .block_table = table};
    const model::SparseMode mode = model::SparseMode::kMsa;
    const int64_t stride = kTopk + 1, max_blocks = lay.n_blocks;
    std::vector<int32_t> sel(kNq * kKvHeads * stride), order(max_blocks), sort(stride);
    std::vector<float> scores(kNq * kKvHeads * max_blocks), row(max_blocks), minmax(2 * kDim);
    std::vector<int64_t> ranges(model::kAttentionQueryBlock * 2 * stride);
    ThreadPool pool(1);
    model::select_blocks_into({.c = &c,
                               .seqs = {&seq, 1},
                               .kv = &kv,
                               .modes = &mode,
                               .positions = positions.data(),
                               .seq_of = seq_of.data(),
                               .q = q.data(),
                               .idx_q = idx_q.data(),
                               .n_tokens = kNq,
                               .layer = 0,
                               .is_index_layer = true,
                               .block = kBlock,
                               .quest_topk = kTopk,
                               .stride = stride,
                               .sel = sel.data(),
                               .max_blocks = max_blocks,
                               .scores = scores.data(),
                               .row = row.data(),
                               .order = order.data(),
                               .minmax = minmax.data()},
                              pool);
    std::vector<float> att(kNq * kHeads * kDim), att_scratch(model::paged_attention_scratch_floats(c));
    model::paged_attention({.c = &c,
                            .seqs = {&seq, 1},
                            .kv = &kv,
                            .positions = positions.data(),
                            .seq_of = seq_of.data(),
                            .q = q.data(),
                            .att = att.data(),
                            .n_tokens = kNq,
                            .sel = sel.data(),
                            .sel_stride = stride,
                            .sparse_block = kBlock,
                            .scratch = att_scratch.data(),
                            .ranges = ranges.data(),
                            .sort = sort.data()},
                           pool);

    // GPU.
    gannet::cuda::Stream stream = gannet::cuda::Stream::create().value();
    auto d_kv = upload(kv_base, lay.total_bytes() / sizeof(float));
    auto d_idx_k = upload(idx_k, static_cast<size_t>(kCtx * kDim));
    auto d_q = upload(q.data(), q.size());
    auto d_idx_q = upload(idx_q.data(), idx_q.size());
    auto d_pos = upload(positions.data(), positions.size());
    std::vector<int32_t> table32(table.begin(), table.end());
    auto d_table = upload(table32.data(), table32.size());
    auto d_scores = gannet::cuda::DeviceBuffer::allocate(kNq * kKvHeads * max_blocks * sizeof(float)).value();
    auto d_ids = gannet::cuda::DeviceBuffer::allocate(kNq * kKvHeads * kTopk * sizeof(int32_t)).value();
    auto d_out = gannet::cuda::DeviceBuffer::allocate(att.size() * sizeof(float)).value();
    ASSERT_TRUE(msa_block_scores({.idx_q = d_idx_q.as<float>(),
                                  .idx_k = d_idx_k.as<float>(),
                                  .positions = d_pos.as<int32_t>(),
                                  .n_q = kNq,
                                  .n_index_heads = kKvHeads,
                                  .index_dim = kDim,
                                  .n_keys = kCtx,
                                  .block = kBlock,
                                  .max_blocks = static_cast<int32_t>(max_blocks),
                                  .out = d_scores.as<float>()},
                                 stream.get())
                    .ok());
    ASSERT_TRUE(top_blocks({.scores = d_scores.as<float>(),
                            .positions = d_pos.as<int32_t>(),
                            .n_q = kNq,
                            .n_rows = kKvHeads,
                            .max_blocks = static_cast<int32_t>(max_blocks),
                            .block = kBlock,
                            .topk = kTopk,
                            .stride = kTopk,
                            .ids = d_ids.as<int32_t>()},
                           stream.get())
                    .ok());
    SparseAttentionArgs a{.q = d_q.as<float>(),
                          .kv = d_kv.data(),
                          .layout = lay,
                          .layer = 0,
                          .block_table = d_table.as<int32_t>(),
                          .positions = d_pos.as<int32_t>(),
                          .ids = d_ids.as<int32_t>(),
                          .stride = kTopk,
                          .n_q = kNq,
                          .n_heads = kHeads,
                          .scale = c.attn_scale,
                          .out = d_out.as<float>()};
    auto d_scratch = gannet::cuda::DeviceBuffer::allocate(sparse_attention_scratch_floats(a) * sizeof(float)).value();
    a.scratch = d_scratch.as<float>();
    a.scratch_floats = sparse_attention_scratch_floats(a);
    ASSERT_TRUE(sparse_attention(a, stream.get()).ok());
    ASSERT_TRUE(stream.synchronize().ok());
    const std::vector<int32_t> ids = download<int32_t>(d_ids, kNq * kKvHeads * kTopk);
    const std::vector<float> out = download<float>(d_out, att.size());
    for (int64_t r = 0; r < kNq * kKvHeads; ++r) {
        std::vector<int32_t> want(sel.begin() + r * stride, sel.begin() + r * stride + kTopk);
        std::vector<int32_t> got(ids.begin() + r * kTopk, ids.begin() + (r + 1) * kTopk);
        EXPECT_EQ(got.back(), want.back()) << "own block last, row " << r;
        std::sort(want.begin(), want.end());
        std::sort(got.begin(), got.end());
        EXPECT_EQ(got, want) << "row " << r;
    }
    double worst = 0.0;
    for (size_t i = 0; i < att.size(); ++i) {
        worst = std::max(worst, static_cast<double>(std::abs(out[i] - att[i])));
    }
    EXPECT_LT(worst, 1e-4);
}

}  // namespace
}  // namespace gannet::kernels::cuda
