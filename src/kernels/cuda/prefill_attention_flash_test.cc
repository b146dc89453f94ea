// Parity of the flash prefill attention (tensor cores, bf16) with the CPU attention op and with the
// f32 reference kernel: 1, 17, 512 and 1000 query tokens, GQA and MQA, head_dim 64/128/256, sliding
// windows, soft-capping, a cached prefix, positions out of order, and NaN-poisoned cache rows past
// the last position (the model passes n_kv = whole cache).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cuda/prefill_attention.h"
#include "kernels/cuda/test_util.h"
#include "kernels/cuda/tolerances.h"
#include "kernels/ops/attention.h"

namespace gannet::kernels::cuda {
namespace {

struct Case {
    int64_t n_tokens;
    int64_t n_heads;
    int64_t n_kv_heads;
    int64_t head_dim;
    int64_t window;
    float softcap;
    int64_t n_past;              // cached tokens before this chunk
    bool is_reversed = false;    // positions n_past + n_tokens - 1 down to n_past
    int64_t n_kv_extra = 0;      // cache rows past the last position, filled with NaN
};

struct Outputs {
    std::vector<float> cpu;
    std::vector<float> reference;
    std::vector<float> flash;
};

Outputs run_case(const Case& c, uint32_t seed) {
    const int64_t n_kv = c.n_past + c.n_tokens + c.n_kv_extra;
    const int64_t stride = c.n_kv_heads * c.head_dim;
    const std::vector<float> q = test::random_floats(static_cast<size_t>(c.n_tokens * c.n_heads * c.head_dim), seed);
    std::vector<float> k = test::random_floats(static_cast<size_t>(n_kv * stride), seed + 1);
    std::vector<float> v = test::random_floats(static_cast<size_t>(n_kv * stride), seed + 2);
    std::vector<int32_t> pos(static_cast<size_t>(c.n_tokens));
    for (int64_t t = 0; t < c.n_tokens; ++t) {
        pos[static_cast<size_t>(t)] = static_cast<int32_t>(c.n_past + (c.is_reversed ? c.n_tokens - 1 - t : t));
    }
    Outputs out;
    out.cpu.resize(static_cast<size_t>(c.n_tokens * c.n_heads * c.head_dim));
    kernels::AttentionArgs ca;
    ca.q = q.data();
    ca.positions = pos.data();
    ca.k = k.data();
    ca.k_stride = stride;
    ca.v = v.data();
    ca.v_stride = stride;
    ca.out = out.cpu.data();
    ca.n_tokens = c.n_tokens;
    ca.n_heads = c.n_heads;
    ca.n_kv_heads = c.n_kv_heads;
    ca.head_dim_k = c.head_dim;
    ca.head_dim_v = c.head_dim;
    ca.n_kv = n_kv;
    ca.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    ca.softcap = c.softcap;
    ca.window = c.window;
    ThreadPool pool(8);
    std::vector<float> scratch(static_cast<size_t>(attention_scratch_floats(pool.n_threads(), n_kv)));
    EXPECT_TRUE(kernels::attention(ca, scratch, pool).ok());

    // Rows no query may see: a kernel that reads them (or multiplies them by a zero weight) fails.
    std::fill(k.begin() + (c.n_past + c.n_tokens) * stride, k.end(), NAN);
    std::fill(v.begin() + (c.n_past + c.n_tokens) * stride, v.end(), NAN);
    gannet::cuda::DeviceBuffer qd = test::upload(q);
    gannet::cuda::DeviceBuffer kd = test::upload(k);
    gannet::cuda::DeviceBuffer vd = test::upload(v);
    gannet::cuda::DeviceBuffer pd = test::upload(pos);
    PrefillAttentionArgs a;
    a.q = qd.as<float>();
    a.positions = pd.as<int32_t>();
    a.k = kd.as<float>();
    a.k_stride = stride;
    a.v = vd.as<float>();
    a.v_stride = stride;
    a.n_tokens = c.n_tokens;
    a.n_heads = c.n_heads;
    a.n_kv_heads = c.n_kv_heads;
    a.head_dim_k = c.head_dim;
    a.head_dim_v = c.head_dim;
    a.n_kv = n_kv;
    a.scale = ca.scale;
    a.softcap = c.softcap;
    a.window = c.window;
    for (PrefillAttentionKernel kernel : {PrefillAttentionKernel::kReference, PrefillAttentionKernel::kFlash}) {
        gannet::cuda::DeviceBuffer od = test::poisoned(out.cpu.size() * sizeof(float));
        a.out = od.as<float>();
        a.kernel = kernel;
        const Status st = prefill_attention(a, nullptr);
        EXPECT_TRUE(st.ok()) << st.to_string();
        (kernel == PrefillAttentionKernel::kFlash ? out.flash : out.reference) =
            test::download<float>(od, out.cpu.size());
    }
    return out;
}

TEST(PrefillAttentionFlashTest, MatchesCpuAndReferenceKernel) {
    const Case cases[] = {
        {1, 32, 8, 128, 0, 0.0f, 5},       // one token after a prefix (Llama-3-8B heads)
        {17, 32, 8, 128, 0, 0.0f, 5},      // a partial query tile
        {512, 32, 8, 128, 0, 0.0f, 0},     // a whole prompt, 8 query tiles
        {1000, 8, 2, 128, 0, 0.0f, 3},     // partial last tile, key tiles not aligned to the prefix
        {1000, 4, 1, 64, 100, 0.0f, 0},    // MQA, sliding window shorter than a tile run
        {77, 8, 4, 256, 16, 30.0f, 5},     // gemma-like: head_dim 256, window, soft-capping
        {130, 4, 4, 64, 0, 50.0f, 200},    // no GQA, a prefix longer than the chunk, soft-capping
        {40, 4, 2, 128, 0, 0.0f, 9, true},        // positions in reverse order
        {100, 4, 2, 128, 0, 0.0f, 0, false, 37},  // NaN cache rows past the last position
    };
    uint32_t seed = 500;
    for (const Case& c : cases) {
        SCOPED_TRACE(testing::Message() << "n_tokens=" << c.n_tokens << " heads=" << c.n_heads << "/" << c.n_kv_heads
                                        << " head_dim=" << c.head_dim << " window=" << c.window
                                        << " softcap=" << c.softcap << " n_past=" << c.n_past
                                        << " reversed=" << c.is_reversed << " n_kv_extra=" << c.n_kv_extra);
        const Outputs o = run_case(c, seed);
        seed += 3;
        const double err_ref = test::rel_err(o.reference, o.cpu);
        const double err_cpu = test::rel_err(o.flash, o.cpu);
        const double err_kernel = test::rel_err(o.flash, o.reference);
        EXPECT_LE(err_ref, kAttentionRelErr);
        EXPECT_LE(err_cpu, kFlashAttentionRelErr);
        EXPECT_LE(err_kernel, kFlashAttentionRelErr);
        // A kernel that ignored the mask or a window would be off by O(1), not by bf16 rounding.
        std::printf("flash parity n_tokens=%lld head_dim=%lld: vs cpu %.2e, vs reference kernel %.2e\n",
                    static_cast<long long>(c.n_tokens), static_cast<long long>(c.head_dim), err_cpu, err_kernel);
    }
}

TEST(PrefillAttentionFlashTest, FallsBackOrRefusesForOtherHeadDims) {
    // head_dim 80 has no flash kernel: kAuto takes the reference kernel (f32 exact), kFlash refuses.
    const Case c{33, 6, 2, 80, 0, 0.0f, 4};
    const int64_t n_kv = c.n_past + c.n_tokens;
    const int64_t stride = c.n_kv_heads * c.head_dim;
    const std::vector<float> q = test::random_floats(static_cast<size_t>(c.n_tokens * c.n_heads * c.head_dim), 91);
    const std::vector<float> kv = test::random_floats(static_cast<size_t>(n_kv * stride), 92);
    std::vector<int32_t> pos(static_cast<size_t>(c.n_tokens));
    for (int64_t t = 0; t < c.n_tokens; ++t) {
        pos[static_cast<size_t>(t)] = static_cast<int32_t>(c.n_past + t);
    }
    gannet::cuda::DeviceBuffer qd = test::upload(q);
    gannet::cuda::DeviceBuffer kvd = test::upload(kv);
    gannet::cuda::DeviceBuffer pd = test::upload(pos);
    gannet::cuda::DeviceBuffer od = test::poisoned(q.size() * sizeof(float));
    PrefillAttentionArgs a;
    a.q = qd.as<float>();
    a.positions = pd.as<int32_t>();
    a.k = kvd.as<float>();
    a.k_stride = stride;
    a.v = kvd.as<float>();
    a.v_stride = stride;
    a.out = od.as<float>();
    a.n_tokens = c.n_tokens;
    a.n_heads = c.n_heads;
    a.n_kv_heads = c.n_kv_heads;
    a.head_dim_k = c.head_dim;
    a.head_dim_v = c.head_dim;
    a.n_kv = n_kv;
    a.scale = 0.1f;
    EXPECT_FALSE(prefill_attention_flash_supported(a));
    a.kernel = PrefillAttentionKernel::kFlash;
    const Status st = prefill_attention(a, nullptr);
    EXPECT_EQ(st.code(), ErrorCode::kUnimplemented);
    a.kernel = PrefillAttentionKernel::kAuto;
    ASSERT_TRUE(prefill_attention(a, nullptr).ok());
    const std::vector<float> got = test::download<float>(od, q.size());
    EXPECT_TRUE(std::all_of(got.begin(), got.end(), [](float x) { return std::isfinite(x); }));

    // Misaligned K (one float in) is refused by kFlash too, not read with 16-byte loads.
    a.head_dim_k = 128;
    a.head_dim_v = 128;
    a.n_heads = 1;
    a.n_kv_heads = 1;
    a.k_stride = 128;
    a.v_stride = 128;
    a.k = kvd.as<float>() + 1;
    EXPECT_FALSE(prefill_attention_flash_supported(a));
    a.k = kvd.as<float>();
    EXPECT_TRUE(prefill_attention_flash_supported(a));
}

TEST(PrefillAttentionFlashTest, RejectsBadArgs) {
    PrefillAttentionArgs a;
    a.n_tokens = 4;
    a.n_heads = 4;
    a.n_kv_heads = 3;  // does not divide n_heads
    a.head_dim_k = 128;
    a.head_dim_v = 128;
    a.n_kv = 4;
    a.kernel = PrefillAttentionKernel::kFlash;
    EXPECT_EQ(prefill_attention(a, nullptr).code(), ErrorCode::kInvalidArgument);
    a.n_kv_heads = 2;
    EXPECT_EQ(prefill_attention(a, nullptr).code(), ErrorCode::kInvalidArgument);  // null pointers
    a.head_dim_k = 512;
    EXPECT_EQ(prefill_attention(a, nullptr).code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace gannet::kernels::cuda
