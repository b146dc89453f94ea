#include "sched/scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <vector>

#include "sched/scheduler_test_util.h"

namespace gannet::sched {
namespace {

using testing::expected_tokens;
using testing::sample;

std::vector<TokenId> iota_tokens(int32_t n, TokenId first) {
    std::vector<TokenId> t(static_cast<size_t>(n));
    std::iota(t.begin(), t.end(), first);
    return t;
}

SchedulerConfig config(int32_t n_blocks, int32_t block_size, int32_t max_batch_tokens) {
    SchedulerConfig c;
    c.max_batch_tokens = max_batch_tokens;
    c.blocks = {.n_blocks = n_blocks, .block_size = block_size};
    return c;
}

Scheduler make(int32_t n_blocks, int32_t block_size, int32_t max_batch_tokens) {
    return Scheduler::create(config(n_blocks, block_size, max_batch_tokens)).value();
}

SeqId add(Scheduler& s, std::vector<TokenId> prompt, int32_t max_new_tokens, int64_t deadline_ms = kNoDeadline) {
    return s.add_request({.prompt = std::move(prompt), .max_new_tokens = max_new_tokens, .deadline_ms = deadline_ms})
        .value();
}

// One engine iteration with the fake model; returns the step's output copied out of the views.
struct StepSummary {
    std::vector<SeqId> ids;
    std::vector<int32_t> n_tokens;
    std::vector<int32_t> pos;
    std::vector<bool> is_logits_needed;
    size_t n_copies = 0;
    std::vector<SeqId> preempted;
    std::vector<AbortedSeq> aborted;
    int32_t n_tokens_total = 0;
};

StepSummary run_step(Scheduler& s, int64_t now_ms = 0, std::map<SeqId, std::vector<TokenId>>* finished = nullptr) {
    const SchedulerOutput& out = s.step(now_ms);
    StepSummary r;
    for (const ScheduledSeq& e : out.seqs) {
        r.ids.push_back(e.seq_id);
        r.n_tokens.push_back(static_cast<int32_t>(e.tokens.size()));
        r.pos.push_back(e.pos);
        r.is_logits_needed.push_back(e.is_logits_needed);
    }
    r.n_copies = out.block_copies.size();
    r.preempted = out.preempted;
    r.aborted = out.aborted;
    r.n_tokens_total = out.n_tokens;
    std::vector<SampledToken> sampled = sample(s, out, finished);
    s.on_step_done(sampled);
    EXPECT_TRUE(s.verify().ok()) << s.verify().to_string();
    return r;
}

TEST(SchedulerTest, CreateRejectsBadConfig) {
    EXPECT_EQ(Scheduler::create(config(8, 4, 0)).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(Scheduler::create(config(0, 4, 8)).error().code(), ErrorCode::kInvalidArgument);
    SchedulerConfig c = config(8, 4, 8);
    c.n_blocks_watermark = 8;
    EXPECT_EQ(Scheduler::create(c).error().code(), ErrorCode::kInvalidArgument);
    c = config(8, 4, 8);
    c.max_running_seqs = 0;
    EXPECT_EQ(Scheduler::create(c).error().code(), ErrorCode::kInvalidArgument);
}

TEST(SchedulerTest, AddRequestRejectsWhatCanNeverRun) {
    Scheduler s = make(2, 4, 64);
    EXPECT_EQ(s.add_request({.prompt = {}}).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(s.add_request({.prompt = {1}, .max_new_tokens = 0}).error().code(), ErrorCode::kInvalidArgument);
    Result<SeqId> r = s.add_request({.prompt = iota_tokens(4, 0), .max_new_tokens = 5});  // 9 tokens > 8 slots
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kResourceExhausted);
    EXPECT_NE(r.error().message().find("the kv cache holds 8"), std::string::npos) << r.error().message();
    EXPECT_TRUE(s.add_request({.prompt = iota_tokens(4, 0), .max_new_tokens = 4}).has_value());
}

TEST(SchedulerTest, PrefillsThePromptThenDecodesOneTokenPerStep) {
    Scheduler s = make(16, 4, 64);
    const std::vector<TokenId> prompt = iota_tokens(10, 0);
    const SeqId id = add(s, prompt, 3);

    const SchedulerOutput& out = s.step(0);
    ASSERT_EQ(out.seqs.size(), 1u);
    EXPECT_EQ(out.seqs[0].seq_id, id);
    EXPECT_TRUE(std::ranges::equal(out.seqs[0].tokens, prompt));
    EXPECT_EQ(out.seqs[0].pos, 0);
    EXPECT_EQ(out.seqs[0].block_table.size(), 3u);
    EXPECT_TRUE(out.seqs[0].is_logits_needed);
    s.on_step_done(std::vector<SampledToken>{{id, 42, false}});

    const SchedulerOutput& out2 = s.step(0);
    ASSERT_EQ(out2.seqs.size(), 1u);
    EXPECT_EQ(out2.seqs[0].pos, 10);
    ASSERT_EQ(out2.seqs[0].tokens.size(), 1u);
    EXPECT_EQ(out2.seqs[0].tokens[0], 42);  // the decode computes the token just sampled
    EXPECT_TRUE(out2.seqs[0].is_logits_needed);
    s.on_step_done(std::vector<SampledToken>{{id, 43, false}});
    s.step(0);
    s.on_step_done(std::vector<SampledToken>{{id, 44, true}});

    EXPECT_EQ(s.find(id), nullptr);
    EXPECT_FALSE(s.has_work());
    EXPECT_EQ(s.metrics().n_finished, 1);
    EXPECT_EQ(s.metrics().n_blocks_active, 0);
    EXPECT_EQ(s.metrics().n_blocks_cached, 3);  // 12 computed tokens: 3 full blocks stay cached
}

TEST(SchedulerTest, PrefillIsChunkedUnderTheTokenBudget) {
    Scheduler s = make(32, 4, 8);
    const SeqId a = add(s, iota_tokens(20, 0), 4);
    const SeqId b = add(s, iota_tokens(5, 100), 4);

    StepSummary r1 = run_step(s);
    EXPECT_EQ(r1.ids, std::vector<SeqId>{a});
    EXPECT_EQ(r1.n_tokens, std::vector<int32_t>{8});
    EXPECT_EQ(r1.is_logits_needed, std::vector<bool>{false});
    StepSummary r2 = run_step(s);
    EXPECT_EQ(r2.pos, std::vector<int32_t>{8});
    StepSummary r3 = run_step(s);  // a's last 4 tokens, then b's first 4
    EXPECT_EQ(r3.ids, (std::vector<SeqId>{a, b}));
    EXPECT_EQ(r3.n_tokens, (std::vector<int32_t>{4, 4}));
    EXPECT_EQ(r3.is_logits_needed, (std::vector<bool>{true, false}));
    for (int i = 0; i < 20 && s.has_work(); ++i) {
        EXPECT_LE(run_step(s).n_tokens_total, 8);
    }
    EXPECT_FALSE(s.has_work());
}

// An image's tokens see each other: a chunk ends before a span it would cut, unless the span starts
// the chunk and is longer than the budget.
TEST(SchedulerTest, PrefillChunksKeepWholeSpansWhole) {
    Scheduler s = make(64, 4, 8);
    const SeqId a =
        s.add_request({.prompt = iota_tokens(30, 0), .max_new_tokens = 2, .whole_spans = {{5, 10}, {12, 24}}}).value();
    EXPECT_EQ(run_step(s).n_tokens, std::vector<int32_t>{5});  // 8 would cut [5, 10)
    StepSummary r2 = run_step(s);
    EXPECT_EQ(r2.pos, std::vector<int32_t>{5});
    EXPECT_EQ(r2.n_tokens, std::vector<int32_t>{7});  // [5, 10) whole, then up to the next span
    StepSummary r3 = run_step(s);
    EXPECT_EQ(r3.pos, std::vector<int32_t>{12});
    EXPECT_EQ(r3.n_tokens, std::vector<int32_t>{8});  // [12, 24) is longer than the budget: cut
    for (int i = 0; i < 10 && s.has_work(); ++i) {
        run_step(s);
    }
    EXPECT_FALSE(s.has_work());
    EXPECT_EQ(s.find(a), nullptr);
}

TEST(SchedulerTest, DecodesComeBeforePrefillChunks) {
    Scheduler s = make(32, 4, 4);
    const SeqId a = add(s, iota_tokens(3, 0), 8);
    run_step(s);  // a prefilled
    const SeqId b = add(s, iota_tokens(30, 100), 2);
    StepSummary r = run_step(s);
    EXPECT_EQ(r.ids, (std::vector<SeqId>{a, b}));
    EXPECT_EQ(r.n_tokens, (std::vector<int32_t>{1, 3}));  // the decode first, the budget's rest to b
    StepSummary r2 = run_step(s);
    EXPECT_EQ(r2.ids, (std::vector<SeqId>{a, b}));
    EXPECT_EQ(r2.pos, (std::vector<int32_t>{4, 3}));
}

TEST(SchedulerTest, SharedPromptHitsThePrefixCache) {
    Scheduler s = make(32, 16, 256);
    std::vector<TokenId> system = iota_tokens(32, 500);
    std::vector<TokenId> pa = system, pb = system;
    pa.insert(pa.end(), {1, 2, 3});
    pb.insert(pb.end(), {7, 8, 9, 10});
    const SeqId a = add(s, pa, 4);
    run_step(s);  // a's prompt computed: its two full blocks are committed
    const SeqId b = add(s, pb, 4);
    StepSummary r = run_step(s);
    ASSERT_EQ(r.ids, (std::vector<SeqId>{a, b}));
    EXPECT_EQ(r.pos[1], 32);  // b computes only its own 4 tokens
    EXPECT_EQ(r.n_tokens[1], 4);
    EXPECT_EQ(s.find(b)->n_tokens_cached, 32);
    EXPECT_EQ(s.find(a)->n_tokens_cached, 0);
    EXPECT_EQ(s.metrics().n_tokens_prefix_hit, 32);
}

TEST(SchedulerTest, FullyCachedPromptRecomputesOnlyItsLastToken) {
    Scheduler s = make(32, 16, 256);
    const std::vector<TokenId> prompt = iota_tokens(32, 7);
    add(s, prompt, 1);
    run_step(s);  // prefilled and finished at once
    const SeqId b = add(s, prompt, 2);
    StepSummary r = run_step(s);
    ASSERT_EQ(r.ids, std::vector<SeqId>{b});
    EXPECT_EQ(r.pos, std::vector<int32_t>{31});
    EXPECT_EQ(r.n_tokens, std::vector<int32_t>{1});
    EXPECT_EQ(r.n_copies, 1u);  // the shared last block is copied before its last slot is rewritten
    EXPECT_EQ(s.find(b)->n_tokens_cached, 31);
}

TEST(SchedulerTest, PreemptsTheYoungestWhenBlocksRunOut) {
    // 4 blocks of 4: a and b each hold 2 blocks after an 8-token prompt; their first decodes need a 3rd.
    Scheduler s = make(4, 4, 64);
    const SeqId a = add(s, iota_tokens(8, 0), 4);
    const SeqId b = add(s, iota_tokens(8, 100), 4);
    run_step(s);
    std::map<SeqId, std::vector<TokenId>> finished;
    StepSummary r = run_step(s, 0, &finished);
    EXPECT_EQ(r.preempted, std::vector<SeqId>{b});
    EXPECT_EQ(r.ids, std::vector<SeqId>{a});
    EXPECT_EQ(s.find(b)->state, SeqState::kWaiting);
    EXPECT_EQ(s.find(b)->n_tokens_computed, 0);
    EXPECT_EQ(s.metrics().n_preemptions, 1);
    EXPECT_EQ(s.n_waiting(), 1);
    for (int i = 0; i < 50 && s.has_work(); ++i) {
        run_step(s, 0, &finished);
    }
    ASSERT_FALSE(s.has_work());
    // b resumed from its prompt and the token it had sampled before preemption.
    EXPECT_EQ(finished[a], expected_tokens(iota_tokens(8, 0), 4));
    EXPECT_EQ(finished[b], expected_tokens(iota_tokens(8, 100), 4));
    EXPECT_EQ(s.metrics().n_blocks_active, 0);
}

TEST(SchedulerTest, PreemptionAndResumeGiveTheSameTokensAndAccounting) {
    // The same 12 requests (distinct prompts) through a roomy cache (no preemption) and a tight one.
    struct Run {
        std::map<SeqId, std::vector<TokenId>> finished;
        SchedulerMetrics metrics;
        int64_t n_tokens_lost = 0;  // computed tokens thrown away by preemptions
    };
    auto run = [](int32_t n_blocks) {
        Run r;
        Scheduler s = make(n_blocks, 4, 32);
        for (int i = 0; i < 12; ++i) {
            add(s, iota_tokens(5 + 3 * i, 1000 * i), 6 + i);
        }
        std::map<SeqId, int32_t> n_computed;  // as of the end of the last step
        int64_t n_scheduled = 0;
        for (int i = 0; i < 2000 && s.has_work(); ++i) {
            StepSummary step = run_step(s, 0, &r.finished);
            n_scheduled += step.n_tokens_total;
            for (SeqId id : step.preempted) {
                r.n_tokens_lost += n_computed[id];
            }
            for (SeqId id = 1; id <= 12; ++id) {
                n_computed[id] = s.find(id) != nullptr ? s.find(id)->n_tokens_computed : 0;
            }
        }
        EXPECT_FALSE(s.has_work());
        r.metrics = s.metrics();
        EXPECT_EQ(r.metrics.n_tokens_computed, n_scheduled);
        return r;
    };
    Run roomy = run(256);
    Run tight = run(14);  // the longest request needs all 14 blocks
    EXPECT_EQ(roomy.metrics.n_preemptions, 0);
    EXPECT_GT(tight.metrics.n_preemptions, 0);
    ASSERT_EQ(roomy.finished.size(), 12u);
    EXPECT_EQ(roomy.finished, tight.finished);
    for (int i = 0; i < 12; ++i) {
        EXPECT_EQ(roomy.finished[i + 1], expected_tokens(iota_tokens(5 + 3 * i, 1000 * i), 6 + i));
    }
    // Every token but each sequence's last sampled one is computed once, plus what preemption threw
    // away, minus what re-admission found in the prefix cache.
    int64_t n_once = 0;
    for (const auto& [id, tokens] : roomy.finished) {
        n_once += static_cast<int64_t>(tokens.size()) - 1;
    }
    EXPECT_EQ(roomy.metrics.n_tokens_computed, n_once);
    EXPECT_EQ(roomy.metrics.n_tokens_prefix_hit, 0);
    EXPECT_GT(tight.n_tokens_lost, 0);
    EXPECT_GT(tight.metrics.n_tokens_prefix_hit, 0);  // resumed sequences found their own blocks
    EXPECT_EQ(tight.metrics.n_tokens_computed, n_once + tight.n_tokens_lost - tight.metrics.n_tokens_prefix_hit);
    EXPECT_EQ(tight.metrics.n_finished, 12);
    EXPECT_EQ(tight.metrics.n_blocks_active, 0);
}

TEST(SchedulerTest, CancellationFreesBlocksAtTheNextStep) {
    Scheduler s = make(16, 4, 64);
    const SeqId a = add(s, iota_tokens(10, 0), 8);
    const SeqId b = add(s, iota_tokens(10, 50), 8);
    run_step(s);
    const SeqId c = add(s, iota_tokens(10, 90), 8);  // still waiting when cancelled
    EXPECT_GT(s.metrics().n_blocks_active, 0);
    ASSERT_TRUE(s.cancel(a).ok());
    ASSERT_TRUE(s.cancel(c).ok());
    const int32_t active_b = static_cast<int32_t>(s.find(b)->table.n_blocks());

    StepSummary r = run_step(s);
    ASSERT_EQ(r.aborted.size(), 2u);
    EXPECT_EQ(r.aborted[0].seq_id, a);
    EXPECT_EQ(r.aborted[0].status.code(), ErrorCode::kCancelled);
    EXPECT_EQ(r.aborted[1].seq_id, c);
    EXPECT_EQ(r.ids, std::vector<SeqId>{b});
    EXPECT_EQ(s.find(a), nullptr);
    EXPECT_EQ(s.metrics().n_blocks_active, active_b + 0);  // b's blocks (its decode fit its last block)
    EXPECT_EQ(s.metrics().n_cancelled, 2);
    EXPECT_EQ(s.cancel(a).code(), ErrorCode::kNotFound);
}

TEST(SchedulerTest, CancelBetweenStepAndDoneIsSafe) {
    Scheduler s = make(16, 4, 64);
    const SeqId a = add(s, iota_tokens(6, 0), 8);
    const SchedulerOutput& out = s.step(0);
    ASSERT_TRUE(s.cancel(a).ok());
    s.on_step_done(sample(s, out));
    EXPECT_NE(s.find(a), nullptr);
    StepSummary r = run_step(s);
    ASSERT_EQ(r.aborted.size(), 1u);
    EXPECT_TRUE(r.ids.empty());
    EXPECT_EQ(s.metrics().n_blocks_active, 0);
    EXPECT_EQ(s.metrics().n_blocks_cached, 1);  // its one computed full block stays reusable
}

TEST(SchedulerTest, DeadlinesAbortWaitingAndRunningSequences) {
    Scheduler s = make(2, 4, 64);
    const SeqId a = add(s, iota_tokens(5, 0), 3, /*deadline_ms=*/100);
    const SeqId b = add(s, iota_tokens(5, 10), 3, /*deadline_ms=*/150);  // waits: a holds the cache
    const SeqId c = add(s, iota_tokens(5, 20), 3);
    StepSummary r1 = run_step(s, /*now_ms=*/50);
    EXPECT_EQ(r1.ids, std::vector<SeqId>{a});
    StepSummary r2 = run_step(s, /*now_ms=*/100);
    ASSERT_EQ(r2.aborted.size(), 1u);
    EXPECT_EQ(r2.aborted[0].seq_id, a);
    EXPECT_EQ(r2.aborted[0].status.code(), ErrorCode::kDeadlineExceeded);
    EXPECT_EQ(r2.ids, std::vector<SeqId>{b});  // a's blocks went to b in the same step
    StepSummary r3 = run_step(s, /*now_ms=*/200);
    ASSERT_EQ(r3.aborted.size(), 1u);
    EXPECT_EQ(r3.aborted[0].seq_id, b);
    EXPECT_EQ(r3.ids, std::vector<SeqId>{c});
    EXPECT_EQ(s.metrics().n_deadline_exceeded, 2);
}

TEST(SchedulerTest, AdmissionIsFifoWithoutOvertaking) {
    Scheduler s = make(6, 4, 64);
    const SeqId a = add(s, iota_tokens(12, 0), 4);   // 3 blocks
    const SeqId b = add(s, iota_tokens(16, 50), 4);  // 4 blocks: cannot start while a runs
    const SeqId c = add(s, iota_tokens(2, 90), 2);   // would fit, but must not overtake b
    StepSummary r = run_step(s);
    EXPECT_EQ(r.ids, std::vector<SeqId>{a});
    EXPECT_EQ(s.find(b)->state, SeqState::kWaiting);
    EXPECT_EQ(s.find(c)->state, SeqState::kWaiting);
    EXPECT_EQ(s.n_waiting(), 2);
}

TEST(SchedulerTest, MaxRunningSeqsAndWatermarkLimitAdmission) {
    SchedulerConfig c = config(16, 4, 64);
    c.max_running_seqs = 2;
    Scheduler s = Scheduler::create(c).value();
    for (int i = 0; i < 3; ++i) {
        add(s, iota_tokens(4, 10 * i), 4);
    }
    EXPECT_EQ(run_step(s).ids.size(), 2u);

    SchedulerConfig w = config(4, 4, 64);
    w.n_blocks_watermark = 2;
    Scheduler t = Scheduler::create(w).value();
    add(t, iota_tokens(6, 0), 2);  // 2 blocks: admitted alone despite the watermark
    add(t, iota_tokens(3, 9), 2);  // 1 block, but would leave 1 < 2 available
    EXPECT_EQ(run_step(t).ids.size(), 1u);
}

TEST(SchedulerTest, LongPromptAloneUsesTheWholeCache) {
    Scheduler s = make(3, 4, 5);
    const SeqId a = add(s, iota_tokens(10, 0), 2);
    std::map<SeqId, std::vector<TokenId>> finished;
    for (int i = 0; i < 10 && s.has_work(); ++i) {
        run_step(s, 0, &finished);
    }
    EXPECT_EQ(finished[a], expected_tokens(iota_tokens(10, 0), 2));
}

TEST(SchedulerDeathTest, StepTwiceWithoutDoneIsABug) {
    Scheduler s = make(4, 4, 8);
    add(s, iota_tokens(3, 0), 2);
    (void)s.step(0);
    EXPECT_DEATH((void)s.step(0), "check failed");
}

TEST(SchedulerDeathTest, MissingOrStraySampledTokensAreBugs) {
    Scheduler s = make(8, 4, 4);
    const SeqId a = add(s, iota_tokens(8, 0), 2);
    (void)s.step(0);  // a's first chunk: no logits yet
    EXPECT_DEATH(s.on_step_done(std::vector<SampledToken>{{a, 1, false}}), "check failed");
    s.on_step_done({});
    (void)s.step(0);  // a's last chunk: one token expected
    EXPECT_DEATH(s.on_step_done({}), "check failed");
}

// The length stop is the scheduler's: the token that reaches max_new_tokens ends the sequence even
// though the engine did not finish it, and on_step_done says which sequences ended that way.
TEST(SchedulerTest, ReachingMaxNewTokensIsALengthStop) {
    Scheduler s = make(8, 4, 64);
    const SeqId a = add(s, iota_tokens(3, 0), 2);
    const SeqId b = add(s, iota_tokens(3, 10), 1);
    (void)s.step(0);
    std::span<const SeqId> stopped = s.on_step_done(std::vector<SampledToken>{{a, 1, false}, {b, 1, false}});
    ASSERT_EQ(stopped.size(), 1u);
    EXPECT_EQ(stopped[0], b);
    EXPECT_EQ(s.find(b), nullptr);
    ASSERT_NE(s.find(a), nullptr);
    (void)s.step(0);
    stopped = s.on_step_done(std::vector<SampledToken>{{a, 2, false}});
    ASSERT_EQ(stopped.size(), 1u);
    EXPECT_EQ(stopped[0], a);
    EXPECT_FALSE(s.has_work());
    EXPECT_EQ(s.metrics().n_finished, 2);
    // A sequence its sampler finishes on its last allowed token is a stop, not a length stop.
    const SeqId c = add(s, iota_tokens(3, 20), 1);
    (void)s.step(0);
    EXPECT_TRUE(s.on_step_done(std::vector<SampledToken>{{c, 1, true}}).empty());
}

}  // namespace
}  // namespace gannet::sched
