// MarginGate in the engine over real models (label slow: model files).
// - A runner that drifts at one step (its logits row's top two swapped, the K/V it wrote at that
//   position overwritten) is caught: the reference token is emitted and the drifted K/V replaced, so
//   the output equals the clean run; with the override's K/V write skipped, it does not.
// - `deterministic margin` on the shipped model: the same tokens at batch 1 and at batch 16 with
//   random co-batched fillers (engine::run_determinism_bench).
// - What the engine cannot give is refused with a precise error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/test_paths.h"
#include "engine/determinism_bench.h"
#include "engine/engine.h"
#include "runner/runner.h"
#include "tokenizer/prompt.h"

namespace gannet::engine {
namespace {

struct Loaded {
    std::unique_ptr<model::Model> model;
    std::unique_ptr<tokenizer::Tokenizer> tok;
};

Loaded load(const std::string& path) {
    Loaded f;
    auto m = model::Model::load(path);
    EXPECT_TRUE(m.has_value()) << m.error().to_string();
    f.model = std::move(*m);
    auto t = tokenizer::Tokenizer::from_gguf(f.model->file());
    EXPECT_TRUE(t.has_value()) << t.error().to_string();
    f.tok = std::move(*t);
    return f;
}

EngineConfig small_config(Determinism mode, float tau) {
    EngineConfig c;
    c.n_ctx = 128;
    c.n_kv_blocks = 32;
    c.determinism = mode;
    c.margin_tau = tau;
    return c;
}

enum class Commit { kHonoured, kSkipped };

// A real Runner whose drift_step-th step goes wrong the way a batch-dependent kernel can: the first
// row's two best logits trade places and the K/V that step wrote at that row's position are
// replaced by large values in every layer. With Commit::kSkipped its commit_reference() claims
// success but leaves the drifted K/V: the broken override the K/V assertion must catch.
class DriftingRunner final : public runner::StepRunner {
public:
    DriftingRunner(std::unique_ptr<runner::Runner> inner, int drift_step, Commit commit)
        : inner_(std::move(inner)), drift_step_(drift_step), commit_(commit) {}

    Result<std::span<const float>> run(const sched::SchedulerOutput& out) override {
        GANNET_ASSIGN_OR_RETURN(std::span<const float> logits, inner_->run(out));
        if (++n_steps_ != drift_step_ || out.seqs.empty()) {
            return logits;
        }
        row_.assign(logits.begin(), logits.end());
        const size_t n_vocab = static_cast<size_t>(inner_->n_vocab());
        std::vector<size_t> order(n_vocab);
        for (size_t i = 0; i < n_vocab; ++i) {
            order[i] = i;
        }
        std::partial_sort(order.begin(), order.begin() + 2, order.end(),
                          [&](size_t a, size_t b) { return row_[a] > row_[b]; });
        std::swap(row_[order[0]], row_[order[1]]);
        const sched::ScheduledSeq& s = out.seqs[0];
        const int32_t pos = s.pos + static_cast<int32_t>(s.tokens.size()) - 1;
        scribble(s.block_table[static_cast<size_t>(pos / 16)], pos % 16);
        return std::span<const float>(row_);
    }
    int64_t n_vocab() const override { return inner_->n_vocab(); }
    bool is_batch_invariant() const override { return true; }
    Status check_reference_path() const override { return inner_->check_reference_path(); }
    Result<std::span<const float>> run_reference(const sched::ScheduledSeq& seq) override {
        return inner_->run_reference(seq);
    }
    Status commit_reference() override { return commit_ == Commit::kHonoured ? inner_->commit_reference() : Status(); }

private:
    void scribble(kvcache::BlockId block, int32_t slot) {
        kvcache::KvStorage& kv = inner_->storage();
        const kvcache::KvCacheLayout& lay = kv.layout();
        for (int32_t l = 0; l < lay.n_layers; ++l) {
            for (int32_t h = 0; h < lay.n_kv_heads; ++h) {
                for (std::byte* tile : {kv.k(block, l, h), kv.v(block, l, h)}) {
                    float* row = reinterpret_cast<float*>(tile + static_cast<size_t>(slot) * lay.row_bytes());
                    for (int32_t i = 0; i < lay.head_dim; ++i) {
                        row[i] = 40.0f * static_cast<float>((i % 3) - 1);
                    }
                }
            }
        }
    }

    std::unique_ptr<runner::Runner> inner_;
    int drift_step_;
    Commit commit_;
    int n_steps_ = 0;
    std::vector<float> row_;
};

struct Output {
    std::vector<StepTrace> steps;
    double overrides = -1.0;
};

// One greedy request of 16 tokens through an engine over `runner`.
Output generate(Loaded& f, const EngineConfig& config, std::unique_ptr<runner::StepRunner> runner) {
    Output o;
    auto e = Engine::create(*f.model, *f.tok, config, std::move(runner));
    EXPECT_TRUE(e.has_value()) << e.error().to_string();
    if (!e.has_value()) {
        return o;
    }
    EngineRequest r;
    r.prompt = {1, 5, 9, 14, 3, 8};
    r.params.max_tokens = 16;
    r.params.temperature = 0.0f;
    r.params.ignore_eos = true;
    r.on_trace = [&o](const StepTrace& t) {
        o.steps.push_back(t);
    };
    auto info = (*e)->generate(std::move(r));
    EXPECT_TRUE(info.has_value()) << info.error().to_string();
    const std::string text = (*e)->metrics_text();
    const std::string key = "\ngannet_margin_overrides_total ";
    o.overrides = std::stod(text.substr(text.find(key) + key.size()));
    return o;
}

std::unique_ptr<runner::StepRunner> drifting(Loaded& f, int drift_step, Commit commit) {
    auto r = runner::Runner::create(*f.model, {.n_blocks = 32, .block_size = 16});
    EXPECT_TRUE(r.has_value());
    return std::make_unique<DriftingRunner>(std::move(*r), drift_step, commit);
}

std::vector<int32_t> tokens(const Output& o) {
    std::vector<int32_t> t;
    for (const StepTrace& s : o.steps) {
        t.push_back(s.token);
    }
    return t;
}

TEST(MarginGateEngineTest, ADisagreementEmitsTheReferenceTokenAndReplacesTheDriftedKv) {
    Loaded f = load(source_dir() + "/tests/fixtures/models/llama-f32.gguf");
    constexpr int kDriftStep = 4;  // step 1 prefills; step 4 samples the 4th token
    const Output clean = generate(f, small_config(Determinism::kOff, 0.0f), drifting(f, -1, Commit::kHonoured));
    ASSERT_EQ(clean.steps.size(), 16u);

    // Control: unverified, the drift changes the output.
    const Output off = generate(f, small_config(Determinism::kOff, 0.0f), drifting(f, kDriftStep, Commit::kHonoured));
    EXPECT_NE(tokens(off), tokens(clean));
    EXPECT_NE(off.steps[kDriftStep - 1].token, clean.steps[kDriftStep - 1].token);

    // The gate (tau far above any margin, so the drifted row is verified): the clean output.
    const float tau = 1e30f;
    const Output gated =
        generate(f, small_config(Determinism::kMargin, tau), drifting(f, kDriftStep, Commit::kHonoured));
    EXPECT_EQ(tokens(gated), tokens(clean));
    ASSERT_EQ(gated.steps.size(), 16u);
    EXPECT_TRUE(gated.steps[kDriftStep - 1].is_verified);
    EXPECT_TRUE(gated.steps[kDriftStep - 1].is_overridden);
    EXPECT_GT(gated.steps[kDriftStep - 1].ref_max_abs_diff, 0.0f);  // the two swapped logits
    EXPECT_EQ(gated.steps[0].ref_max_abs_diff, 0.0f);
    EXPECT_EQ(gated.overrides, 1.0);
    for (size_t i = 0; i < gated.steps.size(); ++i) {
        EXPECT_TRUE(gated.steps[i].is_verified) << i;
        EXPECT_EQ(gated.steps[i].is_overridden, static_cast<int>(i) == kDriftStep - 1) << i;
    }

    // The same override without its K/V write: the token at the drift is right, later ones are not.
    const Output no_kv =
        generate(f, small_config(Determinism::kMargin, tau), drifting(f, kDriftStep, Commit::kSkipped));
    ASSERT_EQ(no_kv.steps.size(), 16u);
    EXPECT_EQ(no_kv.steps[kDriftStep - 1].token, clean.steps[kDriftStep - 1].token);
    EXPECT_NE(tokens(no_kv), tokens(clean)) << "the drifted K/V column does not matter to this model";
}

TEST(MarginGateEngineTest, BelowTauOnlyIsVerified) {
    Loaded f = load(source_dir() + "/tests/fixtures/models/llama-f32.gguf");
    const Output all = generate(f, small_config(Determinism::kAlways, 0.0f), drifting(f, -1, Commit::kHonoured));
    ASSERT_EQ(all.steps.size(), 16u);
    std::vector<float> margins;
    for (const StepTrace& s : all.steps) {
        EXPECT_TRUE(s.is_verified);
        margins.push_back(s.margin);
    }
    std::vector<float> sorted = margins;
    std::sort(sorted.begin(), sorted.end());
    const float tau = sorted[8];  // about half the rows fall below it
    const Output half = generate(f, small_config(Determinism::kMargin, tau), drifting(f, -1, Commit::kHonoured));
    ASSERT_EQ(half.steps.size(), 16u);
    EXPECT_EQ(tokens(half), tokens(all));
    for (size_t i = 0; i < half.steps.size(); ++i) {
        EXPECT_EQ(half.steps[i].is_verified, margins[i] < tau) << i << " margin " << margins[i];
    }
}

TEST(MarginGateEngineTest, ShippedModelMarginIsIdenticalAtBatchOneAndSixteen) {
    Loaded f = load(source_dir() + "/models/gannet-default.gguf");
    EngineConfig c;
    c.n_ctx = 96;
    c.n_kv_blocks = 16 * 6 + 8;
    c.determinism = Determinism::kMargin;
    c.margin_tau = 1.0f;  // about half of this model's greedy rows (its margins are small)
    auto e = Engine::create(*f.model, *f.tok, c);
    ASSERT_TRUE(e.has_value()) << e.error().to_string();
    std::vector<std::vector<int32_t>> prompts;
    for (const char* p :
         {"Once upon a time", "The package manager installs", "To configure the network, edit",
          "The kernel module is loaded when", "Debian is a free operating system that", "The server listens on port",
          "Security updates are published by", "To report a bug, send an email to"}) {
        prompts.push_back(tokenizer::encode_prompt(*f.tok, p, tokenizer::PromptKind::kPlain));
    }
    auto rep = run_determinism_bench(**e, prompts, {.batch_sizes = {16}, .max_tokens = 12});
    ASSERT_TRUE(rep.has_value()) << rep.error().to_string();
    ASSERT_EQ(rep->batches.size(), 2u);
    const BatchSizeResult& b16 = rep->batches[1];
    EXPECT_EQ(b16.batch_size, 16);
    EXPECT_EQ(b16.n_identical, 8) << rep->json();
    EXPECT_EQ(b16.n_flips, 0) << rep->json();
    EXPECT_EQ(b16.n_rows, 16 * 12);  // one batch: the 8 prompts and 8 random fillers
    EXPECT_GT(b16.n_verified, 0) << rep->json();
    EXPECT_LT(b16.n_verified, b16.n_rows) << rep->json();
    EXPECT_EQ(b16.n_steps_compared, 8 * 12);
    // The CPU forward is batch-invariant: every verified row's reference equals it bit for bit.
    EXPECT_EQ(b16.max_ref_diff, 0.0f) << rep->json();
}

// A runner with StepRunner's defaults: no reference path, not batch-invariant.
class PlainRunner final : public runner::StepRunner {
public:
    explicit PlainRunner(std::unique_ptr<runner::Runner> inner) : inner_(std::move(inner)) {}
    Result<std::span<const float>> run(const sched::SchedulerOutput& out) override { return inner_->run(out); }
    int64_t n_vocab() const override { return inner_->n_vocab(); }

private:
    std::unique_ptr<runner::Runner> inner_;
};

TEST(MarginGateEngineTest, WhatTheEngineCannotGiveIsRefused) {
    Loaded f = load(source_dir() + "/tests/fixtures/models/llama-f32.gguf");
    auto plain = [&f] {
        auto r = runner::Runner::create(*f.model, {.n_blocks = 32, .block_size = 16});
        EXPECT_TRUE(r.has_value());
        return std::make_unique<PlainRunner>(std::move(*r));
    };
    auto bad = Engine::create(*f.model, *f.tok, small_config(Determinism::kMargin, 1.0f), plain());
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error().code(), ErrorCode::kUnimplemented);
    EXPECT_NE(bad.error().message().find("engine: deterministic margin: runner: this runner has no reference path"),
              std::string::npos)
        << bad.error().message();
    auto neg = Engine::create(*f.model, *f.tok, small_config(Determinism::kMargin, -1.0f));
    ASSERT_FALSE(neg.has_value());
    EXPECT_NE(neg.error().message().find("margin tau must be a finite number >= 0, got -1"), std::string::npos);

    auto e = Engine::create(*f.model, *f.tok, small_config(Determinism::kOff, 1.0f), plain());
    ASSERT_TRUE(e.has_value());
    EngineRequest r;
    r.prompt = {1, 2, 3};
    r.params.max_tokens = 2;
    r.params.temperature = 0.0f;
    r.params.determinism = Determinism::kMargin;
    auto h = (*e)->submit(r);
    ASSERT_FALSE(h.has_value());
    EXPECT_EQ(h.error().code(), ErrorCode::kUnimplemented);
    EXPECT_NE(h.error().message().find("deterministic: 'margin': runner: this runner has no reference path"),
              std::string::npos)
        << h.error().message();
    r.params.determinism = Determinism::kInvariant;
    h = (*e)->submit(r);
    ASSERT_FALSE(h.has_value());
    EXPECT_EQ(h.error().message(),
              "deterministic: 'invariant' on this device needs a server started with --deterministic invariant (it "
              "is 'off')");

    // On the CPU runner: margin needs greedy decoding.
    auto cpu = Engine::create(*f.model, *f.tok, small_config(Determinism::kOff, 1.0f));
    ASSERT_TRUE(cpu.has_value());
    r.params.determinism = Determinism::kAlways;
    r.params.temperature = 0.5f;
    h = (*cpu)->submit(r);
    ASSERT_FALSE(h.has_value());
    EXPECT_EQ(h.error().message(), "deterministic: 'always' verifies greedy decoding and needs temperature 0, got 0.5");
    r.params.temperature = 0.0f;
    EXPECT_TRUE((*cpu)->generate(r).has_value());
}

}  // namespace
}  // namespace gannet::engine
