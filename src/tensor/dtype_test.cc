#include "tensor/dtype.h"

#include <gtest/gtest.h>

#include "tensor/quant.h"
#include "tensor/quant_k.h"

namespace gannet::tensor {
namespace {

struct Expected {
    DType dtype;
    const char* name;
    int64_t block_size;
    size_t type_size_bytes;
};

// Numbers from ggml's block structs: e.g. Q2_K = 16 scale bytes + 64 quant bytes + two fp16.
constexpr Expected kExpected[] = {
    {DType::kF32, "f32", 1, 4},       {DType::kF16, "f16", 1, 2},       {DType::kQ4_0, "q4_0", 32, 18},
    {DType::kQ4_1, "q4_1", 32, 20},   {DType::kQ5_0, "q5_0", 32, 22},   {DType::kQ5_1, "q5_1", 32, 24},
    {DType::kQ8_0, "q8_0", 32, 34},   {DType::kQ8_1, "q8_1", 32, 36},   {DType::kQ2_K, "q2_K", 256, 84},
    {DType::kQ3_K, "q3_K", 256, 110}, {DType::kQ4_K, "q4_K", 256, 144}, {DType::kQ5_K, "q5_K", 256, 176},
    {DType::kQ6_K, "q6_K", 256, 210}, {DType::kQ8_K, "q8_K", 256, 292}, {DType::kI8, "i8", 1, 1},
    {DType::kI16, "i16", 1, 2},       {DType::kI32, "i32", 1, 4},       {DType::kI64, "i64", 1, 8},
    {DType::kF64, "f64", 1, 8},       {DType::kBF16, "bf16", 1, 2},
};

TEST(DTypeTest, BlockAndTypeSizesMatchGgml) {
    for (const Expected& e : kExpected) {
        SCOPED_TRACE(e.name);
        EXPECT_EQ(block_size(e.dtype), e.block_size);
        EXPECT_EQ(type_size_bytes(e.dtype), e.type_size_bytes);
        EXPECT_STREQ(dtype_name(e.dtype), e.name);
        EXPECT_EQ(is_quantized(e.dtype), e.block_size > 1);
        EXPECT_EQ(dtype_from_ggml(static_cast<uint32_t>(e.dtype)), e.dtype);
        EXPECT_EQ(dtype_from_name(e.name), e.dtype);
    }
}

TEST(DTypeTest, BlockStructsHaveTheTypeSize) {
    EXPECT_EQ(sizeof(BlockQ4_0), type_size_bytes(DType::kQ4_0));
    EXPECT_EQ(sizeof(BlockQ4_1), type_size_bytes(DType::kQ4_1));
    EXPECT_EQ(sizeof(BlockQ5_0), type_size_bytes(DType::kQ5_0));
    EXPECT_EQ(sizeof(BlockQ5_1), type_size_bytes(DType::kQ5_1));
    EXPECT_EQ(sizeof(BlockQ8_0), type_size_bytes(DType::kQ8_0));
    EXPECT_EQ(sizeof(BlockQ8_1), type_size_bytes(DType::kQ8_1));
    EXPECT_EQ(sizeof(BlockQ2_K), type_size_bytes(DType::kQ2_K));
    EXPECT_EQ(sizeof(BlockQ3_K), type_size_bytes(DType::kQ3_K));
    EXPECT_EQ(sizeof(BlockQ4_K), type_size_bytes(DType::kQ4_K));
    EXPECT_EQ(sizeof(BlockQ5_K), type_size_bytes(DType::kQ5_K));
    EXPECT_EQ(sizeof(BlockQ6_K), type_size_bytes(DType::kQ6_K));
    EXPECT_EQ(sizeof(BlockQ8_K), type_size_bytes(DType::kQ8_K));
}

TEST(DTypeTest, UnknownGgmlTypesAreRejected) {
    // 4 and 5 were Q4_2/Q4_3 (removed from ggml); 16+ are i-quants Gannet does not read yet.
    for (uint32_t t : {4u, 5u, 16u, 23u, 29u, 31u, 99u, 0xffffffffu}) {
        EXPECT_FALSE(dtype_from_ggml(t).has_value()) << t;
    }
    EXPECT_STREQ(dtype_name(static_cast<DType>(4)), "?");
}

TEST(DTypeTest, NamesParseCaseInsensitively) {
    EXPECT_EQ(dtype_from_name("Q4_K"), DType::kQ4_K);
    EXPECT_EQ(dtype_from_name("BF16"), DType::kBF16);
    EXPECT_EQ(dtype_from_name("Q8_0"), DType::kQ8_0);
    EXPECT_FALSE(dtype_from_name("q4_k_m").has_value());
    EXPECT_FALSE(dtype_from_name("").has_value());
}

TEST(DTypeTest, RowSizeCountsWholeBlocks) {
    EXPECT_EQ(row_size_bytes(DType::kF32, 7), 28u);
    EXPECT_EQ(row_size_bytes(DType::kQ4_0, 64), 36u);
    EXPECT_EQ(row_size_bytes(DType::kQ6_K, 4096), 16u * 210u);
    EXPECT_EQ(row_size_bytes(DType::kQ8_0, 0), 0u);
}

TEST(DTypeDeathTest, PartialBlockRowIsABug) {
    EXPECT_DEATH(row_size_bytes(DType::kQ4_0, 33), "check failed");
}

}  // namespace
}  // namespace gannet::tensor
