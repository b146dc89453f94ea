#include "bench/stats.h"

#include <gtest/gtest.h>

#include <cmath>

#include "bench/report.h"

namespace gannet::bench {
namespace {

TEST(PercentileTest, InterpolatesBetweenClosestRanksLikeNumpy) {
    const std::vector<double> v = {4, 1, 3, 2};  // sorted: 1 2 3 4
    EXPECT_DOUBLE_EQ(percentile(v, 0), 1.0);
    EXPECT_DOUBLE_EQ(percentile(v, 50), 2.5);
    EXPECT_DOUBLE_EQ(percentile(v, 90), 3.7);  // rank 2.7
    EXPECT_DOUBLE_EQ(percentile(v, 100), 4.0);
    EXPECT_DOUBLE_EQ(percentile({7}, 99), 7.0);
    EXPECT_TRUE(std::isnan(percentile({}, 50)));
}

TEST(PercentileTest, InfinityStaysInfinityNotNan) {
    const double inf = std::numeric_limits<double>::infinity();
    EXPECT_EQ(percentile({1, inf, inf}, 100), inf);
    EXPECT_EQ(percentile({1, inf}, 90), inf);
    EXPECT_DOUBLE_EQ(percentile({1, 2, inf}, 50), 2.0);
}

// A step with n tokens spread evenly over decode_ms after a TTFT.
StepSample step(double ttft_ms, int64_t n_tokens, double decode_ms, bool has_usage = true) {
    StepSample s;
    s.ttft_ms = ttft_ms;
    s.n_chunks = n_tokens;
    s.decode_ms = decode_ms;
    s.n_tokens_usage = has_usage ? n_tokens : -1;
    s.e2e_ms = ttft_ms + decode_ms;
    for (int64_t i = 1; i < n_tokens; ++i) {
        s.itl_ms.push_back(static_cast<float>(decode_ms / (n_tokens - 1)));
    }
    return s;
}

TEST(SloTest, AgentMeetsSloWhenNinetyPercentOfRequestsAreFastEnough) {
    SloConfig slo;                                         // 20 tok/s, TTFT 10 s, p90
    std::vector<StepSample> fast(10, step(100, 11, 250));  // 10 gaps in 250 ms = 40 tok/s
    EXPECT_TRUE(evaluate_agent(fast, 0, slo).meets);
    EXPECT_NEAR(evaluate_agent(fast, 0, slo).tok_s, 40.0, 1e-9);

    std::vector<StepSample> some_slow = fast;
    some_slow[0] = step(100, 11, 1000);  // 10 tok/s
    some_slow[1] = step(100, 11, 1000);
    EXPECT_FALSE(evaluate_agent(some_slow, 0, slo).meets);  // 2 of 10 slow: p10 speed < 20

    std::vector<StepSample> late = fast;
    late[0] = step(20000, 11, 250);
    late[1] = step(20000, 11, 250);
    EXPECT_FALSE(evaluate_agent(late, 0, slo).meets);  // p90 TTFT over 10 s
}

TEST(SloTest, ErrorsOrNoRequestsFailTheAgent) {
    SloConfig slo;
    std::vector<StepSample> fast(5, step(100, 11, 250));
    EXPECT_FALSE(evaluate_agent(fast, 1, slo).meets);
    EXPECT_FALSE(evaluate_agent({}, 0, slo).meets);
    // Only one-token answers: no speed to measure, so TTFT decides.
    EXPECT_TRUE(evaluate_agent(std::vector<StepSample>(3, step(100, 1, 0)), 0, slo).meets);
    EXPECT_TRUE(std::isnan(evaluate_agent(std::vector<StepSample>(3, step(100, 1, 0)), 0, slo).tok_s));
    EXPECT_FALSE(evaluate_agent(std::vector<StepSample>(3, step(20000, 1, 0)), 0, slo).meets);
}

TEST(SummaryTest, TokensCountedEqualTokensReceived) {
    ReplayResult run;
    run.wall_s = 2.0;
    run.agents.resize(2);
    run.agents[0].samples = {step(100, 11, 250), step(120, 21, 500)};
    run.agents[1].samples = {step(900, 5, 1000, /*has_usage=*/false)};
    run.agents[1].samples[0].n_chunks = 5;
    LevelReport r = summarize(run, SloConfig{});
    EXPECT_EQ(r.n_steps, 3);
    EXPECT_EQ(r.n_tokens_completion, 11 + 21 + 5);
    EXPECT_EQ(r.n_chunks, 11 + 21 + 5);
    EXPECT_EQ(r.completion_tokens_source(), "mixed");
    EXPECT_EQ(r.agents_meeting_slo, 1);  // agent 1 decodes at 4 tok/s
    EXPECT_DOUBLE_EQ(r.throughput_tok_s, 37 / 2.0);
    EXPECT_DOUBLE_EQ(r.goodput_tok_s, 32 / 2.0);
    EXPECT_DOUBLE_EQ(r.ttft_ms.p50, 120);
    EXPECT_DOUBLE_EQ(r.tpot_ms.p50, 25);
    const nlohmann::json j = level_json(r);
    EXPECT_EQ(j["completion_tokens"], 37);
    EXPECT_EQ(j["agents"], 2);
    EXPECT_TRUE(j["power_w"].is_null());
    EXPECT_TRUE(j["cached_prompt_tokens"].is_null());
}

TEST(SummaryTest, StepMaxTokensIsTheRecordedOutputCapped) {
    TrajectoryStep s;
    s.n_tokens_output = 246;
    s.n_tokens_output_est = 58;
    EXPECT_EQ(step_max_tokens(s, 0), 246);
    EXPECT_EQ(step_max_tokens(s, 100), 100);
    s.n_tokens_output = 0;
    EXPECT_EQ(step_max_tokens(s, 0), 58);
    s.n_tokens_output_est = 0;
    EXPECT_EQ(step_max_tokens(s, 0), 1);
}

}  // namespace
}  // namespace gannet::bench

namespace gannet::bench {
namespace {

TEST(ReplayDeathTest, NoTrajectoriesIsABug) {
    ReplayProgress progress;
    const ReplayConfig config;
    const std::vector<Trajectory> none;
    EXPECT_DEATH(run_replay(none, config, &progress, nullptr), "check failed");
}

}  // namespace
}  // namespace gannet::bench
