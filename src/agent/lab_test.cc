#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/lab_agents.h"
#include "agent/lab_loop.h"
#include "agent/lab_process.h"
#include "agent/lab_report.h"
#include "agent/lab_task.h"

namespace gannet::agent {
namespace {

namespace fs = std::filesystem;

// A task whose "program" is a number in value.txt, measured by cat: the loop, the rewards and the
// detectors run for real (processes, files) in milliseconds.
const char* kTaskToml = R"toml(
name = "toy"
workdir = "environment"
editable = ["value.txt"]
[budget]
wall_clock_s = 60
tokens = 20000
[commands]
verify = "test -s value.txt"
measure = "echo seconds=$(cat value.txt); echo size=$(wc -c < value.txt)"
timeout_s = 10
[metric]
name = "seconds"
direction = "lower"
[reward]
kind = "speed"
baseline = 8.0
reference = 2.0
[[reward.gates]]
metric = "size"
max = 3
)toml";

class LabTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path()
               / ("gannet_lab_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_"
                  + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        write("task.toml", kTaskToml);
        write("instruction.md", "Make seconds smaller.\n");
        write("environment/value.txt", "8");
        write("solution/value.txt", "2");
        write("candidates/01-small/value.txt", "6");
        write("candidates/02-good/value.txt", "1");
        write("candidates/03-worse/value.txt", "4");
    }
    void TearDown() override { fs::remove_all(dir_); }
    void write(const std::string& rel, const std::string& text) {
        fs::create_directories((dir_ / rel).parent_path());
        std::ofstream(dir_ / rel) << text;
    }
    LabRun run_agent(const std::string& name, const DetectorConfig& d = {}) {
        Result<LabTask> task = load_lab_task(dir_.string());
        EXPECT_TRUE(task.has_value()) << task.error().to_string();
        Result<std::unique_ptr<LabAgent>> agent = make_scripted_agent(name, *task);
        EXPECT_TRUE(agent.has_value()) << agent.error().to_string();
        Result<LabRun> run = run_lab(*task, **agent, name, LabOptions{.run_dir = "", .detectors = d, .extra_env = {}});
        EXPECT_TRUE(run.has_value()) << run.error().to_string();
        return *run;
    }
    fs::path dir_;
};

TEST_F(LabTest, LoadsTheTaskSpec) {
    Result<LabTask> t = load_lab_task(dir_.string());
    ASSERT_TRUE(t.has_value()) << t.error().to_string();
    EXPECT_EQ(t->name, "toy");
    EXPECT_EQ(t->editable, std::vector<std::string>{"value.txt"});
    EXPECT_EQ(t->budget_tokens, 20000);
    EXPECT_EQ(t->reward.kind, RewardKind::kSpeed);
    EXPECT_EQ(t->reward.direction, MetricDirection::kLowerIsBetter);
    ASSERT_EQ(t->gates.size(), 1u);
    EXPECT_EQ(t->gates[0].max, 3.0);
    EXPECT_EQ(t->instruction, "Make seconds smaller.\n");
}

TEST_F(LabTest, BadSpecsAreNamed) {
    auto error_of = [&](const std::string& toml) {
        write("task.toml", toml);
        Result<LabTask> t = load_lab_task(dir_.string());
        return t.has_value() ? std::string("ok") : t.error().message();
    };
    std::string base = kTaskToml;
    EXPECT_NE(error_of("typo = 1\n" + base).find("unknown key 'typo'"), std::string::npos);
    EXPECT_NE(error_of(std::string(kTaskToml).replace(base.find("\"lower\""), 7, "\"down\"")).find("lower or higher"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(kTaskToml).replace(base.find("reference = 2.0"), 15, "reference = 9.0"))
                  .find("reference 9 must be lower than baseline 8"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(kTaskToml).replace(base.find("[\"value.txt\"]"), 13, "[\"../x\"]"))
                  .find("inside the workdir"),
              std::string::npos);
    EXPECT_NE(error_of("name = \n").find("line 1"), std::string::npos);
    EXPECT_EQ(load_lab_task("/nonexistent/task").error().code(), ErrorCode::kNotFound);
}

TEST_F(LabTest, StopEarlyIsFlaggedAsPrematureTermination) {
    LabRun r = run_agent("stop-early");
    EXPECT_EQ(r.stop_reason, "agent stopped");
    EXPECT_EQ(r.n_measured, 1);
    EXPECT_NEAR(r.final.reward.value, 0.5 * std::log(8.0 / 6) / std::log(4.0), 1e-9);
    EXPECT_TRUE(r.is_premature_termination);
    EXPECT_FALSE(r.is_budget_burn);
    // Thresholds are settings: with 99% required unused the same run is not flagged.
    LabRun lenient = run_agent("stop-early", DetectorConfig{.early_stop_unused = 0.99});
    EXPECT_FALSE(lenient.is_premature_termination);
}

TEST_F(LabTest, BurnIsFlaggedAsBudgetBurn) {
    LabRun r = run_agent("burn");
    EXPECT_EQ(r.stop_reason, "budget exhausted");
    EXPECT_EQ(r.n_measured, 0);
    EXPECT_GE(r.budget_used, 1.0);
    EXPECT_FALSE(r.has_measured_improvement);
    EXPECT_TRUE(r.is_budget_burn);
    EXPECT_FALSE(r.is_premature_termination);
    EXPECT_EQ(r.final.reward.value, 0.0);  // unchanged program: gated at the baseline
}

TEST_F(LabTest, IterateIsNotFlaggedAndKeepsTheBest) {
    LabRun r = run_agent("iterate");
    EXPECT_EQ(r.stop_reason, "agent stopped");
    EXPECT_GE(r.n_measured, 4);  // three candidates, then the best put back and confirmed
    EXPECT_EQ(r.final.metric, 1.0);
    EXPECT_DOUBLE_EQ(r.final.reward.value, 0.75);  // speedup 8 = 4^1.5
    EXPECT_TRUE(r.has_measured_improvement);
    EXPECT_GE(r.budget_used, kIterateBudgetTarget);
    EXPECT_FALSE(r.is_premature_termination);
    EXPECT_FALSE(r.is_budget_burn);
    ASSERT_GE(r.iterations.size(), 3u);
    EXPECT_DOUBLE_EQ(r.iterations[2].best_reward, 0.75);  // the worse third candidate does not lower it
    EXPECT_EQ(r.iterations[2].best_metric, 1.0);
    EXPECT_GT(r.iterations[2].budget_used, r.iterations[0].budget_used);
    nlohmann::json j = lab_run_json(r, *load_lab_task(dir_.string()));
    EXPECT_EQ(j["premature_termination"], false);
    EXPECT_EQ(j["iterations"].size(), r.iterations.size());
    bench::Image curve = draw_reward_curve(r);
    EXPECT_GT(curve.width, 0);
}

TEST_F(LabTest, ReferenceScoresOneHalf) {
    LabRun r = run_agent("reference");
    EXPECT_DOUBLE_EQ(r.final.reward.value, 0.5);
}

TEST_F(LabTest, GatesAndFailedVerificationScoreZero) {
    write("candidates/01-small/value.txt", "1.000");  // size 5 > max 3
    write("candidates/02-good/value.txt", "");        // verify fails on an empty file
    write("candidates/03-worse/value.txt", "x");      // measure prints no number
    LabRun r = run_agent("iterate");
    ASSERT_GE(r.iterations.size(), 3u);
    EXPECT_EQ(r.iterations[0].gate, "size 5 > max 3");
    EXPECT_EQ(r.iterations[0].reward, 0.0);
    EXPECT_EQ(r.iterations[1].gate, "verify failed (exit 1)");
    EXPECT_NE(r.iterations[2].gate.find("not a finite number"), std::string::npos) << r.iterations[2].gate;
    EXPECT_FALSE(r.has_measured_improvement);
}

TEST_F(LabTest, UnknownAgentAndMissingCandidatesAreErrors) {
    Result<LabTask> task = load_lab_task(dir_.string());
    ASSERT_TRUE(task.has_value());
    EXPECT_NE(make_scripted_agent("genius", *task).error().message().find("expected stop-early"), std::string::npos);
    fs::remove_all(dir_ / "candidates");
    EXPECT_EQ(make_scripted_agent("iterate", *task).error().code(), ErrorCode::kNotFound);
}

TEST(LabProcessTest, CapturesOutputExitCodeAndEnvironment) {
    Result<CommandResult> r = run_command("echo out; echo err >&2; echo $LAB_X; exit 3", "/", /*timeout_s=*/10,
                                          {"LAB_X=42", "HOME=/nowhere"});
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    EXPECT_EQ(r->exit_code, 3);
    EXPECT_FALSE(r->is_timed_out);
    EXPECT_EQ(r->output, "out\nerr\n42\n");
    Result<CommandResult> home = run_command("echo $HOME", "/", 10, {"HOME=/nowhere"});
    EXPECT_EQ(home->output, "/nowhere\n");  // replaces the inherited value, not a second entry
}

TEST(LabProcessTest, TimeoutKillsTheWholeCommand) {
    Result<CommandResult> r = run_command("sleep 5 & sleep 5; echo never", "/", /*timeout_s=*/0.3, {});
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->is_timed_out);
    EXPECT_LT(r->elapsed_s, 2.0);
    EXPECT_EQ(r->output.find("never"), std::string::npos);
}

TEST(LabMetricTest, ReadsNameValueLines) {
    EXPECT_EQ(*read_metric("warming up\nseconds=0.5\nseconds=0.25\n", "seconds"), 0.25);
    EXPECT_FALSE(read_metric("time=1\n", "seconds").has_value());
    EXPECT_FALSE(read_metric("seconds=fast\n", "seconds").has_value());
}

}  // namespace
}  // namespace gannet::agent
