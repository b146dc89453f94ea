// The CPU rlimit of the command sandbox, against a real busy loop. Labelled slow: RLIMIT_CPU counts
// whole seconds, so the test takes at least one.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "mcp/sandbox.h"

namespace gannet::mcp {
namespace {

namespace fs = std::filesystem;

TEST(SandboxLimitsTest, CpuLimitKillsABusyLoop) {
    fs::path ws = fs::temp_directory_path() / ("gannet_sbx_cpu_" + std::to_string(getpid()));
    fs::create_directories(ws);
    SandboxConfig config;
    config.workspace = ws.string();
    config.limits.cpu_seconds = 1;
    Result<std::unique_ptr<Sandbox>> sandbox = Sandbox::create(config);
    ASSERT_TRUE(sandbox.has_value()) << sandbox.error().message();
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    auto t0 = std::chrono::steady_clock::now();
    Result<pid_t> pid = (*sandbox)->spawn("while :; do :; done", fds[1]);
    close(fds[1]);
    ASSERT_TRUE(pid.has_value()) << pid.error().message();
    int status = 0;
    ASSERT_EQ(waitpid(*pid, &status, 0), *pid);
    auto elapsed = std::chrono::steady_clock::now() - t0;
    close(fds[0]);
    fs::remove_all(ws);
    // The sandbox's init reports the shell's death by SIGXCPU as 128 + SIGXCPU.
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 128 + SIGXCPU);
    EXPECT_LT(elapsed, std::chrono::seconds(60));  // one CPU second, however loaded the machine
}

}  // namespace
}  // namespace gannet::mcp
