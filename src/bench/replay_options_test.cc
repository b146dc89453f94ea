#include "bench/replay_options.h"

#include <gtest/gtest.h>

namespace gannet::bench {
namespace {

TEST(ReplayOptionsTest, ParsesTheDocumentedCommandLine) {
    Result<ReplayOptions> o =
        parse_replay_args({"--endpoint", "http://127.0.0.1:8080/v1", "--trajectories", "/d", "--agents", "8",
                           "--slo=60", "--max-steps", "5", "--max-tokens", "64", "--duration", "30", "--json", "--plot",
                           "p.png", "--tool-delay", "lognormal:1000", "--no-ignore-eos"});
    ASSERT_TRUE(o.has_value()) << o.error().to_string();
    EXPECT_EQ(o->n_agents, 8);
    EXPECT_EQ(o->slo.tok_s, 60);
    EXPECT_EQ(o->max_steps, 5);
    EXPECT_EQ(o->max_tokens, 64);
    EXPECT_EQ(o->duration_s, 30);
    EXPECT_TRUE(o->is_json);
    EXPECT_EQ(o->plot_path, "p.png");
    EXPECT_EQ(o->delay.kind, ToolDelay::Kind::kLognormal);
    EXPECT_EQ(o->delay.ms, 1000);
    EXPECT_FALSE(o->is_ignore_eos);
    EXPECT_FALSE(o->is_sweep);
}

TEST(ReplayOptionsTest, ErrorsAreOneLineNamingTheFlag) {
    const std::vector<std::string> base = {"--endpoint", "http://h/v1", "--trajectories", "/d"};
    auto with = [&](std::vector<std::string> extra) {
        std::vector<std::string> a = base;
        a.insert(a.end(), extra.begin(), extra.end());
        return parse_replay_args(a).error().message();
    };
    EXPECT_EQ(with({"--agents", "0"}), "--agents needs an integer in [1, 4096], got '0'");
    EXPECT_EQ(with({"--slo"}), "--slo needs a value");
    EXPECT_EQ(with({"--bogus"}), "unknown argument '--bogus' (see --help)");
    EXPECT_EQ(with({"--agents", "2", "--sweep"}), "--agents and --sweep exclude each other");
    EXPECT_EQ(with({"--tool-delay", "sometimes"}),
              "--tool-delay needs recorded, none, MS or lognormal:MEDIAN_MS, got 'sometimes'");
    EXPECT_EQ(parse_replay_args({"--agents", "2"}).error().message(),
              "--endpoint and --trajectories are required (see --help)");
    EXPECT_TRUE(parse_replay_args({"--help"})->is_help);
}

}  // namespace
}  // namespace gannet::bench
