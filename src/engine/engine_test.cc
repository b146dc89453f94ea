// Engine over the tiny llama fixture: cancel() ends a request with kCancelled, frees its KV blocks
// and counts it; an exception from a request's callback fails only that request; an exception from
// a step fails the live requests with kInternal and the engine keeps serving (label slow: it loads
// a model file).
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>

#include "base/test_paths.h"

namespace gannet::engine {
namespace {

struct Fixture {
    std::unique_ptr<model::Model> model;
    std::unique_ptr<tokenizer::Tokenizer> tok;
};

Fixture load_fixture() {
    Fixture f;
    auto m = model::Model::load(source_dir() + "/tests/fixtures/models/llama-f32.gguf");
    EXPECT_TRUE(m.has_value()) << m.error().to_string();
    f.model = std::move(*m);
    auto t = tokenizer::Tokenizer::from_gguf(f.model->file());
    EXPECT_TRUE(t.has_value()) << t.error().to_string();
    f.tok = std::move(*t);
    return f;
}

EngineConfig small_config() {
    EngineConfig c;
    c.n_ctx = 256;
    c.n_kv_blocks = 64;
    return c;
}

// The value of one unlabelled metric line ("name value"); -1 when absent.
double metric(const Engine& e, const std::string& name) {
    const std::string text = e.metrics_text();
    const std::string key = "\n" + name + " ";
    const size_t at = text.find(key);
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + key.size()));
}

// Polls `pred` for up to 5 s.
template <typename Pred>
bool eventually(Pred pred) {
    for (int i = 0; i < 500; ++i) {
        if (pred()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

// A greedy request that ignores EOS, with its text and finish collected.
struct Probe {
    std::string text;
    std::promise<FinishInfo> finished;

    EngineRequest request(int32_t max_tokens) {
        EngineRequest r;
        r.prompt = {1, 12, 7, 30, 5};
        r.params.max_tokens = max_tokens;
        r.params.temperature = 0.0f;
        r.params.ignore_eos = true;
        r.on_text = [this](const std::string& t) {
            text += t;
        };
        r.on_finish = [this](const FinishInfo& info) {
            finished.set_value(info);
        };
        return r;
    }
    FinishInfo wait() {
        std::future<FinishInfo> f = finished.get_future();
        EXPECT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
        return f.get();
    }
};

TEST(EngineTest, CancelEndsTheRequestFreesItsBlocksAndCountsIt) {
    Fixture f = load_fixture();
    auto e = Engine::create(*f.model, *f.tok, small_config());
    ASSERT_TRUE(e.has_value()) << e.error().to_string();
    Engine& engine = **e;
    std::promise<void> first_text;
    bool is_first = true;
    Probe p;
    EngineRequest r = p.request(200);
    r.on_text = [&](const std::string&) {
        if (is_first) {
            is_first = false;
            first_text.set_value();
        }
        // Slow consumer: the request is certainly still running when cancel() lands.
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    };
    auto h = engine.submit(std::move(r));
    ASSERT_TRUE(h.has_value());
    first_text.get_future().wait();
    EXPECT_TRUE(eventually([&] { return metric(engine, "gannet_kv_blocks_used") > 0; }));
    engine.cancel(*h);
    FinishInfo info = p.wait();
    EXPECT_EQ(info.status.code(), ErrorCode::kCancelled) << info.status.to_string();
    EXPECT_LT(info.completion_tokens, 200);
    EXPECT_TRUE(eventually([&] { return metric(engine, "gannet_kv_blocks_used") == 0; }));
    EXPECT_EQ(metric(engine, "gannet_requests_cancelled_total"), 1);
    EXPECT_EQ(metric(engine, "gannet_requests_failed_total"), 1);
    EXPECT_EQ(metric(engine, "gannet_running_requests"), 0);
}

TEST(EngineTest, ThrowingCallbackFailsOnlyItsRequest) {
    Fixture f = load_fixture();
    auto e = Engine::create(*f.model, *f.tok, small_config());
    ASSERT_TRUE(e.has_value());
    Engine& engine = **e;
    Probe bad;
    EngineRequest r = bad.request(20);
    r.on_text = [](const std::string&) {
        throw std::runtime_error("consumer bug");
    };
    ASSERT_TRUE(engine.submit(std::move(r)).has_value());
    FinishInfo info = bad.wait();
    EXPECT_EQ(info.status.code(), ErrorCode::kInternal);
    EXPECT_NE(info.status.message().find("on_text threw: consumer bug"), std::string::npos) << info.status.message();

    Probe good;
    ASSERT_TRUE(engine.submit(good.request(12)).has_value());
    FinishInfo ok = good.wait();
    EXPECT_TRUE(ok.status.ok()) << ok.status.to_string();
    EXPECT_EQ(ok.completion_tokens, 12);
    EXPECT_TRUE(eventually([&] { return metric(engine, "gannet_kv_blocks_used") == 0; }));
}

// The real CPU runner, throwing once on its `throw_at`-th step (a fault no real part can be asked for).
class ThrowingRunner final : public runner::StepRunner {
public:
    ThrowingRunner(std::unique_ptr<runner::StepRunner> inner, int throw_at)
        : inner_(std::move(inner)), throw_at_(throw_at) {}
    Result<std::span<const float>> run(const sched::SchedulerOutput& out) override {
        if (++n_runs_ == throw_at_) {
            throw std::bad_alloc();
        }
        return inner_->run(out);
    }
    int64_t n_vocab() const override { return inner_->n_vocab(); }

private:
    std::unique_ptr<runner::StepRunner> inner_;
    int throw_at_;
    int n_runs_ = 0;
};

TEST(EngineTest, ThrowingStepFailsLiveRequestsAndTheEngineStartsOver) {
    Fixture f = load_fixture();
    const EngineConfig c = small_config();
    // The reference output of the probe request on an engine that never throws.
    std::string expected;
    {
        auto e = Engine::create(*f.model, *f.tok, c);
        ASSERT_TRUE(e.has_value());
        Probe p;
        ASSERT_TRUE((*e)->submit(p.request(16)).has_value());
        ASSERT_TRUE(p.wait().status.ok());
        expected = p.text;
    }
    auto inner = runner::Runner::create(*f.model, {.n_blocks = c.n_kv_blocks, .block_size = c.block_size});
    ASSERT_TRUE(inner.has_value());
    auto e = Engine::create(*f.model, *f.tok, c, std::make_unique<ThrowingRunner>(std::move(*inner), 3));
    ASSERT_TRUE(e.has_value());
    Engine& engine = **e;
    Probe victim;
    ASSERT_TRUE(engine.submit(victim.request(100)).has_value());
    FinishInfo info = victim.wait();
    EXPECT_EQ(info.status.code(), ErrorCode::kInternal);
    EXPECT_NE(info.status.message().find("step failed"), std::string::npos) << info.status.message();
    EXPECT_EQ(metric(engine, "gannet_engine_exceptions_total"), 1);
    EXPECT_EQ(metric(engine, "gannet_kv_blocks_used"), 0);

    Probe after;
    ASSERT_TRUE(engine.submit(after.request(16)).has_value());
    FinishInfo ok = after.wait();
    ASSERT_TRUE(ok.status.ok()) << ok.status.to_string();
    EXPECT_EQ(after.text, expected);  // the fresh scheduler over the same KV memory computes the same
}

}  // namespace
}  // namespace gannet::engine
