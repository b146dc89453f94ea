#include "bench/replay_command.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "base/test_paths.h"
#include "bench/loopback_server_for_test.h"

namespace gannet::bench {
namespace {

namespace fs = std::filesystem;

struct Outcome {
    int rc;
    std::string err;
    double ms;
};

Outcome run(const std::vector<std::string>& args) {
    testing::internal::CaptureStderr();
    const auto t0 = std::chrono::steady_clock::now();
    const int rc = bench_replay_main(args);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return {rc, testing::internal::GetCapturedStderr(), ms};
}

TEST(ReplayCommandTest, UnreachableEndpointIsOneLineAndQuick) {
    int port = 0;
    {
        LoopbackServer s({}, /*n_connections=*/0);
        port = s.port();
    }
    const Outcome o = run({"--endpoint", "http://127.0.0.1:" + std::to_string(port) + "/v1", "--trajectories",
                           shared_data_dir() + "/data/agent-trajectories"});
    EXPECT_EQ(o.rc, 1);
    EXPECT_EQ(o.err, "gannet bench replay: bench: cannot connect to 127.0.0.1:" + std::to_string(port)
                         + ": Connection refused\n");
    EXPECT_LT(o.ms, 1000);
}

TEST(ReplayCommandTest, MalformedTrajectoryFileNamesFileAndLine) {
    const fs::path dir = fs::temp_directory_path() / "gannet_bench_cmd_bad";
    fs::create_directories(dir);
    std::ofstream(dir / "x.steps.jsonl") << R"({"id":"a","steps":[{"output_tokens":3}]})"
                                         << "\n{oops\n";
    std::ofstream(dir / "x.text.jsonl") << "\n";
    LoopbackServer server({"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"});  // answers the /models preflight
    const Outcome o = run({"--endpoint", server.url(), "--trajectories", dir.string()});
    fs::remove_all(dir);
    EXPECT_EQ(o.rc, 1);
    EXPECT_TRUE(o.err.starts_with("gannet bench replay: bench: " + (dir / "x.steps.jsonl").string()
                                  + ": line 2: malformed JSON"))
        << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1);
}

TEST(ReplayCommandTest, BadFlagIsOneLine) {
    const Outcome o = run({"--endpoint", "http://127.0.0.1:1/v1", "--trajectories", "/x", "--max-tokens", "-3"});
    EXPECT_EQ(o.rc, 1);
    EXPECT_EQ(o.err, "gannet bench replay: --max-tokens needs an integer in [0, 16777216], got '-3'\n");
}

TEST(ReplayCommandTest, HelpExitsZero) {
    testing::internal::CaptureStdout();
    EXPECT_EQ(bench_replay_main({"--help"}), 0);
    EXPECT_NE(testing::internal::GetCapturedStdout().find("--trajectories DIR"), std::string::npos);
}

}  // namespace
}  // namespace gannet::bench
