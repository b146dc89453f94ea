// Block diffusion through the Engine API (#18), on the tiny random diffusion_gemma model of
// tests/fixtures/diffusion: a seed fixes the text; text arrives one canvas per callback; the
// decoder passes and lengths are accounted; several requests run batched; parameters a diffusion
// model cannot honour and prompts whose canvases do not fit are refused by name; /metrics has the
// diffusion counters.
#include <gtest/gtest.h>

#include <future>
#include <string>
#include <vector>

#include "base/test_paths.h"
#include "engine/engine.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace gannet::engine {
namespace {

struct Loaded {
    std::unique_ptr<model::Model> model;
    std::unique_ptr<tokenizer::Tokenizer> tok;
    std::unique_ptr<Engine> engine;
};

Loaded load(int32_t n_ctx = 256) {
    Loaded l;
    l.model = model::Model::load(source_dir() + "/tests/fixtures/diffusion/diffusion-tiny.gguf").value();
    l.tok = tokenizer::Tokenizer::from_gguf(l.model->file()).value();
    EngineConfig c;
    c.n_ctx = n_ctx;
    c.n_kv_blocks = 64;
    c.n_threads = 2;
    l.engine = Engine::create(*l.model, *l.tok, c).value();
    return l;
}

EngineRequest request(int32_t max_tokens, uint64_t seed, std::vector<std::string>* chunks) {
    EngineRequest r;
    r.prompt = {1, 2, 3, 4, 5};
    r.params.max_tokens = max_tokens;
    r.params.seed = seed;
    r.params.ignore_eos = true;  // random weights: do not let an early EOS shorten the test
    r.on_text = [chunks](const std::string& s) {
        if (chunks != nullptr) {
            chunks->push_back(s);
        }
    };
    return r;
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& x : v) {
        s += x;
    }
    return s;
}

TEST(DiffusionEngineTest, SameSeedSameTextAndOneChunkPerCanvas) {
    Loaded l = load();
    std::vector<std::string> a, b, c;
    const FinishInfo fa = l.engine->generate(request(64, 7, &a)).value();  // two canvases of 32
    const FinishInfo fb = l.engine->generate(request(64, 7, &b)).value();
    (void)l.engine->generate(request(64, 8, &c)).value();
    EXPECT_EQ(join(a), join(b));
    EXPECT_NE(join(a), join(c));
    EXPECT_EQ(fa.completion_tokens, 64);
    EXPECT_EQ(fa.finish_reason, "length");
    EXPECT_LE(a.size(), 2u);  // at most one chunk per canvas (a partial UTF-8 tail may merge)
    EXPECT_GE(fa.decoder_passes, 2);
    EXPECT_LE(fa.decoder_passes, 2 * 48);
    EXPECT_EQ(fa.decoder_passes, fb.decoder_passes);
}

TEST(DiffusionEngineTest, MaxTokensCutsTheLastCanvas) {
    Loaded l = load();
    std::vector<std::string> a;
    const FinishInfo f = l.engine->generate(request(40, 3, &a)).value();
    EXPECT_EQ(f.completion_tokens, 40);
    EXPECT_EQ(f.finish_reason, "length");
}

TEST(DiffusionEngineTest, ConcurrentRequestsAreBatchedAndMatchSoloRuns) {
    Loaded l = load();
    std::vector<std::string> solo;
    (void)l.engine->generate(request(32, 11, &solo)).value();
    std::vector<std::vector<std::string>> got(4);
    std::vector<std::future<Result<FinishInfo>>> fs;
    for (size_t i = 0; i < got.size(); ++i) {
        fs.push_back(std::async(std::launch::async, [&, i] { return l.engine->generate(request(32, 11, &got[i])); }));
    }
    for (auto& f : fs) {
        ASSERT_TRUE(f.get().has_value());
    }
    for (const auto& g : got) {
        EXPECT_EQ(join(g), join(solo));  // each row of a batch is computed independently
    }
}

TEST(DiffusionEngineTest, RefusesWhatADiffusionModelCannotDo) {
    Loaded l = load(64);
    EngineRequest r = request(32, 1, nullptr);
    r.params.top_logprobs = 2;
    Result<uint64_t> s = l.engine->submit(std::move(r));
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.error().message().find("logprobs"), std::string::npos);
    r = request(32, 1, nullptr);
    r.params.top_p = 0.5f;
    EXPECT_NE(l.engine->submit(std::move(r)).error().message().find("top_p"), std::string::npos);
    r = request(32, 1, nullptr);
    r.params.diffusion_steps = 5000;
    EXPECT_NE(l.engine->submit(std::move(r)).error().message().find("diffusion_steps"), std::string::npos);
    r = request(64, 1, nullptr);  // 5 prompt tokens + 2 canvases of 32 > 64
    EXPECT_NE(l.engine->submit(std::move(r)).error().message().find("maximum context length"), std::string::npos);
    r = request(32, 1, nullptr);
    r.params.determinism = Determinism::kInvariant;
    EXPECT_NE(l.engine->submit(std::move(r)).error().message().find("deterministic"), std::string::npos);
    r = request(32, 1, nullptr);
    r.soft = std::make_shared<model::SoftTokens>();
    EXPECT_NE(l.engine->submit(std::move(r)).error().message().find("image and audio"), std::string::npos);
}

TEST(DiffusionEngineTest, ServerDeterminismIsRefusedAtCreate) {
    auto m = model::Model::load(source_dir() + "/tests/fixtures/diffusion/diffusion-tiny.gguf").value();
    auto tok = tokenizer::Tokenizer::from_gguf(m->file()).value();
    EngineConfig c;
    c.n_ctx = 256;
    c.n_kv_blocks = 64;
    c.determinism = Determinism::kMargin;
    auto e = Engine::create(*m, *tok, c);
    ASSERT_FALSE(e.has_value());
    EXPECT_NE(e.error().message().find("diffusion"), std::string::npos) << e.error().message();
}

TEST(DiffusionEngineTest, SubmitBatchIsAllOrNoneAndRunsEveryRequest) {
    Loaded l = load();
    std::vector<EngineRequest> bad;
    bad.push_back(request(32, 1, nullptr));
    bad.push_back(request(32, 2, nullptr));
    bad.back().params.top_p = 0.5f;
    Result<std::vector<uint64_t>> refused = l.engine->submit_batch(std::move(bad));
    ASSERT_FALSE(refused.has_value());
    EXPECT_NE(refused.error().message().find("top_p"), std::string::npos);
    std::vector<std::string> solo;
    (void)l.engine->generate(request(32, 11, &solo)).value();
    // Had the refused batch queued its first request, it would have run beside this one.
    EXPECT_NE(l.engine->metrics_text().find("gannet_generation_tokens_total 32\n"), std::string::npos)
        << l.engine->metrics_text();
    std::vector<std::vector<std::string>> got(3);
    std::vector<std::promise<FinishInfo>> done(got.size());
    std::vector<EngineRequest> batch;
    for (size_t i = 0; i < got.size(); ++i) {
        batch.push_back(request(32, 11, &got[i]));
        batch.back().on_finish = [&done, i](const FinishInfo& f) {
            done[i].set_value(f);
        };
    }
    const std::vector<uint64_t> handles = l.engine->submit_batch(std::move(batch)).value();
    ASSERT_EQ(handles.size(), got.size());
    for (size_t i = 0; i < got.size(); ++i) {
        const FinishInfo f = done[i].get_future().get();
        EXPECT_TRUE(f.status.ok()) << f.status.message();
        EXPECT_EQ(f.completion_tokens, 32);
        EXPECT_EQ(join(got[i]), join(solo));
    }
}

TEST(DiffusionEngineTest, MetricsCountStepsAndTokensPerForward) {
    Loaded l = load();
    const FinishInfo f = l.engine->generate(request(32, 5, nullptr)).value();
    const std::string m = l.engine->metrics_text();
    EXPECT_NE(m.find("gannet_diffusion_steps " + std::to_string(f.decoder_passes)), std::string::npos) << m;
    EXPECT_NE(m.find("gannet_diffusion_tokens_per_forward"), std::string::npos);
    EXPECT_NE(m.find("gannet_generation_tokens_total 32"), std::string::npos) << m;
}

TEST(DiffusionEngineTest, CancelEndsARequestAndFreesItsBlocks) {
    Loaded l = load();
    std::promise<FinishInfo> done;
    EngineRequest r = request(224, 9, nullptr);  // seven canvases
    r.on_finish = [&done](const FinishInfo& f) {
        done.set_value(f);
    };
    const uint64_t h = l.engine->submit(std::move(r)).value();
    l.engine->cancel(h);
    const FinishInfo f = done.get_future().get();
    EXPECT_EQ(f.status.code(), ErrorCode::kCancelled);
    EXPECT_LT(f.completion_tokens, 224);
    // The engine goes on: the next request runs to its length.
    const FinishInfo g = l.engine->generate(request(224, 9, nullptr)).value();
    EXPECT_EQ(g.completion_tokens, 224);
}

TEST(DiffusionEngineTest, FewerStepsMeansFewerPasses) {
    Loaded l = load();
    EngineRequest r = request(32, 5, nullptr);
    r.params.diffusion_steps = 3;
    const FinishInfo f = l.engine->generate(std::move(r)).value();
    EXPECT_LE(f.decoder_passes, 3);
    EXPECT_EQ(f.completion_tokens, 32);
}

}  // namespace
}  // namespace gannet::engine
