// End-to-end replay against a real OpenAI-compatible server (label slow). Uses llama.cpp's
// llama-server when built beside the checkout (../peers/llama.cpp/build/bin, or $GANNET_LLAMA_SERVER),
// and `gannet serve -m` when the gannet binary can serve a model; each test skips, saying why,
// when its server is not available. The model is the project's tiny llama fixture; the
// trajectories are a small synthetic set in the shared format so the whole context fits its 256
// positions.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "base/test_paths.h"
#include "bench/loopback_server_for_test.h"
#include "bench/replay.h"
#include "bench/replay_command.h"
#include "bench/report.h"
#include "json/json.h"

extern char** environ;

namespace gannet::bench {
namespace {

namespace fs = std::filesystem;

// Runs a server process until destroyed (SIGTERM, then SIGKILL after 5 s).
class ServerProcess {
public:
    ServerProcess(const std::vector<std::string>& argv, const std::string& log_path) {
        std::vector<char*> args;
        for (const std::string& a : argv) {
            args.push_back(const_cast<char*>(a.c_str()));
        }
        args.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        if (posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ) != 0) {
            pid_ = -1;
        }
        posix_spawn_file_actions_destroy(&fa);
    }
    ~ServerProcess() {
        if (pid_ <= 0) {
            return;
        }
        ::kill(pid_, SIGTERM);
        for (int i = 0; i < 100; ++i) {
            if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    // Waits for the process to exit on its own (for one-shot commands like --help).
    void wait_exit() {
        if (pid_ > 0) {
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }
    bool is_running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

private:
    pid_t pid_ = -1;
};

int free_port() {
    LoopbackServer probe({}, /*n_connections=*/0);
    return probe.port();
}

// Waits until GET /v1/models answers 200 (the model is loaded). False if the process died or 120 s passed.
bool wait_ready(const ServerProcess& p, const Url& url) {
    for (int i = 0; i < 1200 && p.is_running(); ++i) {
        HttpOptions quick{200, 1000};
        Result<HttpResponse> r = http_fetch(url, HttpRequest{"GET", url.path_prefix + "/models", {}, ""}, quick);
        if (r.has_value() && r->status == 200) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

std::string slurp(const std::string& path) {
    std::ifstream f(path);
    return std::string((std::istreambuf_iterator<char>(f)), {});
}

// Three short trajectories, three steps each, in the shared on-disk format.
std::string write_trajectories(const fs::path& dir) {
    fs::create_directories(dir);
    std::ofstream steps(dir / "tiny.steps.jsonl");
    std::ofstream text(dir / "tiny.text.jsonl");
    for (int t = 0; t < 3; ++t) {
        const std::string id = "tiny-" + std::to_string(t);
        steps << R"({"id":")" << id << R"(","steps":[{"output_tokens":)" << 6 + t
              << R"(,"next_request_gap_ms":100},{"output_tokens":4,"next_request_gap_ms":50},{"output_tokens":)"
              << 9 - t << R"(,"next_request_gap_ms":null}]})"
              << "\n";
        text << R"({"id":")" << id
             << R"(","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"fix bug )" << t
             << R"("},{"role":"assistant","content":"ls"},{"role":"user","content":"a.py b.py"},)"
             << R"({"role":"assistant","content":"cat a.py"},{"role":"user","content":"x = 1"},)"
             << R"({"role":"assistant","content":"done"}]})"
             << "\n";
    }
    return dir.string();
}

std::string fixture_model() {
    return source_dir() + "/tests/fixtures/models/llama-f32.gguf";
}

// The replay itself, the same for every server: 3 agents walk the 3 trajectories.
void replay_and_check(const Url& url, const std::string& traj_dir, const std::string& tmp) {
    Result<std::vector<Trajectory>> trajectories = load_trajectories(traj_dir);
    ASSERT_TRUE(trajectories.has_value()) << trajectories.error().to_string();
    ReplayConfig c;
    c.url = url;
    // Ask for the model the server lists: gannet serve refuses names it does not serve.
    Result<HttpResponse> models = http_fetch(url, HttpRequest{"GET", url.path_prefix + "/models", {}, ""}, {});
    ASSERT_TRUE(models.has_value()) << models.error().to_string();
    const nlohmann::json listed = nlohmann::json::parse(models->body, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(listed.contains("data") && !listed["data"].empty()) << models->body;
    c.model = listed["data"][0].value("id", "default");
    c.n_agents = 3;
    c.stagger_ms = 10;
    c.delay.kind = ToolDelay::Kind::kFixed;
    c.delay.ms = 20;
    ReplayProgress progress;
    const ReplayResult result = run_replay(*trajectories, c, &progress, nullptr);
    int64_t n_requested = 0;
    for (size_t a = 0; a < 3; ++a) {
        const AgentRun& run = result.agents[a];
        EXPECT_EQ(run.n_errors, 0) << run.first_error;
        ASSERT_EQ(run.samples.size(), 3u);
        for (size_t k = 0; k < 3; ++k) {
            const StepSample& s = run.samples[k];
            const int64_t want = step_max_tokens((*trajectories)[a].steps[k], c.max_tokens);
            n_requested += want;
            // EOS ignored, so the server generates exactly max_tokens.
            EXPECT_EQ(s.n_tokens(), want) << "agent " << a << " step " << k;
            EXPECT_LE(s.n_chunks, s.n_tokens());
            EXPECT_GT(s.ttft_ms, 0);
            EXPECT_GE(s.e2e_ms, s.ttft_ms);
            if (k > 0) {
                EXPECT_GT(s.n_tokens_prompt, run.samples[k - 1].n_tokens_prompt);  // the context grows
            }
        }
    }
    const LevelReport r = summarize(result, SloConfig{});
    EXPECT_EQ(r.n_steps, 9);
    EXPECT_EQ(r.n_tokens_completion, n_requested);  // tokens counted == tokens received
    EXPECT_EQ(progress.n_tokens.load(), n_requested);

    // The whole command: JSON as the last stdout line, and a plot.
    const std::string plot = tmp + "/sweep.png";
    testing::internal::CaptureStdout();
    const int rc = bench_replay_main({"--endpoint", url.str(), "--trajectories", traj_dir, "--sweep", "--max-agents",
                                      "2", "--slo", "1", "--slo-ttft-ms", "120000", "--tool-delay", "none", "--json",
                                      "--quiet", "--plot", plot});
    const std::string out = testing::internal::GetCapturedStdout();
    ASSERT_EQ(rc, 0) << out;
    const std::string last = out.substr(out.rfind('\n', out.size() - 2) + 1);
    Result<nlohmann::json> j = json::parse(last);
    ASSERT_TRUE(j.has_value()) << out;
    for (const char* key : {"agents", "steps", "prompt_tokens", "completion_tokens", "ttft_ms", "tpot_ms", "slo_tok_s",
                            "agents_meeting_slo", "max_agents_sustained", "power_w"}) {
        EXPECT_TRUE(j->contains(key)) << key;
    }
    EXPECT_EQ((*j)["max_agents_sustained"], 2);
    EXPECT_EQ((*j)["errors"], 0);
    EXPECT_TRUE(fs::file_size(plot) > 1000);
}

class ReplayServerTest : public testing::Test {
protected:
    void SetUp() override {
        tmp_ = fs::temp_directory_path() / ("gannet_bench_server_" + std::to_string(::getpid()));
        fs::create_directories(tmp_);
        traj_dir_ = write_trajectories(tmp_ / "traj");
    }
    void TearDown() override { fs::remove_all(tmp_); }

    fs::path tmp_;
    std::string traj_dir_;
};

TEST_F(ReplayServerTest, ReplayAgainstLlamaServer) {
    const char* env = std::getenv("GANNET_LLAMA_SERVER");
    const std::string bin = env ? env : source_dir() + "/../peers/llama.cpp/build/bin/llama-server";
    if (!fs::exists(bin)) {
        GTEST_SKIP() << "no llama-server at " << bin << " (set GANNET_LLAMA_SERVER)";
    }
    const int port = free_port();
    const std::string log = (tmp_ / "llama-server.log").string();
    ServerProcess server({bin, "-m", fixture_model(), "--host", "127.0.0.1", "--port", std::to_string(port), "-c",
                          "1024", "-np", "4", "-t", "2"},
                         log);
    const Url url = parse_url("http://127.0.0.1:" + std::to_string(port) + "/v1").value();
    ASSERT_TRUE(wait_ready(server, url)) << "llama-server did not come up; log:\n" << slurp(log);
    replay_and_check(url, traj_dir_, tmp_.string());
}

TEST_F(ReplayServerTest, ReplayAgainstGannetServe) {
    const std::string bin = GANNET_BINARY;  // built before this test (add_dependencies)
    ASSERT_TRUE(fs::exists(bin)) << bin;
    const int port = free_port();
    const std::string log = (tmp_ / "gannet-serve.log").string();
    ServerProcess server({bin, "serve", "-m", fixture_model(), "--port", std::to_string(port)}, log);
    const Url url = parse_url("http://127.0.0.1:" + std::to_string(port) + "/v1").value();
    ASSERT_TRUE(wait_ready(server, url)) << "gannet serve -m did not serve /v1/models; log:\n" << slurp(log);
    replay_and_check(url, traj_dir_, tmp_.string());
}

}  // namespace
}  // namespace gannet::bench
