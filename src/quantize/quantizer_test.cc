#include "quantize/quantizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf_writer.h"
#include "tensor/quant.h"

namespace gannet::quantize {
namespace {

using tensor::DType;

std::vector<float> values(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, 0.05f);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) {
        x = dist(rng);
    }
    return v;
}

// A tied-embedding llama-shaped file: rows of 256 (every type), 96 (32-blocks only) and 40 (none).
gguf::File make_file() {
    gguf::Writer w;
    w.set_string("general.architecture", "llama");
    w.set_u32("llama.block_count", 1);
    const auto add = [&](const char* name, DType t, std::vector<int64_t> shape) {
        int64_t n = 1;
        for (int64_t d : shape) {
            n *= d;
        }
        EXPECT_TRUE(w.add_tensor_f32(name, t, shape, values(n, static_cast<uint32_t>(n))).ok()) << name;
    };
    add("token_embd.weight", DType::kF16, {256, 64});
    add("blk.0.attn_norm.weight", DType::kF32, {256});
    add("blk.0.attn_q.weight", DType::kF16, {256, 256});
    add("blk.0.ffn_down.weight", DType::kF32, {96, 256});
    add("blk.0.odd.weight", DType::kF32, {40, 8});
    return gguf::File::from_bytes(w.serialize(), "mem").value();
}

std::map<std::string, DType> chosen(const std::vector<TensorChoice>& choices) {
    std::map<std::string, DType> m;
    for (const TensorChoice& c : choices) {
        m[c.name] = c.to;
    }
    return m;
}

TEST(QuantizerTest, DefaultTypeWithOutputRuleNormsKeptAndFallbacks) {
    const gguf::File f = make_file();
    std::vector<std::string> warnings;
    QuantizeOptions o;
    o.dtype = DType::kQ4_K;
    o.warn = [&](const std::string& m) {
        warnings.push_back(m);
    };
    const std::map<std::string, DType> m = chosen(choose_types(f, o).value());
    EXPECT_EQ(m.at("token_embd.weight"), DType::kQ6_K);  // tied: it is the output matrix
    EXPECT_EQ(m.at("blk.0.attn_norm.weight"), DType::kF32);
    EXPECT_EQ(m.at("blk.0.attn_q.weight"), DType::kQ4_K);
    EXPECT_EQ(m.at("blk.0.ffn_down.weight"), DType::kQ5_0);  // 96 is not a multiple of 256
    EXPECT_EQ(m.at("blk.0.odd.weight"), DType::kF16);        // 40 is not a multiple of 32
    ASSERT_EQ(warnings.size(), 2u);
    EXPECT_NE(warnings[0].find("ffn_down"), std::string::npos);
}

TEST(QuantizerTest, HighPrecisionDefaultKeepsTheOutputMatrixAtThatType) {
    const gguf::File f = make_file();
    QuantizeOptions o;
    o.dtype = DType::kQ8_0;
    const std::map<std::string, DType> m = chosen(choose_types(f, o).value());
    EXPECT_EQ(m.at("token_embd.weight"), DType::kQ8_0);
    EXPECT_EQ(m.at("blk.0.ffn_down.weight"), DType::kQ8_0);
}

TEST(QuantizerTest, PlanRuleWinsAndAnExplicitTypeThatCannotHoldTheRowIsAnError) {
    const gguf::File f = make_file();
    Plan plan = Plan::parse(R"({"rules": [{"match": "token_embd.*", "type": "q4_0"},
                                          {"match": "blk.*.attn_*", "type": "q2_k"}]})",
                            "p")
                    .value();
    QuantizeOptions o;
    o.dtype = DType::kQ8_0;
    o.plan = &plan;
    const std::map<std::string, DType> m = chosen(choose_types(f, o).value());
    EXPECT_EQ(m.at("token_embd.weight"), DType::kQ4_0);  // explicit beats the output rule
    EXPECT_EQ(m.at("blk.0.attn_q.weight"), DType::kQ2_K);
    EXPECT_EQ(m.at("blk.0.attn_norm.weight"), DType::kF32);  // norms stay even when a glob matches

    Plan bad = Plan::parse(R"({"rules": [{"match": "blk.0.ffn_down.weight", "type": "q4_k"}]})", "p").value();
    o.plan = &bad;
    const auto r = choose_types(f, o);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message().find("96"), std::string::npos) << r.error().message();
}

TEST(QuantizerTest, PlanThatMatchesNothingIsAnError) {
    const gguf::File f = make_file();
    Plan plan = Plan::parse(R"({"rules": [{"match": "blk.*.ffn_gate.weight", "type": "q2_k"}]})", "p").value();
    QuantizeOptions o;
    o.plan = &plan;
    const auto r = choose_types(f, o);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message().find("match none"), std::string::npos) << r.error().message();
}

TEST(QuantizerTest, BadDefaultTypeAndBadImportanceLengthAreErrors) {
    const gguf::File f = make_file();
    QuantizeOptions o;
    o.dtype = DType::kI32;
    EXPECT_EQ(choose_types(f, o).error().code(), ErrorCode::kInvalidArgument);
    ImportanceMap imp{{"blk.0.attn_q.weight", std::vector<float>(100, 1.0f)}};
    o.dtype = DType::kQ4_K;
    o.importance = &imp;
    const auto r = choose_types(f, o);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message().find("expected 256"), std::string::npos) << r.error().message();
}

TEST(QuantizerTest, QuantizedFileReopensWithMetadataTypesAndCloseValues) {
    const gguf::File f = make_file();
    const std::string path =
        (std::filesystem::temp_directory_path() / ("gannet_quantizer_test_" + std::to_string(::getpid()) + ".gguf"))
            .string();
    QuantizeOptions o;
    o.dtype = DType::kQ4_K;
    size_t n_progress = 0;
    o.progress = [&](size_t i, size_t n, const TensorChoice&, uint64_t) {
        EXPECT_EQ(i, n_progress);
        EXPECT_EQ(n, 5u);
        ++n_progress;
    };
    ThreadPool pool(2);
    const QuantizeSummary s = quantize_file(f, path, o, pool).value();
    EXPECT_EQ(n_progress, 5u);
    EXPECT_LT(s.bytes_out, s.bytes_in);
    const gguf::File out = gguf::File::open(path).value();
    std::filesystem::remove(path);
    EXPECT_EQ(out.get_string("general.architecture").value(), "llama");
    EXPECT_EQ(out.get_int("llama.block_count").value(), 1);
    EXPECT_EQ(out.get_int("general.file_type").value(), 14);  // LLAMA_FTYPE_MOSTLY_Q4_K_S
    const gguf::TensorInfo* q = out.find_tensor("blk.0.attn_q.weight");
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->dtype, DType::kQ4_K);
    ASSERT_EQ(q->shape, (std::vector<int64_t>{256, 256}));
    // Values: RMS error of Q4_K on N(0, 0.05) is ~0.1 sigma; allow 0.15 sigma.
    const gguf::TensorInfo* src = f.find_tensor("blk.0.attn_q.weight");
    std::vector<float> a(256 * 256), b(256 * 256);
    ASSERT_TRUE(tensor::dequantize_row(src->dtype, f.tensor_data(*src).data(), a.data(), 256 * 256).ok());
    ASSERT_TRUE(tensor::dequantize_row(q->dtype, out.tensor_data(*q).data(), b.data(), 256 * 256).ok());
    double err = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        err += (a[i] - b[i]) * (a[i] - b[i]);
    }
    EXPECT_LT(std::sqrt(err / static_cast<double>(a.size())), 0.15 * 0.05);
    const gguf::TensorInfo* norm = out.find_tensor("blk.0.attn_norm.weight");
    ASSERT_NE(norm, nullptr);
    const auto in_norm = f.tensor_data(*f.find_tensor("blk.0.attn_norm.weight"));
    const auto out_norm = out.tensor_data(*norm);
    EXPECT_TRUE(std::equal(in_norm.begin(), in_norm.end(), out_norm.begin(), out_norm.end()));
}

TEST(QuantizerTest, UnwritableOutputIsAnError) {
    const gguf::File f = make_file();
    QuantizeOptions o;
    ThreadPool pool(1);
    EXPECT_FALSE(quantize_file(f, "/nonexistent-dir/out.gguf", o, pool).has_value());
}

}  // namespace
}  // namespace gannet::quantize
