#include "gguf/gguf_writer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_test_util.h"
#include "tensor/quant.h"

namespace gannet::gguf {
namespace {

using tensor::DType;

Result<File> reopen(const Writer& w, std::string_view suffix = "rt") {
    const std::string path = testing::temp_path(suffix);
    Status s = w.write(path);
    if (!s.ok()) {
        return s;
    }
    Result<File> f = File::open(path);
    std::remove(path.c_str());  // the mapping outlives the directory entry
    return f;
}

TEST(GgufWriterTest, EveryScalarTypeRoundTrips) {
    Writer w;
    w.set_u8("u8", 255);
    w.set_i8("i8", -128);
    w.set_u16("u16", 65535);
    w.set_i16("i16", -32768);
    w.set_u32("u32", 4294967295u);
    w.set_i32("i32", std::numeric_limits<int32_t>::min());
    w.set_u64("u64", 1234567890123456789ull);
    w.set_i64("i64", std::numeric_limits<int64_t>::min());
    w.set_f32("f32", 1.5e-7f);
    w.set_f64("f64", 3.141592653589793);
    w.set_bool("yes", true);
    w.set_bool("no", false);
    w.set_string("s", std::string("with\0nul", 8));
    w.set_string("empty", "");
    Result<File> f = reopen(w);
    ASSERT_TRUE(f.has_value()) << f.error().to_string();
    EXPECT_EQ(f->metadata().size(), 14u);

    struct IntCase {
        const char* key;
        ValueType type;
        int64_t value;
    };
    for (const IntCase& c :
         {IntCase{"u8", ValueType::kU8, 255}, IntCase{"i8", ValueType::kI8, -128},
          IntCase{"u16", ValueType::kU16, 65535}, IntCase{"i16", ValueType::kI16, -32768},
          IntCase{"u32", ValueType::kU32, 4294967295}, IntCase{"i32", ValueType::kI32, INT32_MIN},
          IntCase{"u64", ValueType::kU64, 1234567890123456789}, IntCase{"i64", ValueType::kI64, INT64_MIN}}) {
        SCOPED_TRACE(c.key);
        const Value* v = f->find_value(c.key);
        ASSERT_NE(v, nullptr);
        EXPECT_EQ(v->type, c.type);
        EXPECT_EQ(f->get_int(c.key).value(), c.value);
    }
    EXPECT_EQ(f->find_value("f32")->type, ValueType::kF32);
    EXPECT_EQ(f->get_float("f32").value(), static_cast<double>(1.5e-7f));
    EXPECT_EQ(f->get_float("f64").value(), 3.141592653589793);
    EXPECT_TRUE(f->get_bool("yes").value());
    EXPECT_FALSE(f->get_bool("no").value());
    EXPECT_EQ(f->get_string("s").value(), std::string("with\0nul", 8));
    EXPECT_EQ(f->get_string("empty").value(), "");
}

TEST(GgufWriterTest, EveryArrayTypeRoundTrips) {
    Writer w;
    const std::vector<int64_t> small = {0, 1, 127};
    for (ValueType t : {ValueType::kU8, ValueType::kI8, ValueType::kU16, ValueType::kI16, ValueType::kU32,
                        ValueType::kI32, ValueType::kU64, ValueType::kI64}) {
        w.set_array_ints(std::string("ints.") + value_type_name(t), t, small);
    }
    w.set_array_ints("neg", ValueType::kI16, std::vector<int64_t>{-32768, 32767});
    w.set_array_ints("bools", ValueType::kBool, std::vector<int64_t>{1, 0, 1});
    w.set_array_floats("f32s", ValueType::kF32, std::vector<double>{0.5, -2.0});
    w.set_array_floats("f64s", ValueType::kF64, std::vector<double>{0.1, 1e300});
    w.set_array_strings("strs", std::vector<std::string>{"a", "", "Ġhello"});
    w.set_array_ints("none", ValueType::kU32, std::vector<int64_t>{});
    Value nested;
    nested.type = ValueType::kArray;
    nested.array_type = ValueType::kArray;
    nested.array.resize(2);
    nested.array[0].type = ValueType::kArray;
    nested.array[0].array_type = ValueType::kString;
    nested.array[0].strings = {"x", "y"};
    nested.array[1].type = ValueType::kArray;
    nested.array[1].array_type = ValueType::kF64;
    nested.array[1].numbers_f = {2.5};
    w.set_value("nested", nested);
    Result<File> f = reopen(w);
    ASSERT_TRUE(f.has_value()) << f.error().to_string();

    for (ValueType t : {ValueType::kU8, ValueType::kI8, ValueType::kU16, ValueType::kI16, ValueType::kU32,
                        ValueType::kI32, ValueType::kU64, ValueType::kI64}) {
        const std::string key = std::string("ints.") + value_type_name(t);
        SCOPED_TRACE(key);
        const Value* v = f->find_value(key);
        ASSERT_NE(v, nullptr);
        EXPECT_EQ(v->type, ValueType::kArray);
        EXPECT_EQ(v->array_type, t);
        EXPECT_EQ(v->numbers_i, small);
    }
    EXPECT_EQ(f->find_value("neg")->numbers_i, (std::vector<int64_t>{-32768, 32767}));
    EXPECT_EQ(f->find_value("bools")->array_type, ValueType::kBool);
    EXPECT_EQ(f->find_value("bools")->numbers_i, (std::vector<int64_t>{1, 0, 1}));
    EXPECT_EQ(f->find_value("f32s")->numbers_f, (std::vector<double>{0.5, -2.0}));
    EXPECT_EQ(f->find_value("f64s")->numbers_f, (std::vector<double>{0.1, 1e300}));
    const std::span<const std::string_view> strs = f->get_strings("strs").value();
    ASSERT_EQ(strs.size(), 3u);
    EXPECT_EQ(strs[2], "Ġhello");
    EXPECT_TRUE(f->get_ints("none")->empty());
    const Value* n = f->find_value("nested");
    ASSERT_NE(n, nullptr);
    ASSERT_EQ(n->array.size(), 2u);
    EXPECT_EQ(n->array[0].strings[1], "y");
    EXPECT_EQ(n->array[1].numbers_f[0], 2.5);

    // Every parsed value, nested arrays included, can be written again unchanged.
    Writer copy;
    for (const auto& [key, value] : f->metadata()) {
        copy.set_value(key, value);
    }
    Result<File> again = reopen(copy, "copy");
    ASSERT_TRUE(again.has_value()) << again.error().to_string();
    EXPECT_EQ(again->metadata().size(), f->metadata().size());
    EXPECT_EQ(again->find_value("nested")->array[0].strings[0], "x");
    EXPECT_EQ(again->find_value("f64s")->numbers_f[1], 1e300);
}

TEST(GgufWriterTest, SettingAKeyAgainReplacesIt) {
    Writer w;
    w.set_u32("k", 1);
    w.set_string("k", "two");
    EXPECT_EQ(w.n_kv(), 1u);
    Result<File> f = reopen(w);
    ASSERT_TRUE(f.has_value()) << f.error().to_string();
    EXPECT_EQ(f->get_string("k").value(), "two");
}

TEST(GgufWriterTest, TensorsRoundTripAligned) {
    Writer w;
    w.set_alignment(64);
    const std::vector<float> a = {1, 2, 3, 4, 5, 6, 7, 8};
    ASSERT_TRUE(w.add_tensor_f32("a", DType::kF32, std::vector<int64_t>{4, 2}, a).ok());
    std::vector<float> b(64 * 3);
    for (size_t i = 0; i < b.size(); ++i) {
        b[i] = static_cast<float>(i % 17) - 8.0f;
    }
    ASSERT_TRUE(w.add_tensor_f32("blk.0.attn_q.weight", DType::kQ8_0, std::vector<int64_t>{64, 3}, b).ok());
    const std::vector<uint16_t> h = {0x3c00, 0x4000, 0xc000};
    ASSERT_TRUE(
        w.add_tensor("h", DType::kF16, std::vector<int64_t>{3}, {reinterpret_cast<const uint8_t*>(h.data()), 6}).ok());
    Result<File> f = reopen(w);
    ASSERT_TRUE(f.has_value()) << f.error().to_string();
    EXPECT_EQ(f->alignment(), 64u);
    EXPECT_EQ(f->get_int("general.alignment").value(), 64);
    ASSERT_EQ(f->tensors().size(), 3u);
    EXPECT_EQ(f->data_offset() % 64, 0u);
    for (const TensorInfo& t : f->tensors()) {
        EXPECT_EQ(t.offset % 64, 0u) << t.name;
    }

    const TensorInfo* ta = f->find_tensor("a");
    ASSERT_NE(ta, nullptr);
    EXPECT_EQ(ta->shape, (std::vector<int64_t>{4, 2}));
    EXPECT_EQ(ta->n_elements(), 8);
    EXPECT_EQ(std::memcmp(f->tensor_data(*ta).data(), a.data(), 32), 0);

    const TensorInfo* tq = f->find_tensor("blk.0.attn_q.weight");
    ASSERT_NE(tq, nullptr);
    EXPECT_EQ(tq->dtype, DType::kQ8_0);
    EXPECT_EQ(tq->size_bytes, 3u * 2 * 34);
    std::vector<float> back(b.size());
    ASSERT_TRUE(tensor::dequantize_row(DType::kQ8_0, f->tensor_data(*tq).data(), back.data(), 192).ok());
    for (size_t i = 0; i < b.size(); ++i) {
        EXPECT_NEAR(back[i], b[i], 8.0f / 127.0f) << i;
    }

    const TensorInfo* th = f->find_tensor("h");
    ASSERT_NE(th, nullptr);
    EXPECT_EQ(std::memcmp(f->tensor_data(*th).data(), h.data(), 6), 0);
    EXPECT_EQ(f->find_tensor("missing"), nullptr);
    // The last tensor is padded too (ggml's reader loads the padded data section).
    EXPECT_EQ(f->file_size_bytes(), f->data_offset() + th->offset + 64);
}

TEST(GgufWriterTest, AddTensorValidates) {
    Writer w;
    const std::vector<uint8_t> bytes(64);
    EXPECT_TRUE(w.add_tensor("t", DType::kF32, std::vector<int64_t>{16}, bytes).ok());
    EXPECT_EQ(w.add_tensor("t", DType::kF32, std::vector<int64_t>{16}, bytes).code(), ErrorCode::kAlreadyExists);
    EXPECT_EQ(w.add_tensor("", DType::kF32, std::vector<int64_t>{16}, bytes).code(), ErrorCode::kInvalidArgument);
    Status size = w.add_tensor("u", DType::kF32, std::vector<int64_t>{15}, bytes);
    EXPECT_EQ(size.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(size.message().find("has 64 bytes, f32 shape needs 60"), std::string::npos) << size.message();
    EXPECT_EQ(w.add_tensor("v", DType::kF32, std::vector<int64_t>{1, 1, 1, 1, 16}, bytes).code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(w.add_tensor("x", DType::kF32, std::vector<int64_t>{-16}, bytes).code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(w.add_tensor("y", DType::kQ4_0, std::vector<int64_t>{16}, bytes).code(), ErrorCode::kInvalidArgument);
    const std::vector<float> vals(256, 1.0f);
    EXPECT_EQ(w.add_tensor_f32("z", DType::kQ4_K, std::vector<int64_t>{256}, vals).code(), ErrorCode::kUnimplemented);
    EXPECT_EQ(w.add_tensor_f32("z", DType::kF32, std::vector<int64_t>{255}, vals).code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(w.n_tensors(), 1u);
}

TEST(GgufWriterTest, UnwritablePathIsInvalidArgument) {
    Writer w;
    Status s = w.write("/nonexistent/dir/out.gguf");
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.message().find("/nonexistent/dir/out.gguf"), std::string::npos);
}

TEST(GgufWriterTest, EmptyWriterMakesAValidFile) {
    Writer w;
    const std::vector<uint8_t> bytes = w.serialize();
    EXPECT_EQ(bytes.size(), 32u);  // 24-byte header padded to the alignment
    Result<File> f = reopen(w);
    ASSERT_TRUE(f.has_value()) << f.error().to_string();
    EXPECT_TRUE(f->metadata().empty());
    EXPECT_TRUE(f->tensors().empty());
}

TEST(GgufWriterDeathTest, OutOfRangeArrayValueIsABug) {
    Writer w;
    EXPECT_DEATH(w.set_array_ints("k", ValueType::kU8, std::vector<int64_t>{256}), "check failed");
    EXPECT_DEATH(w.set_alignment(48), "check failed");
}

}  // namespace
}  // namespace gannet::gguf
