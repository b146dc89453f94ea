// `gannet bench determinism` on the shipped model (issue 19's "done when"): the last stdout line of
// --json is one JSON object with mode, batch_sizes, flip_rate, identical_pct, trigger_rate and tok_s,
// one entry per batch size; --calibrate prints tau; bad flags exit 1. Label slow: it runs the model.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "base/test_paths.h"

namespace gannet {
namespace {

// Runs the gannet binary with `args`; returns stdout's lines, sets *exit_code.
std::vector<std::string> run_gannet(const std::string& args, int* exit_code) {
    const std::string cmd = std::string(GANNET_BINARY) + " " + args + " 2>/dev/null";
    FILE* pipe = popen(cmd.c_str(), "r");
    EXPECT_NE(pipe, nullptr);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) {
        out.append(buf, n);
    }
    const int status = pclose(pipe);
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::vector<std::string> lines;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

const std::string kPrompts = "--prompts " + source_dir() + "/bench/determinism/heldout.txt";

TEST(BenchDeterminismTest, JsonLastLineHasTheContractKeysPerBatchSize) {
    int rc = -1;
    const std::vector<std::string> lines = run_gannet(
        "bench determinism " + kPrompts + " --batch-sizes 1,4 --max-tokens 6 --mode off,margin --json -t 1", &rc);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(lines.size(), 2u);  // one line per mode
    const nlohmann::json first = nlohmann::json::parse(lines[0]);
    EXPECT_EQ(first["mode"], "off");
    EXPECT_EQ(first["trigger_rate"], nlohmann::json::parse("[0.0,0.0]"));
    const nlohmann::json j = nlohmann::json::parse(lines.back());
    EXPECT_EQ(j["mode"], "margin");
    EXPECT_EQ(j["tau"], 1.0);
    EXPECT_EQ(j["batch_sizes"], nlohmann::json::parse("[1,4]"));
    for (const char* key : {"flip_rate", "identical_pct", "trigger_rate", "tok_s", "n_flips", "ref_max_abs_diff"}) {
        ASSERT_TRUE(j.contains(key) && j[key].is_array() && j[key].size() == 2) << key << ": " << lines.back();
    }
    EXPECT_EQ(j["identical_pct"][1], 100.0);
    EXPECT_EQ(j["flip_rate"][1], 0.0);
    EXPECT_GT(j["trigger_rate"][0].get<double>(), 0.0);  // tau 1 covers part of this model's rows
    EXPECT_LT(j["trigger_rate"][0].get<double>(), 1.0);
    EXPECT_GT(j["tok_s"][0].get<double>(), 0.0);
}

TEST(BenchDeterminismTest, CalibratePrintsTau) {
    int rc = -1;
    const std::vector<std::string> lines =
        run_gannet("bench determinism --calibrate " + kPrompts + " --batch-sizes 1,4 --max-tokens 4 --json -t 1", &rc);
    ASSERT_EQ(rc, 0);
    ASSERT_FALSE(lines.empty());
    const nlohmann::json j = nlohmann::json::parse(lines.back());
    EXPECT_EQ(j["calibrate"], true);
    // The CPU forward is batch-invariant: no flip, no override, so nothing to cover.
    EXPECT_EQ(j["n_flips"], 0);
    EXPECT_EQ(j["n_overrides"], 0);
    EXPECT_EQ(j["tau"], 0.0);
}

TEST(BenchDeterminismTest, BadFlagsExitOne) {
    int rc = -1;
    for (const std::string& args : {std::string("bench determinism ") + kPrompts + " --mode fast",
                                    std::string("bench determinism ") + kPrompts + " --batch-sizes 0,4",
                                    std::string("bench determinism --prompts /nonexistent"),
                                    std::string("bench determinism ") + kPrompts + " --tau -1",
                                    std::string("bench determinism --calibrate ") + kPrompts + " --mode margin"}) {
        run_gannet(args, &rc);
        EXPECT_EQ(rc, 1) << args;
    }
}

}  // namespace
}  // namespace gannet
