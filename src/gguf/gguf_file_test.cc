#include "gguf/gguf_file.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "base/test_paths.h"
#include "gguf/gguf_test_util.h"
#include "gguf/gguf_writer.h"

namespace gannet::gguf {
namespace {

using testing::Bytes;
using testing::write_temp;

// Opens bytes as a file and expects kDataLoss whose message contains `needle`.
void expect_corrupt(const Bytes& bytes, const std::string& needle) {
    const std::string path = write_temp(bytes.b);
    Result<File> f = File::open(path);
    std::remove(path.c_str());
    ASSERT_FALSE(f.has_value()) << "expected an error containing: " << needle;
    EXPECT_EQ(f.error().code(), ErrorCode::kDataLoss) << f.error().to_string();
    EXPECT_NE(f.error().message().find(needle), std::string::npos) << f.error().message();
    EXPECT_NE(f.error().message().find("gguf: " + path + ": "), std::string::npos) << f.error().message();
}

Result<File> open_bytes(const Bytes& bytes, std::string_view suffix = "ok") {
    const std::string path = write_temp(bytes.b, suffix);
    Result<File> f = File::open(path);
    std::remove(path.c_str());  // the mapping outlives the directory entry
    return f;
}

// A valid file with one f32 tensor of 4 floats at offset 0, for mutation by the tests below.
Bytes one_tensor_file(uint64_t offset = 0, uint32_t type = 0, std::vector<uint64_t> dims = {4}) {
    Bytes b;
    b.header(3, 1, 1).kv_u32("general.alignment", 32).tensor("t", std::move(dims), type, offset).pad_to(32).zeros(16);
    return b;
}

TEST(GgufFileTest, HandEncodedFileOpens) {
    Result<File> f = open_bytes(one_tensor_file());
    ASSERT_TRUE(f.has_value()) << f.error().to_string();
    EXPECT_EQ(f->version(), 3u);
    ASSERT_EQ(f->tensors().size(), 1u);
    EXPECT_EQ(f->tensors()[0].size_bytes, 16u);
    EXPECT_EQ(f->data_offset() % 32, 0u);
    EXPECT_EQ(f->tensor_data(f->tensors()[0]).size(), 16u);
}

TEST(GgufFileTest, Version2IsAccepted) {
    Bytes b;
    b.header(2, 0, 1).kv_u32("a", 7);
    Result<File> f = open_bytes(b);
    ASSERT_TRUE(f.has_value()) << f.error().to_string();
    EXPECT_EQ(f->version(), 2u);
    EXPECT_EQ(f->get_int("a").value(), 7);
}

TEST(GgufFileTest, MissingFileIsNotFound) {
    Result<File> f = File::open("/nonexistent/gannet/model.gguf");
    ASSERT_FALSE(f.has_value());
    EXPECT_EQ(f.error().code(), ErrorCode::kNotFound);
    EXPECT_NE(f.error().message().find("gguf: "), std::string::npos);
}

TEST(GgufFileTest, DirectoryIsInvalidArgument) {
    Result<File> f = File::open(::testing::TempDir());
    ASSERT_FALSE(f.has_value());
    EXPECT_EQ(f.error().code(), ErrorCode::kInvalidArgument);
}

TEST(GgufFileTest, EmptyFileIsDataLoss) {
    expect_corrupt(Bytes{}, "too small for a GGUF header");
}

TEST(GgufFileTest, BadMagicIsDataLoss) {
    Bytes b;
    b.b = {'G', 'G', 'M', 'L', 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    expect_corrupt(b, "not a GGUF file (magic bytes 47 47 4d 4c");
}

TEST(GgufFileTest, UnsupportedVersionsAreDataLoss) {
    Bytes v1;
    v1.header(1, 0, 0);
    expect_corrupt(v1, "unsupported GGUF version 1 (supported: 2, 3)");
    Bytes v99;
    v99.header(99, 0, 0);
    expect_corrupt(v99, "unsupported GGUF version 99");
    Bytes big_endian;
    big_endian.header(0x03000000, 0, 0);
    expect_corrupt(big_endian, "big-endian");
}

TEST(GgufFileTest, HugeTensorCountIsDataLoss) {
    Bytes b;
    b.header(3, uint64_t{1} << 62, 0).zeros(64);
    expect_corrupt(b, "tensor count 4611686018427387904 cannot fit");
}

TEST(GgufFileTest, HugeMetadataCountIsDataLoss) {
    Bytes b;
    b.header(3, 0, uint64_t{1} << 62).zeros(64);
    expect_corrupt(b, "metadata count 4611686018427387904 cannot fit");
}

TEST(GgufFileTest, HugeStringLengthIsDataLoss) {
    Bytes key;
    key.header(3, 0, 1).u64(uint64_t{1} << 63).zeros(16);
    expect_corrupt(key, "metadata key at offset 24 has length 9223372036854775808, past end of file");
    Bytes value;
    value.header(3, 0, 1).str("k").u32(8).u64(uint64_t{1} << 63).zeros(16);
    expect_corrupt(value, "string value at offset");
}

TEST(GgufFileTest, HugeArrayIsDataLoss) {
    Bytes b;
    b.header(3, 0, 1).str("tokenizer.ggml.scores").u32(9).u32(6).u64(uint64_t{1} << 40).zeros(64);
    expect_corrupt(b, "array of 1099511627776 f32 values cannot fit");
}

TEST(GgufFileTest, UnknownValueTypesAreDataLoss) {
    Bytes scalar;
    scalar.header(3, 0, 1).str("k").u32(13).u32(0);
    expect_corrupt(scalar, "key 'k' has unknown value type 13");
    Bytes elem;
    elem.header(3, 0, 1).str("k").u32(9).u32(200).u64(0);
    expect_corrupt(elem, "unknown array element type 200");
}

TEST(GgufFileTest, BoolMustBeZeroOrOne) {
    Bytes b;
    b.header(3, 0, 1).str("k").u32(7).u8(2);
    expect_corrupt(b, "bool at offset 37 is 2, expected 0 or 1");
}

TEST(GgufFileTest, DuplicateKeyIsDataLoss) {
    Bytes b;
    b.header(3, 0, 2).kv_u32("general.x", 1).kv_u32("general.x", 2);
    expect_corrupt(b, "duplicate metadata key 'general.x'");
}

TEST(GgufFileTest, KeysArePrintedSafely) {
    Bytes b;
    b.header(3, 0, 2).kv_u32(std::string("a\n\0b", 4), 1).kv_u32(std::string("a\n\0b", 4), 2);
    expect_corrupt(b, "duplicate metadata key 'a\\x0a\\x00b'");
}

TEST(GgufFileTest, ArrayNestingIsBounded) {
    // Arrays of arrays four deep are accepted; five deep is refused before recursing further.
    auto nested = [](int depth) {
        Bytes b;
        b.header(3, 0, 1).str("k").u32(9);
        for (int d = 1; d < depth; ++d) {
            b.u32(9).u64(1);  // array of 1 array
        }
        b.u32(4).u64(1).u32(42);  // innermost: array of one u32
        return b;
    };
    Result<File> ok = open_bytes(nested(4));
    ASSERT_TRUE(ok.has_value()) << ok.error().to_string();
    const Value* v = ok->find_value("k");
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->array[0].array[0].array[0].numbers_i[0], 42);
    expect_corrupt(nested(5), "arrays nested deeper than 4");
}

TEST(GgufFileTest, AlignmentMustBeAPowerOfTwo) {
    for (uint32_t a : {0u, 3u, 48u}) {
        Bytes b;
        b.header(3, 0, 1).kv_u32("general.alignment", a);
        expect_corrupt(b, "general.alignment " + std::to_string(a) + " is not a power of two");
    }
    Bytes s;
    s.header(3, 0, 1).str("general.alignment").u32(8).str("32");
    expect_corrupt(s, "general.alignment is string, expected u32");
}

TEST(GgufFileTest, TooManyDimsIsDataLoss) {
    expect_corrupt(one_tensor_file(0, 0, {1, 1, 1, 1, 1, 1, 1, 1, 4}), "tensor 't' has 9 dims, at most 4 allowed");
}

TEST(GgufFileTest, DimsOverflowIsDataLoss) {
    expect_corrupt(one_tensor_file(0, 0, {uint64_t{1} << 32, uint64_t{1} << 32}), "overflows int64");
    expect_corrupt(one_tensor_file(0, 0, {uint64_t{1} << 63}), "above INT64_MAX");
    // A 0 dim makes the total 0, but the partial product 2^62 * 2 already overflowed (fuzzer find).
    expect_corrupt(one_tensor_file(0, 0, {uint64_t{1} << 62, 2, 0}), "overflows int64");
    // Elements fit in int64 but bytes do not: 2^62 f32 values are 2^64 bytes.
    expect_corrupt(one_tensor_file(0, 0, {uint64_t{1} << 62}), "byte size overflows");
}

TEST(GgufFileTest, UnknownGgmlTypeIsDataLoss) {
    expect_corrupt(one_tensor_file(0, 99), "tensor 't' has unknown ggml type 99");
    expect_corrupt(one_tensor_file(0, 4), "unknown ggml type 4");
}

TEST(GgufFileTest, PartialBlockRowIsDataLoss) {
    expect_corrupt(one_tensor_file(0, 8, {16}), "row of 16 elements is not a multiple of the q8_0 block size 32");
}

TEST(GgufFileTest, MisalignedOffsetIsDataLoss) {
    expect_corrupt(one_tensor_file(8), "tensor 't' offset 8 is not a multiple of the alignment 32");
}

TEST(GgufFileTest, OutOfRangeOffsetIsDataLoss) {
    expect_corrupt(one_tensor_file(uint64_t{1} << 40), "tensor 't' data [offset ");
    expect_corrupt(one_tensor_file(uint64_t{1} << 40), "16 bytes] runs past end of file (size ");
    // Offset near 2^64: offset + size overflows instead of comparing past the end.
    expect_corrupt(one_tensor_file(~uint64_t{31}), "runs past end of file");
}

TEST(GgufFileTest, DataSectionPastEndIsDataLoss) {
    Bytes b;
    b.header(3, 1, 0).tensor("t", {0}, 0, 0);  // zero-size tensor, but the padding is missing
    expect_corrupt(b, "data section starts at 64, past end of file");
}

TEST(GgufFileTest, DuplicateTensorNameIsDataLoss) {
    Bytes b;
    b.header(3, 2, 0).tensor("w", {4}, 0, 0).tensor("w", {4}, 0, 32).pad_to(32).zeros(48);
    expect_corrupt(b, "duplicate tensor name 'w'");
}

TEST(GgufFileTest, OverlappingTensorsAreDataLoss) {
    Bytes b;
    b.header(3, 2, 0).tensor("a", {16}, 0, 0).tensor("b", {4}, 0, 32).pad_to(32).zeros(64);
    expect_corrupt(b, "tensors 'a' [offset 0, 64 bytes] and 'b' [offset 32, 16 bytes] overlap");
}

TEST(GgufFileTest, EmptyNamesAreDataLoss) {
    Bytes key;
    key.header(3, 0, 1).kv_u32("", 1);
    expect_corrupt(key, "metadata key 0 is empty");
    Bytes tensor;
    tensor.header(3, 1, 0).tensor("", {4}, 0, 0).pad_to(32).zeros(16);
    expect_corrupt(tensor, "tensor 0 has an empty name");
}

// Every prefix of a valid file that cuts into the header, metadata, tensor infos, padding or data is
// an error; only the padding after the last tensor may go missing.
TEST(GgufFileTest, EveryTruncationIsAnError) {
    Writer w;
    w.set_string("general.architecture", "llama");
    w.set_u32("llama.block_count", 2);
    w.set_array_strings("tokenizer.ggml.tokens", std::vector<std::string>{"<s>", "a", "bc"});
    w.set_array_floats("tokenizer.ggml.scores", ValueType::kF32, std::vector<double>{0.0, -1.0, -2.5});
    const std::vector<float> values(64, 0.5f);
    ASSERT_TRUE(w.add_tensor_f32("a", tensor::DType::kF32, std::vector<int64_t>{5}, {values.data(), 5}).ok());
    ASSERT_TRUE(w.add_tensor_f32("b", tensor::DType::kQ8_0, std::vector<int64_t>{32, 2}, values).ok());
    const std::vector<uint8_t> full = w.serialize();
    Result<File> whole = File::from_bytes(full, "whole");
    ASSERT_TRUE(whole.has_value()) << whole.error().to_string();
    const TensorInfo& last = whole->tensors().back();
    const size_t end = static_cast<size_t>(whole->data_offset() + last.offset + last.size_bytes);
    ASSERT_LT(end, full.size());  // 2 * 34 bytes of Q8_0 leave 28 bytes of tail padding
    for (size_t n = end; n < full.size(); ++n) {
        EXPECT_TRUE(File::from_bytes(std::vector<uint8_t>(full.begin(), full.begin() + n), "tail").has_value()) << n;
    }
    for (size_t n = 0; n < end; ++n) {
        Result<File> r = File::from_bytes(std::vector<uint8_t>(full.begin(), full.begin() + n), "prefix");
        ASSERT_FALSE(r.has_value()) << "prefix of " << n << " of " << full.size() << " bytes opened";
        ASSERT_EQ(r.error().code(), ErrorCode::kDataLoss) << r.error().to_string();
        EXPECT_EQ(r.error().message().rfind("gguf: prefix: ", 0), 0u) << r.error().message();
    }
    // The same through the file system, at a few cut points (mid-header, mid-metadata, mid-data).
    const std::pair<size_t, const char*> cuts[] = {
        {12, "truncated: tensor count needs 8 bytes at offset 8"},
        {60, "metadata count 4 cannot fit in the 36 bytes left"},
        {end - 1, "tensor 'b' data"},
    };
    for (const auto& [n, needle] : cuts) {
        Bytes cut;
        cut.b.assign(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
        expect_corrupt(cut, needle);
    }
}

TEST(GgufFileTest, FromBytesMatchesOpen) {
    Writer w;
    w.set_string("general.name", "x");
    ASSERT_TRUE(w.add_tensor_f32("t", tensor::DType::kF32, std::vector<int64_t>{2}, std::vector<float>{1, 2}).ok());
    Result<File> f = File::from_bytes(w.serialize(), "memory");
    ASSERT_TRUE(f.has_value()) << f.error().to_string();
    File moved = std::move(f).value();  // views must survive the move of the owned buffer
    EXPECT_EQ(moved.path(), "memory");
    EXPECT_EQ(moved.get_string("general.name").value(), "x");
    const std::span<const uint8_t> data = moved.tensor_data(*moved.find_tensor("t"));
    float v[2];
    std::memcpy(v, data.data(), 8);
    EXPECT_EQ(v[1], 2.0f);
}

TEST(GgufFileTest, TypedGettersCheckTypes) {
    Writer w;
    w.set_string("s", "text");
    w.set_u64("big", ~uint64_t{0});
    w.set_u32("n", 7);
    w.set_f32("f", 0.25f);
    w.set_bool("b", true);
    w.set_array_ints("ids", ValueType::kI32, std::vector<int64_t>{1, -2});
    Result<File> f = open_bytes(Bytes{w.serialize()});
    ASSERT_TRUE(f.has_value()) << f.error().to_string();

    EXPECT_EQ(f->get_string("s").value(), "text");
    EXPECT_EQ(f->get_int("n").value(), 7);
    EXPECT_EQ(f->get_float("n").value(), 7.0);  // integers widen to float
    EXPECT_EQ(f->get_float("f").value(), 0.25);
    EXPECT_TRUE(f->get_bool("b").value());
    EXPECT_EQ(f->get_float("big").value(), 18446744073709551615.0);

    EXPECT_EQ(f->get_int("absent").error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(f->get_int_or("absent", 5).value(), 5);
    EXPECT_EQ(f->get_float_or("absent", 1.5).value(), 1.5);
    EXPECT_FALSE(f->get_bool_or("absent", false).value());
    EXPECT_EQ(f->get_int_or("n", 5).value(), 7);

    Result<int64_t> wrong = f->get_int("s");
    EXPECT_EQ(wrong.error().code(), ErrorCode::kDataLoss);
    EXPECT_NE(wrong.error().message().find("key 's' is string, expected an integer"), std::string::npos)
        << wrong.error().message();
    EXPECT_EQ(f->get_int_or("s", 0).error().code(), ErrorCode::kDataLoss);  // a wrong type is not "absent"
    EXPECT_NE(f->get_int("big").error().message().find("above INT64_MAX"), std::string::npos);
    EXPECT_EQ(f->get_bool("n").error().code(), ErrorCode::kDataLoss);
    EXPECT_EQ(f->get_string("n").error().code(), ErrorCode::kDataLoss);
    EXPECT_NE(f->get_strings("ids").error().message().find("is array of i32, expected array of string"),
              std::string::npos);
    ASSERT_TRUE(f->get_ints("ids").has_value());
    EXPECT_EQ(f->get_ints("ids")->size(), 2u);
    EXPECT_EQ(f->get_floats("ids").error().code(), ErrorCode::kDataLoss);
}

struct VocabCase {
    const char* file;
    const char* model;
    size_t n_tokens;
};

// Token counts are the published vocabulary sizes of each model family.
TEST(GgufFileTest, OpensLlamaCppVocabFiles) {
    const VocabCase cases[] = {
        {"ggml-vocab-gpt-2.gguf", "gpt2", 50257},  {"ggml-vocab-llama-spm.gguf", "llama", 32000},
        {"ggml-vocab-phi-3.gguf", "llama", 32064}, {"ggml-vocab-starcoder.gguf", "gpt2", 49152},
        {"ggml-vocab-falcon.gguf", "gpt2", 65024}, {"ggml-vocab-deepseek-coder.gguf", "gpt2", 32256},
    };
    for (const VocabCase& c : cases) {
        SCOPED_TRACE(c.file);
        Result<File> f = File::open(shared_data_dir() + "/third_party/llama.cpp-vocab/" + c.file);
        ASSERT_TRUE(f.has_value()) << f.error().to_string();
        EXPECT_EQ(f->version(), 3u);
        EXPECT_TRUE(f->tensors().empty());
        EXPECT_EQ(f->get_string("tokenizer.ggml.model").value(), c.model);
        Result<std::span<const std::string_view>> tokens = f->get_strings("tokenizer.ggml.tokens");
        ASSERT_TRUE(tokens.has_value()) << tokens.error().to_string();
        EXPECT_EQ(tokens->size(), c.n_tokens);
        const Value* types = f->find_value("tokenizer.ggml.token_type");
        ASSERT_NE(types, nullptr);
        EXPECT_EQ(types->numbers_i.size(), c.n_tokens);
        EXPECT_TRUE(f->get_int("tokenizer.ggml.eos_token_id").has_value());
    }
}

TEST(GgufFileTest, VocabTokensAreViewsOfRealText) {
    Result<File> f = File::open(shared_data_dir() + "/third_party/llama.cpp-vocab/ggml-vocab-llama-spm.gguf");
    ASSERT_TRUE(f.has_value()) << f.error().to_string();
    std::span<const std::string_view> tokens = f->get_strings("tokenizer.ggml.tokens").value();
    EXPECT_EQ(tokens[0], "<unk>");
    EXPECT_EQ(tokens[1], "<s>");
    EXPECT_EQ(tokens[2], "</s>");
    EXPECT_EQ(tokens[3], "<0x00>");  // SentencePiece byte fallback tokens follow the specials
    EXPECT_EQ(f->get_floats("tokenizer.ggml.scores")->size(), 32000u);
    EXPECT_EQ(f->get_int("tokenizer.ggml.bos_token_id").value(), 1);
    EXPECT_EQ(f->get_int("tokenizer.ggml.eos_token_id").value(), 2);
    // Moving the File keeps the views valid: they point into the mapping, not into the object.
    File moved = std::move(f).value();
    EXPECT_EQ(moved.get_strings("tokenizer.ggml.tokens").value()[1], "<s>");
}

}  // namespace
}  // namespace gannet::gguf
