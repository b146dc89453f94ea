// Engine::generate, the single-request path of `gannet run` and `gannet bench`: its text is the
// greedy continuation computed by hand through the one forward (Runner::run_sequence), the
// scheduler's length stop ends it at max_tokens with finish reason "length", and bad requests are
// errors, not hangs.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "model/test_models.h"
#include "sampling/sampler.h"

namespace gannet::engine {
namespace {

struct Loaded {
    std::unique_ptr<model::Model> model;
    std::unique_ptr<tokenizer::Tokenizer> tok;
};

Loaded load(const std::string& arch) {
    const std::string path = ::testing::TempDir() + "/engine_generate_" + arch + ".gguf";
    EXPECT_TRUE(model::write_test_model({.arch = arch}, path).ok());
    Loaded l;
    l.model = model::Model::load(path).value();
    l.tok = tokenizer::Tokenizer::from_gguf(l.model->file()).value();
    std::filesystem::remove(path);
    return l;
}

class GenerateTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GenerateTest, GreedyTextIsTheOneForwardsContinuationAndStopsAtLength) {
    Loaded l = load(GetParam());
    const std::vector<int32_t> prompt = {1, 70, 80, 90, 100};
    constexpr int32_t kMaxTokens = 6;

    // By hand: prefill, then one decode step per token, argmax each time.
    auto runner = runner::Runner::create(*l.model, {.n_blocks = 2, .block_size = 16, .n_threads = 2}).value();
    std::vector<int32_t> want;
    std::span<const float> logits = runner->run_sequence(prompt, 0, model::LogitsMode::kLast).value();
    for (int32_t i = 0; i < kMaxTokens; ++i) {
        const int32_t id = sampling::argmax(logits);
        want.push_back(id);
        if (i + 1 < kMaxTokens) {
            const int32_t pos = static_cast<int32_t>(prompt.size()) + i;
            logits = runner->run_sequence(std::span(&id, 1), pos, model::LogitsMode::kLast).value();
        }
    }
    std::string want_text;
    for (int32_t id : want) {
        want_text += l.tok->decode_token(id, tokenizer::Tokenizer::RenderSpecial::kNo);
    }

    auto engine = Engine::create(*l.model, *l.tok, {.n_ctx = 64, .n_kv_blocks = 8, .n_threads = 2}).value();
    EngineRequest req;
    req.prompt = prompt;
    req.params.max_tokens = kMaxTokens;
    req.params.temperature = 0.0f;
    req.params.ignore_eos = true;
    std::string got_text;
    req.on_text = [&](const std::string& t) {
        got_text += t;
    };
    Result<FinishInfo> info = engine->generate(std::move(req));
    ASSERT_TRUE(info.has_value()) << info.error().to_string();
    EXPECT_EQ(info->finish_reason, "length");
    EXPECT_EQ(info->completion_tokens, kMaxTokens);
    EXPECT_EQ(info->prompt_tokens, static_cast<int32_t>(prompt.size()));
    EXPECT_EQ(got_text, want_text);
    EXPECT_FALSE(want_text.empty());
    EXPECT_GT(info->first_token_s, 0.0);
    EXPECT_GT(info->decode_s, 0.0);
}

INSTANTIATE_TEST_SUITE_P(Archs, GenerateTest, ::testing::Values("llama", "gemma3"));

TEST(GenerateErrorsTest, BadRequestsAreErrorsNotHangs) {
    Loaded l = load("llama");
    auto engine = Engine::create(*l.model, *l.tok, {.n_ctx = 16, .n_kv_blocks = 4, .n_threads = 1}).value();
    EngineRequest empty;
    EXPECT_EQ(engine->generate(std::move(empty)).error().code(), ErrorCode::kInvalidArgument);
    EngineRequest too_long;
    too_long.prompt = std::vector<int32_t>(10, 5);
    too_long.params.max_tokens = 7;  // 17 > n_ctx 16
    EXPECT_EQ(engine->generate(std::move(too_long)).error().code(), ErrorCode::kInvalidArgument);
    EngineRequest bad_sampler;
    bad_sampler.prompt = {1, 2};
    bad_sampler.params.max_tokens = 2;
    bad_sampler.params.top_p = 0.0f;  // the sampler refuses it on the engine thread
    Result<FinishInfo> r = engine->generate(std::move(bad_sampler));
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message().find("top_p"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace gannet::engine
