// A real `gannet serve` on the shipped default model for the tests in tests/server/: port 0 (read
// from its "listening on" line), one compute thread, a private store; SIGTERM, then SIGKILL after
// 5 s, when destroyed. Test-only.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/test_paths.h"

extern char** environ;

namespace gannet {

inline std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// `gannet serve` on the default model (or `model`), port 0, until destroyed (SIGTERM, then SIGKILL
// after 5 s).
class ServerProcess {
public:
    // Serves `model`; extra_args go after the defaults (e.g. {"--deterministic", "margin"}).
    explicit ServerProcess(const std::string& model = source_dir() + "/models/gannet-default.gguf",
                           const std::vector<std::string>& extra_args = {}) {
        char tmpl[] = "/tmp/gannet_disconnect_test.XXXXXX";
        EXPECT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        log_ = dir_ + "/server.log";
        std::vector<std::string> args = {GANNET_BINARY, "serve", "-m", model,     "--port",
                                         "0",           "-t",    "1",  "--store", "sqlite:" + dir_ + "/mcp.db"};
        args.insert(args.end(), extra_args.begin(), extra_args.end());
        std::vector<char*> argv;
        for (std::string& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        if (posix_spawn(&pid_, GANNET_BINARY, &fa, nullptr, argv.data(), environ) != 0) {
            pid_ = -1;
        }
        posix_spawn_file_actions_destroy(&fa);
        const std::regex re("listening on http://[^:]+:([0-9]+)");
        for (int i = 0; i < 600 && port_ == 0 && is_running(); ++i) {
            std::smatch m;
            const std::string text = slurp(log_);
            if (std::regex_search(text, m, re)) {
                port_ = std::stoi(m[1]);
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        }
    }
    ~ServerProcess() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            for (int i = 0; i < 100 && ::waitpid(pid_, nullptr, WNOHANG) == 0; ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        std::system(("rm -rf " + dir_).c_str());
    }
    bool is_running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }
    int port() const { return port_; }
    std::string log() const { return slurp(log_); }

private:
    std::string dir_, log_;
    pid_t pid_ = -1;
    int port_ = 0;
};

}  // namespace gannet
