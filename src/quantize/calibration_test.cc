#include "quantize/calibration.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "model/model.h"
#include "model/test_models.h"
#include "runner/runner.h"

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

std::unique_ptr<model::Model> load(const std::string& arch) {
    return model::Model::from_file(test_model(arch)).value();
}

class CalibrationTest : public ::testing::TestWithParam<std::string> {};

// Windows restart at position 0: the last window's logits are those of its tokens run alone through
// the one forward, and the activation hook is gone afterwards (a later forward records nothing).
TEST_P(CalibrationTest, LastWindowRunsFromPositionZero) {
    std::unique_ptr<model::Model> m = load(GetParam());
    const std::vector<int32_t> t = tokens(40, m->config().n_vocab);
    const CalibrationResult r = collect_importance(*m, t, 16, 2).value();  // windows of 16, 16, 8
    EXPECT_EQ(r.n_tokens, 40);
    auto runner = runner::Runner::create(*m, {.n_blocks = 1, .block_size = 16, .n_threads = 2}).value();
    const std::span<const float> want =
        runner->run_sequence(std::span(t).subspan(32), 0, model::LogitsMode::kLast).value();
    ASSERT_EQ(r.logits.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(r.logits[i], want[i]) << GetParam() << " logit " << i;
    }
}

// The statistics are the mean squares of what each matrix reads: recomputed here from a hook of our
// own on the same forward, for one matrix, they agree.
TEST_P(CalibrationTest, StatisticsAreMeanSquaresOfTheHookedInputs) {
    std::unique_ptr<model::Model> m = load(GetParam());
    const std::vector<int32_t> t = tokens(12, m->config().n_vocab);
    const CalibrationResult r = collect_importance(*m, t, 16, 1).value();
    std::vector<double> sums;
    m->set_activation_hook([&](model::ActivationSite site, int64_t layer, const float* x, int64_t n_rows, int64_t dim) {
        if (site != model::ActivationSite::kFfnDownInput || layer != 1)
            return;
        sums.assign(static_cast<size_t>(dim), 0.0);
        for (int64_t i = 0; i < n_rows; ++i) {
            for (int64_t j = 0; j < dim; ++j)
                sums[static_cast<size_t>(j)] += double(x[i * dim + j]) * x[i * dim + j];
        }
    });
    auto runner = runner::Runner::create(*m, {.n_blocks = 1, .block_size = 16, .n_threads = 1}).value();
    ASSERT_TRUE(runner->run_sequence(t, 0, model::LogitsMode::kAll).has_value());
    m->set_activation_hook(nullptr);
    const std::vector<float>& got = r.importance.at("blk.1.ffn_down.weight");
    ASSERT_EQ(got.size(), sums.size());
    for (size_t j = 0; j < sums.size(); ++j) {
        EXPECT_NEAR(got[j], sums[j] / 12.0, 1e-5 * (1.0 + sums[j])) << j;
    }
}

TEST_P(CalibrationTest, EveryMatrixGetsAPositiveStatisticPerInputColumn) {
    const gguf::File f = test_model(GetParam());
    std::unique_ptr<model::Model> m = load(GetParam());
    const CalibrationResult r = collect_importance(*m, tokens(40, 100), 16, 1).value();  // 3 windows
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
    std::unique_ptr<model::Model> m = load("llama");
    EXPECT_EQ(collect_importance(*m, {}, 16, 1).error().code(), ErrorCode::kInvalidArgument);
    const std::vector<int32_t> t = tokens(4, 50);
    EXPECT_EQ(collect_importance(*m, t, 0, 1).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(collect_importance(*m, t, 1 << 20, 1).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(collect_importance(*m, t, 16, 0).error().code(), ErrorCode::kInvalidArgument);
    const std::vector<int32_t> bad = {1, 2, 1 << 30};
    EXPECT_EQ(collect_importance(*m, bad, 16, 1).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace gannet::quantize
