#include "quantize/calibration.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "model/model.h"
#include "model/test_models.h"

namespace gannet::quantize {
namespace {

gguf::File test_model(const std::string& arch) {
    gguf::Writer w = model::build_test_model({.arch = arch, .dtype = tensor::DType::kF32, .seed = 3}).value();
    return gguf::File::from_bytes(w.serialize(), arch).value();
}

std::vector<int32_t> tokens(int64_t n, int64_t n_vocab) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        t[static_cast<size_t>(i)] = static_cast<int32_t>((i * 13 + 7) % n_vocab);
    }
    return t;
}

class CalibrationTest : public ::testing::TestWithParam<std::string> {};

// The calibration forward repeats Model::forward's steps; equal logits prove it runs the same
// network, so the statistics it records are the real inputs of each matrix.
TEST_P(CalibrationTest, ForwardMatchesTheModelsLogits) {
    const gguf::File f = test_model(GetParam());
    ThreadPool pool(2);
    std::unique_ptr<model::Model> m = model::Model::from_file(test_model(GetParam())).value();
    const std::vector<int32_t> t = tokens(20, m->config().n_vocab);
    const CalibrationResult r = collect_importance(f, t, 32, pool).value();
    EXPECT_EQ(r.n_tokens, 20);
    model::KvCache cache = m->create_cache(32).value();
    std::vector<int32_t> pos(20);
    for (int i = 0; i < 20; ++i) {
        pos[static_cast<size_t>(i)] = i;
    }
    const std::span<const float> want = m->forward(t, pos, cache, model::LogitsMode::kLast, pool).value();
    ASSERT_EQ(r.logits.size(), want.size());
    float max_abs = 0.0f;
    for (float v : want) {
        max_abs = std::max(max_abs, std::fabs(v));
    }
    for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_NEAR(r.logits[i], want[i], 1e-5f * max_abs + 1e-6f) << GetParam() << " logit " << i;
    }
}

TEST_P(CalibrationTest, EveryMatrixGetsAPositiveStatisticPerInputColumn) {
    const gguf::File f = test_model(GetParam());
    ThreadPool pool(1);
    const CalibrationResult r = collect_importance(f, tokens(40, 100), 16, pool).value();  // 3 windows
    int n_matrices = 0;
    for (const gguf::TensorInfo& t : f.tensors()) {
        if (t.shape.size() != 2 || (t.name == "token_embd.weight" && f.find_tensor("output.weight") != nullptr)) {
            continue;
        }
        const auto it = r.importance.find(t.name);
        ASSERT_NE(it, r.importance.end()) << t.name;
        ASSERT_EQ(static_cast<int64_t>(it->second.size()), t.shape[0]) << t.name;
        double sum = 0;
        for (float v : it->second) {
            ASSERT_GE(v, 0.0f);
            sum += v;
        }
        EXPECT_GT(sum, 0.0) << t.name;
        ++n_matrices;
    }
    EXPECT_GE(n_matrices, 8);
}

INSTANTIATE_TEST_SUITE_P(Archs, CalibrationTest, ::testing::Values("llama", "qwen2", "qwen3", "gemma3"));

TEST(CalibrationErrorsTest, NoTokensOrBadContextIsAnError) {
    const gguf::File f = test_model("llama");
    ThreadPool pool(1);
    EXPECT_EQ(collect_importance(f, {}, 16, pool).error().code(), ErrorCode::kInvalidArgument);
    const std::vector<int32_t> t = tokens(4, 50);
    EXPECT_EQ(collect_importance(f, t, 0, pool).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(collect_importance(f, t, 1 << 20, pool).error().code(), ErrorCode::kInvalidArgument);
    const std::vector<int32_t> bad = {1, 2, 1 << 30};
    EXPECT_EQ(collect_importance(f, bad, 16, pool).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace gannet::quantize
