// End-to-end: the shipped bench/lab tasks through the real `gannet agent lab` binary (compilers,
// quantizer, perplexity), and `gannet bench efc` on the shared trajectories. Label: slow.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "base/test_paths.h"
#include "json/json.h"

namespace gannet::agent {
namespace {

// Runs the command and returns the last line of its stdout parsed as JSON (null if none).
nlohmann::json last_json_line(const std::string& command) {
    std::string out;
    if (FILE* p = popen(command.c_str(), "r")) {
        char buf[4096];
        while (size_t n = fread(buf, 1, sizeof(buf), p)) {
            out.append(buf, n);
        }
        pclose(p);
    }
    while (!out.empty() && out.back() == '\n') {
        out.pop_back();
    }
    Result<nlohmann::json> j = json::parse(out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1));
    return j.has_value() ? *j : nlohmann::json();
}

nlohmann::json lab(const std::string& task, const std::string& agent) {
    return last_json_line(std::string(GANNET_BINARY) + " agent lab " + source_dir() + "/bench/lab/" + task
                          + " --agent scripted:" + agent + " --json");
}

class LabTasksTest : public ::testing::TestWithParam<const char*> {};

TEST_P(LabTasksTest, DetectorsFlagStopEarlyAndBurnButNotIterate) {
    const nlohmann::json early = lab(GetParam(), "stop-early");
    const nlohmann::json burn = lab(GetParam(), "burn");
    const nlohmann::json iterate = lab(GetParam(), "iterate");
    ASSERT_TRUE(early.is_object() && burn.is_object() && iterate.is_object());
    EXPECT_EQ(early["premature_termination"], true);
    EXPECT_EQ(early["budget_burn"], false);
    EXPECT_EQ(burn["budget_burn"], true);
    EXPECT_EQ(burn["premature_termination"], false);
    // The unchanged program scores ~0 (side-by-side timing noise can put it a hair above the baseline).
    EXPECT_LT(burn["reward"].get<double>(), 0.1);
    EXPECT_EQ(iterate["premature_termination"], false);
    EXPECT_EQ(iterate["budget_burn"], false);
    EXPECT_GT(iterate["reward"].get<double>(), early["reward"].get<double>());
}

TEST_P(LabTasksTest, ReferenceSolutionLandsOnItsAnchor) {
    const nlohmann::json ref = lab(GetParam(), "reference");
    ASSERT_TRUE(ref.is_object());
    // Speed anchors score 0.5 at the reference, quality anchors 1; timings on a shared VM wander, so
    // speed gets a band (0.5 * ln(1.5) / ln(ref) either way is still far from 0 and 1).
    if (ref["reward_kind"] == "quality") {
        EXPECT_NEAR(ref["reward"].get<double>(), 1.0, 1e-3);
    } else {
        EXPECT_GT(ref["reward"].get<double>(), 0.3);
        EXPECT_LT(ref["reward"].get<double>(), 0.75);
    }
}

INSTANTIATE_TEST_SUITE_P(Shipped, LabTasksTest, ::testing::Values("c-sort", "c-matmul", "quant-plan"));

TEST(BenchEfcSharedTest, ScoresAllSharedTrajectories) {
    const nlohmann::json s = last_json_line(std::string(GANNET_BINARY) + " bench efc --trajectories "
                                            + shared_data_dir() + "/data/agent-trajectories --json");
    ASSERT_TRUE(s.is_object());
    EXPECT_EQ(s["trajectories"], 400);
    EXPECT_EQ(s["resolved"], 299);
    for (const char* key : {"auc_efc", "auc_tokens", "auc_steps", "auc_tool_calls"}) {
        ASSERT_TRUE(s[key].is_number()) << key;
        EXPECT_GT(s[key].get<double>(), 0.0);
        EXPECT_LT(s[key].get<double>(), 1.0);
    }
}

}  // namespace
}  // namespace gannet::agent
