// STYLE.md: steady-state decode steps do not allocate. This binary replaces the global operator
// new with a counting one (so it is its own test executable) and checks that, after a prefill,
// one-token steps of the one forward (Model::forward_batch, through Runner::run_sequence) make no
// heap allocation.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "base/allocation_counter_for_test.h"
#include "model/model.h"
#include "model/test_models.h"
#include "runner/runner.h"

namespace gannet::model {
namespace {

class DecodeAllocTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DecodeAllocTest, DecodeStepsDoNotAllocate) {
    const std::string path =
        (std::filesystem::temp_directory_path() / ("gannet_alloc_" + std::to_string(getpid()) + GetParam() + ".gguf"))
            .string();
    ASSERT_TRUE(write_test_model({.arch = GetParam(), .dtype = tensor::DType::kQ8_0}, path).ok());
    std::unique_ptr<Model> m = Model::load(path).value();
    auto runner = runner::Runner::create(*m, {.n_blocks = 2, .block_size = 16, .n_threads = 2}).value();
    const std::vector<int32_t> prompt = {1, 20, 30, 40};
    ASSERT_TRUE(runner->run_sequence(prompt, 0, LogitsMode::kLast).has_value());
    // Scores grow with the context: decode up to the last position first, then rewind and measure.
    int32_t id = 50;
    for (int32_t pos = 4; pos < 32; ++pos) {
        ASSERT_TRUE(runner->run_sequence(std::span(&id, 1), pos, LogitsMode::kLast).has_value());
    }
    const int64_t before = test_support::allocation_count();
    for (int32_t pos = 4; pos < 32; ++pos) {
        ASSERT_TRUE(runner->run_sequence(std::span(&id, 1), pos, LogitsMode::kLast).has_value());
    }
    EXPECT_EQ(test_support::allocation_count() - before, 0);
    std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(Archs, DecodeAllocTest, ::testing::Values("llama", "gemma3"));

// Block-sparse decode (quest, blocks of 16, k = 2, so past 32 tokens blocks are scored and dropped):
// the selection's scores, lists and ranges are kept buffers too.
TEST(SparseDecodeAllocTest, QuestDecodeStepsDoNotAllocate) {
    const std::string path =
        (std::filesystem::temp_directory_path() / ("gannet_alloc_quest_" + std::to_string(getpid()) + ".gguf"))
            .string();
    ASSERT_TRUE(write_test_model({.arch = "llama"}, path).ok());
    std::unique_ptr<Model> m = Model::load(path).value();
    ASSERT_TRUE(m->set_sparse_mode(SparseMode::kQuest).ok());
    ASSERT_TRUE(m->set_quest_params(16, 2).ok());
    auto runner = runner::Runner::create(*m, {.n_blocks = 8, .block_size = 16, .n_threads = 2}).value();
    const std::vector<int32_t> prompt = {1, 20, 30, 40};
    ASSERT_TRUE(runner->run_sequence(prompt, 0, LogitsMode::kLast).has_value());
    int32_t id = 50;
    for (int32_t pos = 4; pos < 128; ++pos) {
        ASSERT_TRUE(runner->run_sequence(std::span(&id, 1), pos, LogitsMode::kLast).has_value());
    }
    const int64_t before = test_support::allocation_count();
    for (int32_t pos = 40; pos < 128; ++pos) {
        ASSERT_TRUE(runner->run_sequence(std::span(&id, 1), pos, LogitsMode::kLast).has_value());
    }
    EXPECT_EQ(test_support::allocation_count() - before, 0);
    std::filesystem::remove(path);
}

// The same with a quantized or half KV cache (head_dim 32: n_embd 128 over 4 heads): staging rows,
// the quantizers and the per-layer dequantized scratch do not allocate after the first steps.
class KvTypeAllocTest : public ::testing::TestWithParam<tensor::DType> {};

TEST_P(KvTypeAllocTest, DecodeStepsDoNotAllocate) {
    const std::string path =
        (std::filesystem::temp_directory_path() / ("gannet_alloc_kv_" + std::to_string(getpid()) + ".gguf")).string();
    ASSERT_TRUE(
        write_test_model({.arch = "gemma3", .n_embd = 128, .n_ff = 256, .n_heads = 4, .n_kv_heads = 2}, path).ok());
    std::unique_ptr<Model> m = Model::load(path).value();
    auto runner =
        runner::Runner::create(*m, {.n_blocks = 2, .block_size = 16, .n_threads = 2, .kv_type = GetParam()}).value();
    const std::vector<int32_t> prompt = {1, 20, 30, 40};
    ASSERT_TRUE(runner->run_sequence(prompt, 0, LogitsMode::kLast).has_value());
    int32_t id = 50;
    for (int32_t pos = 4; pos < 32; ++pos) {
        ASSERT_TRUE(runner->run_sequence(std::span(&id, 1), pos, LogitsMode::kLast).has_value());
    }
    const int64_t before = test_support::allocation_count();
    for (int32_t pos = 4; pos < 32; ++pos) {
        ASSERT_TRUE(runner->run_sequence(std::span(&id, 1), pos, LogitsMode::kLast).has_value());
    }
    EXPECT_EQ(test_support::allocation_count() - before, 0);
    std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(Types, KvTypeAllocTest,
                         ::testing::Values(tensor::DType::kF16, tensor::DType::kQ8_0, tensor::DType::kQ4_0),
                         [](const ::testing::TestParamInfo<tensor::DType>& p) {
                             return std::string(tensor::dtype_name(p.param));
                         });

}  // namespace
}  // namespace gannet::model
