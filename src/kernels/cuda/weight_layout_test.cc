// WeightLayout::kQ4_0Split (#6): the host repack puts every byte where weight_layout.h says, and
// matvec (every path: own quantization, pre-quantized x, accumulate, token chunks) and gemm (tiles
// starting mid-matrix) give bit for bit the GGUF layout's results, since the arithmetic is the same.
#include "kernels/cuda/weight_layout.h"

#include <cublas_v2.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "base/half.h"
#include "kernels/cuda/cublas_handle.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/matvec.h"
#include "kernels/cuda/test_util.h"
#include "tensor/quant.h"

namespace gannet::kernels::cuda {
namespace {

using tensor::DType;

// Random Q4_0 blocks (every nibble pattern) with finite scales in +-[0.005, 0.02].
std::vector<uint8_t> random_q4_0(int64_t n_out, int64_t n_in, uint32_t seed) {
    std::vector<uint8_t> w(tensor::row_size_bytes(DType::kQ4_0, n_in) * static_cast<size_t>(n_out));
    std::mt19937 rng(seed);
    for (uint8_t& b : w) {
        b = static_cast<uint8_t>(rng() & 0xff);
    }
    std::uniform_real_distribution<float> scale(0.005f, 0.02f);
    for (size_t b = 0; b < w.size(); b += 18) {
        const uint16_t h = fp32_to_fp16((rng() & 1) != 0 ? scale(rng) : -scale(rng));
        std::memcpy(w.data() + b, &h, 2);
    }
    return w;
}

std::vector<uint8_t> split(const std::vector<uint8_t>& gguf, int64_t n_out, int64_t n_in) {
    std::vector<uint8_t> out(gguf.size());
    const Status st = repack_q4_0_split(gguf.data(), out.data(), n_out, n_in);
    EXPECT_TRUE(st.ok()) << st.to_string();
    return out;
}

TEST(WeightLayoutTest, RepackPutsQuantsThenScales) {
    const int64_t n_out = 3;
    const int64_t n_in = 64;  // 2 blocks per row, 6 in all
    const std::vector<uint8_t> g = random_q4_0(n_out, n_in, 1);
    const std::vector<uint8_t> s = split(g, n_out, n_in);
    ASSERT_EQ(s.size(), 6u * 18u);
    for (size_t blk = 0; blk < 6; ++blk) {
        EXPECT_EQ(std::memcmp(s.data() + 16 * blk, g.data() + 18 * blk + 2, 16), 0) << "qs of block " << blk;
        EXPECT_EQ(std::memcmp(s.data() + 6 * 16 + 2 * blk, g.data() + 18 * blk, 2), 0) << "d of block " << blk;
    }
    EXPECT_TRUE(can_split_layout(DType::kQ4_0));
    EXPECT_FALSE(can_split_layout(DType::kQ8_0));
    std::vector<uint8_t> dst(g.size());
    EXPECT_EQ(repack_q4_0_split(g.data(), dst.data(), n_out, 48).code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(repack_q4_0_split(nullptr, dst.data(), n_out, n_in).code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(repack_q4_0_split(g.data(), dst.data(), 0, n_in).code(), ErrorCode::kInvalidArgument);
}

struct Shape {
    int64_t n_out;
    int64_t n_in;
    int64_t n_tokens;
};

std::vector<float> run_matvec(const gannet::cuda::DeviceBuffer& w, WeightLayout layout, Shape s,
                              const gannet::cuda::DeviceBuffer& x, MatvecOutput y_mode, const std::vector<float>& y0) {
    gannet::cuda::DeviceBuffer y = test::upload(y0);
    MatvecArgs a;
    a.w = w.data();
    a.w_dtype = DType::kQ4_0;
    a.w_layout = layout;
    a.n_in = s.n_in;
    a.n_out = s.n_out;
    a.n_tokens = s.n_tokens;
    a.x = x.data();
    a.y = y.as<float>();
    a.y_mode = y_mode;
    const size_t bytes = matvec_scratch_size_bytes(a);
    gannet::cuda::DeviceBuffer scratch = test::poisoned(bytes);
    a.scratch = scratch.data();
    a.scratch_size_bytes = bytes;
    const Status st = matvec(a, nullptr);
    EXPECT_TRUE(st.ok()) << st.to_string();
    return test::download<float>(y, y0.size());
}

TEST(WeightLayoutTest, SplitMatvecIsBitIdenticalToGguf) {
    uint32_t seed = 10;
    // Rows shorter than one warp step (1, 3, 5 blocks), one 8-step pass plus a block (129 blocks),
    // Llama widths, every token-count instantiation and a second chunk (17 tokens).
    for (Shape s : {Shape{1, 32, 1}, Shape{31, 96, 1}, Shape{33, 160, 5}, Shape{63, 4128, 4}, Shape{4097, 256, 2},
                    Shape{257, 4096, 1}, Shape{31, 14336, 3}, Shape{9, 512, 8}, Shape{5, 512, 17}}) {
        SCOPED_TRACE(testing::Message() << "n_out=" << s.n_out << " n_in=" << s.n_in << " n_tokens=" << s.n_tokens);
        const std::vector<uint8_t> g = random_q4_0(s.n_out, s.n_in, seed++);
        gannet::cuda::DeviceBuffer w_gguf = test::upload(g);
        gannet::cuda::DeviceBuffer w_split = test::upload(split(g, s.n_out, s.n_in));
        gannet::cuda::DeviceBuffer x =
            test::upload(test::random_floats(static_cast<size_t>(s.n_tokens * s.n_in), seed++));
        const std::vector<float> y0 = test::random_floats(static_cast<size_t>(s.n_tokens * s.n_out), seed++);
        for (MatvecOutput mode : {MatvecOutput::kOverwrite, MatvecOutput::kAccumulate}) {
            const std::vector<float> want = run_matvec(w_gguf, WeightLayout::kGguf, s, x, mode, y0);
            EXPECT_EQ(run_matvec(w_split, WeightLayout::kQ4_0Split, s, x, mode, y0), want);
        }
    }
}

TEST(WeightLayoutTest, SplitMatvecReadsPreQuantizedX) {
    const Shape s{67, 4096, 3};
    const std::vector<uint8_t> g = random_q4_0(s.n_out, s.n_in, 40);
    gannet::cuda::DeviceBuffer w_gguf = test::upload(g);
    gannet::cuda::DeviceBuffer w_split = test::upload(split(g, s.n_out, s.n_in));
    gannet::cuda::DeviceBuffer x = test::upload(test::random_floats(static_cast<size_t>(s.n_tokens * s.n_in), 41));
    const std::vector<float> y0(static_cast<size_t>(s.n_tokens * s.n_out), 0.0f);
    const std::vector<float> want = run_matvec(w_gguf, WeightLayout::kGguf, s, x, MatvecOutput::kOverwrite, y0);
    const size_t bytes = int8_x_size_bytes(s.n_tokens * s.n_in);
    gannet::cuda::DeviceBuffer scratch = test::poisoned(bytes);
    ASSERT_TRUE(quantize_x_int8({.x = x.data(),
                                 .x_dtype = DType::kF32,
                                 .n_in = s.n_in,
                                 .n_tokens = s.n_tokens,
                                 .scratch = scratch.data(),
                                 .scratch_size_bytes = bytes},
                                nullptr)
                    .ok());
    gannet::cuda::DeviceBuffer x_nan = test::poisoned(static_cast<size_t>(s.n_tokens * s.n_in) * sizeof(float));
    gannet::cuda::DeviceBuffer y = test::poisoned(y0.size() * sizeof(float));
    MatvecArgs a;
    a.w = w_split.data();
    a.w_dtype = DType::kQ4_0;
    a.w_layout = WeightLayout::kQ4_0Split;
    a.n_in = s.n_in;
    a.n_out = s.n_out;
    a.n_tokens = s.n_tokens;
    a.x = x_nan.data();  // never read
    a.y = y.as<float>();
    a.scratch = scratch.data();
    a.scratch_size_bytes = bytes;
    a.is_x_quantized = true;
    ASSERT_TRUE(matvec(a, nullptr).ok());
    EXPECT_EQ(test::download<float>(y, y0.size()), want);
}

TEST(WeightLayoutTest, SplitGemmIsBitIdenticalToGguf) {
    Result<CublasHandle> handle = CublasHandle::create();
    ASSERT_TRUE(handle.has_value()) << handle.error().message();
    uint32_t seed = 60;
    // tile_rows 128 over 300 rows: tiles start at rows 128 and 256, mid-way through both arrays.
    for (Shape s : {Shape{300, 4096, 19}, Shape{129, 1024, 9}}) {
        for (int64_t tile_rows : {int64_t{0}, int64_t{128}}) {
            SCOPED_TRACE(testing::Message() << "n_out=" << s.n_out << " n_in=" << s.n_in << " tile_rows=" << tile_rows);
            const std::vector<uint8_t> g = random_q4_0(s.n_out, s.n_in, seed++);
            gannet::cuda::DeviceBuffer w_gguf = test::upload(g);
            gannet::cuda::DeviceBuffer w_split = test::upload(split(g, s.n_out, s.n_in));
            gannet::cuda::DeviceBuffer x =
                test::upload(test::random_floats(static_cast<size_t>(s.n_tokens * s.n_in), seed++));
            std::vector<float> got[2];
            for (int i = 0; i < 2; ++i) {
                const size_t n_y = static_cast<size_t>(s.n_tokens * s.n_out);
                gannet::cuda::DeviceBuffer y = test::poisoned(n_y * sizeof(float));
                GemmArgs a;
                a.w = i == 0 ? w_gguf.data() : w_split.data();
                a.w_dtype = DType::kQ4_0;
                a.w_layout = i == 0 ? WeightLayout::kGguf : WeightLayout::kQ4_0Split;
                a.n_in = s.n_in;
                a.n_out = s.n_out;
                a.n_tokens = s.n_tokens;
                a.x = x.as<float>();
                a.y = y.as<float>();
                a.cublas = handle->get();
                a.tile_rows = tile_rows;
                Result<gannet::cuda::DeviceBuffer> scratch =
                    gannet::cuda::DeviceBuffer::allocate(gemm_scratch_size_bytes(a));
                ASSERT_TRUE(scratch.has_value());
                a.scratch = scratch->data();
                a.scratch_size_bytes = scratch->size_bytes();
                const Status st = gemm(a, nullptr);
                ASSERT_TRUE(st.ok()) << st.to_string();
                got[i] = test::download<float>(y, n_y);
            }
            EXPECT_EQ(got[1], got[0]);
        }
    }
}

TEST(WeightLayoutTest, SplitLayoutMisuseIsRejected) {
    gannet::cuda::DeviceBuffer buf = test::poisoned(1 << 16);
    MatvecArgs a;
    a.w = buf.data();
    a.x = buf.data();
    a.y = reinterpret_cast<float*>(static_cast<uint8_t*>(buf.data()) + 4096);
    a.w_dtype = DType::kQ8_0;
    a.w_layout = WeightLayout::kQ4_0Split;
    a.n_in = 256;
    a.n_out = 4;
    a.n_tokens = 1;
    a.scratch = static_cast<uint8_t*>(buf.data()) + 8192;
    a.scratch_size_bytes = 8192;
    EXPECT_EQ(matvec(a, nullptr).code(), ErrorCode::kInvalidArgument);  // not Q4_0
    a.w_dtype = DType::kQ4_0;
    a.w = static_cast<uint8_t*>(buf.data()) + 2;
    EXPECT_EQ(matvec(a, nullptr).code(), ErrorCode::kInvalidArgument);  // misaligned
    a.w = buf.data();
    a.scratch = nullptr;
    EXPECT_EQ(matvec(a, nullptr).code(), ErrorCode::kInvalidArgument);  // no int8 path without scratch

    Result<CublasHandle> handle = CublasHandle::create();
    ASSERT_TRUE(handle.has_value());
    GemmArgs g;
    g.w = buf.data();
    g.w_dtype = DType::kQ8_0;
    g.w_layout = WeightLayout::kQ4_0Split;
    g.n_in = 256;
    g.n_out = 4;
    g.n_tokens = 9;
    g.x = buf.as<float>();
    g.y = buf.as<float>();
    g.cublas = handle->get();
    g.scratch = buf.data();
    g.scratch_size_bytes = 1 << 16;
    EXPECT_EQ(gemm(g, nullptr).code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace gannet::kernels::cuda
