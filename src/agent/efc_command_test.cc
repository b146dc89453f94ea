#include "agent/efc_command.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "json/json.h"

namespace gannet::agent {
namespace {

namespace fs = std::filesystem;

// Four hand-made mini-swe-agent runs: the two resolved ones get a localising failure their next action
// uses (credited feedback); the unresolved ones only get empty or repeated output.
class BenchEfcTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path()
               / ("gannet_bench_efc_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        std::ofstream steps(dir_ / "t.steps.jsonl");
        std::ofstream text(dir_ / "t.text.jsonl");
        for (int i = 0; i < 4; ++i) {
            const bool is_resolved = i < 2;
            steps << R"({"id":"run)" << i << R"(","resolved":)" << (is_resolved ? "true" : "false")
                  << R"(,"steps":[{"prompt_tokens":100,"output_tokens":10},{"prompt_tokens":200,"output_tokens":10},)"
                  << R"({"prompt_tokens":300,"output_tokens":10}]})"
                  << "\n";
            const std::string obs =
                is_resolved
                    ? R"(<returncode>1</returncode>\n<output>\nTraceback (most recent call last):\n  File \"pkg/core.py\", line 120, in parse_value\nKeyError: 'width'\n</output>)"
                    : R"(<returncode>0</returncode>\n<output>\n</output>)";
            const std::string next = is_resolved ? "sed -n 110,130p pkg/core.py" : "python repro.py";
            text << R"({"id":"run)" << i << R"(","messages":[{"role":"system","content":"s"},)"
                 << R"({"role":"user","content":"<pr_description>fix render_table</pr_description>"},)"
                 << R"({"role":"assistant","content":"python repro.py"},{"role":"user","content":")" << obs << R"("},)"
                 << R"({"role":"assistant","content":")" << next << R"("},{"role":"user","content":")" << obs
                 << R"("},)"
                 << R"({"role":"assistant","content":"submit"},{"role":"user","content":"diff"}]})"
                 << "\n";
        }
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

TEST_F(BenchEfcTest, LastLineIsTheSummary) {
    testing::internal::CaptureStdout();
    const int rc = bench_efc_main({"--trajectories", dir_.string(), "--json", "--bins", "2"});
    const std::string out = testing::internal::GetCapturedStdout();
    ASSERT_EQ(rc, 0) << out;
    const size_t last = out.rfind('\n', out.size() - 2);
    Result<nlohmann::json> j = json::parse(out.substr(last + 1));
    ASSERT_TRUE(j.has_value()) << out;
    EXPECT_EQ((*j)["trajectories"], 4);
    EXPECT_EQ((*j)["resolved"], 2);
    EXPECT_EQ((*j)["auc_efc"], 1.0);     // only the resolved runs got credited feedback
    EXPECT_EQ((*j)["auc_tokens"], 0.5);  // identical spend
    for (const char* key : {"auc_steps", "auc_tool_calls", "r2_efc", "r2_tokens", "r2_steps", "r2_tool_calls"}) {
        EXPECT_TRUE(j->contains(key)) << key;
    }
    // The per-trajectory lines: the first run's traceback is credited once (the repeat is redundant).
    Result<nlohmann::json> first = json::parse(out.substr(0, out.find('\n')));
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ((*first)["efc"], 1.0);
    EXPECT_EQ((*first)["tool_calls"], 2);  // the output after the last action was never sent
    EXPECT_EQ((*first)["steps"], 3);
    EXPECT_EQ((*first)["tokens"], 630);
}

TEST_F(BenchEfcTest, BadInputIsOneLineError) {
    testing::internal::CaptureStderr();
    EXPECT_EQ(bench_efc_main({"--trajectories", "/nonexistent"}), 1);
    EXPECT_EQ(bench_efc_main({"--bins", "1", "--trajectories", dir_.string()}), 1);
    EXPECT_EQ(bench_efc_main({"--trajectories", dir_.string(), "--frobnicate", "1"}), 1);
    EXPECT_EQ(bench_efc_main({"--trajectories", dir_.string(), "--redundancy-jaccard", "1.5"}), 1);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("does not exist"), std::string::npos) << err;
    EXPECT_NE(err.find("--bins needs an integer in [2, 1000], got '1'"), std::string::npos) << err;
    EXPECT_NE(err.find("unknown flag '--frobnicate'"), std::string::npos) << err;
    EXPECT_NE(err.find("--redundancy-jaccard needs a number in (0, 1], got '1.5'"), std::string::npos) << err;
}

TEST_F(BenchEfcTest, TrajectoriesWithoutOutcomeAreRefused) {
    std::ofstream(dir_ / "t.steps.jsonl") << R"({"id":"run0","steps":[{},{},{}]})"
                                          << "\n";
    testing::internal::CaptureStderr();
    testing::internal::CaptureStdout();
    EXPECT_EQ(bench_efc_main({"--trajectories", dir_.string()}), 1);
    testing::internal::GetCapturedStdout();
    EXPECT_NE(testing::internal::GetCapturedStderr().find("'run0' has no recorded outcome"), std::string::npos);
}

}  // namespace
}  // namespace gannet::agent
