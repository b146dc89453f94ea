// Issue #13: streaming clients that hang up must never take `gannet serve` down. A real server
// on the shipped default model; 500 raw-socket clients on both completion routes disconnect at
// seeded random points (mid-request, right after sending, after the first byte, mid-stream; with
// FIN or RST), first one at a time, then 50 at a time. Afterwards the server still answers, every
// request the engine saw was cancelled (none ran to its 400 tokens), and no KV block is held.
// Label slow: it starts a process (well under a minute on 2 cores).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/test_paths.h"
#include "bench/http_client.h"
#include "json/json.h"
#include "server_process.h"

extern char** environ;

namespace gannet {
namespace {

// Far more tokens than any client waits for: a request that is not cancelled runs ~1 s alone, so
// one that "succeeds" means a disconnect went unnoticed.
constexpr int kMaxTokens = 400;

enum class Cut { kMidRequest, kAfterRequest, kAfterFirstByte, kMidStream };

struct ClientPlan {
    bool is_chat = true;
    Cut cut = Cut::kAfterRequest;
    size_t n_bytes = 0;     // kMidRequest: bytes of the request sent; kMidStream: bytes read
    bool is_reset = false;  // close with RST (SO_LINGER 0) instead of FIN
};

ClientPlan random_plan(std::mt19937& rng, int i) {
    ClientPlan p;
    p.is_chat = i % 2 == 0;
    p.cut = static_cast<Cut>(std::uniform_int_distribution<int>(0, 3)(rng));
    // A streamed chunk is ~200 bytes: up to 4 KB is within the first ~20 of kMaxTokens tokens.
    p.n_bytes = std::uniform_int_distribution<size_t>(p.cut == Cut::kMidRequest ? 1 : 100, 4000)(rng);
    p.is_reset = std::uniform_int_distribution<int>(0, 3)(rng) == 0;
    return p;
}

std::string request_bytes(bool is_chat, int i) {
    nlohmann::json body = {
        {"model", "gannet-default"}, {"max_tokens", kMaxTokens}, {"stream", true}, {"ignore_eos", true}, {"seed", i}};
    if (is_chat) {
        body["messages"] = {{{"role", "user"}, {"content", "Describe the ls command"}}};
    } else {
        body["prompt"] = "Describe the ls command";
    }
    const std::string b = json::dump(body);
    return std::string("POST ") + (is_chat ? "/v1/chat/completions" : "/v1/completions")
           + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: "
           + std::to_string(b.size()) + "\r\n\r\n" + b;
}

// Runs one client; returns how many response bytes it read before hanging up.
size_t run_client(int port, const ClientPlan& plan, int i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    timeval tv{10, 0};  // a stream that stops sending fails the test instead of hanging it
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    const std::string req = request_bytes(plan.is_chat, i);
    const size_t n_send = plan.cut == Cut::kMidRequest ? std::min(plan.n_bytes, req.size() - 1) : req.size();
    EXPECT_EQ(::send(fd, req.data(), n_send, MSG_NOSIGNAL), static_cast<ssize_t>(n_send));
    const size_t n_want = plan.cut == Cut::kAfterFirstByte ? 1 : plan.cut == Cut::kMidStream ? plan.n_bytes : 0;
    size_t n_read = 0;
    char buf[4096];
    while (n_read < n_want) {
        const ssize_t n = ::recv(fd, buf, std::min(sizeof(buf), n_want - n_read), 0);
        if (n <= 0) {
            ADD_FAILURE() << "client " << i << ": the stream ended after " << n_read << " bytes";
            break;
        }
        n_read += static_cast<size_t>(n);
    }
    if (plan.is_reset) {
        linger lg{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    ::close(fd);
    return n_read;
}

double metric(const std::string& text, const std::string& name) {
    const std::string key = "\n" + name + " ";
    const size_t at = text.find(key);
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + key.size()));
}

Result<bench::HttpResponse> get(int port, const std::string& path) {
    bench::Url url{.host = "127.0.0.1", .port = port, .path_prefix = ""};
    return bench::http_fetch(url, bench::HttpRequest{"GET", path, {}, ""}, bench::HttpOptions{3000, 10000});
}

TEST(DisconnectTest, FiveHundredHangUpsLeaveTheServerServingWithNothingHeld) {
    ServerProcess server;
    ASSERT_GT(server.port(), 0) << "gannet serve did not start:\n" << server.log();
    std::mt19937 rng(13);
    std::atomic<size_t> n_got_bytes{0};
    constexpr int kSequential = 250, kWaves = 5, kWave = 50;
    for (int i = 0; i < kSequential && server.is_running(); ++i) {
        n_got_bytes += run_client(server.port(), random_plan(rng, i), i) > 0 ? 1 : 0;
    }
    for (int w = 0; w < kWaves && server.is_running(); ++w) {
        std::vector<std::thread> clients;
        for (int k = 0; k < kWave; ++k) {
            const int i = kSequential + w * kWave + k;
            clients.emplace_back(
                [&, plan = random_plan(rng, i), i] { n_got_bytes += run_client(server.port(), plan, i) > 0 ? 1 : 0; });
        }
        for (std::thread& t : clients) {
            t.join();
        }
    }
    ASSERT_TRUE(server.is_running()) << "gannet serve died:\n" << server.log();

    // The engine notices each hang-up within a step; wait for it to drain.
    std::string metrics;
    for (int i = 0; i < 200; ++i) {
        Result<bench::HttpResponse> m = get(server.port(), "/metrics");
        ASSERT_TRUE(m.has_value()) << m.error().to_string();
        metrics = m->body;
        if (metric(metrics, "gannet_running_requests") == 0 && metric(metrics, "gannet_queue_depth") == 0) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const double n_requests = metric(metrics, "gannet_requests_total");
    const double n_cancelled = metric(metrics, "gannet_requests_cancelled_total");
    std::printf("clients 500, got bytes %zu, engine requests %.0f, cancelled %.0f\n", n_got_bytes.load(), n_requests,
                n_cancelled);
    EXPECT_EQ(metric(metrics, "gannet_running_requests"), 0);
    EXPECT_EQ(metric(metrics, "gannet_kv_blocks_used"), 0);
    EXPECT_GE(n_requests, static_cast<double>(n_got_bytes.load()));  // a response head means it was submitted
    EXPECT_EQ(n_cancelled, n_requests);                              // every one was cut short: none ran to kMaxTokens
    EXPECT_EQ(metric(metrics, "gannet_requests_succeeded_total"), 0);
    EXPECT_EQ(metric(metrics, "gannet_requests_failed_total"), n_cancelled);

    Result<bench::HttpResponse> health = get(server.port(), "/health");
    ASSERT_TRUE(health.has_value()) << health.error().to_string();
    EXPECT_EQ(health->status, 200);
    bench::Url url{.host = "127.0.0.1", .port = server.port(), .path_prefix = ""};
    Result<bench::HttpResponse> done = bench::http_fetch(
        url,
        bench::HttpRequest{"POST",
                           "/v1/chat/completions",
                           {{"Content-Type", "application/json"}},
                           R"({"model":"gannet-default","messages":[{"role":"user","content":"hi"}],"max_tokens":8})"},
        bench::HttpOptions{3000, 30000});
    ASSERT_TRUE(done.has_value()) << done.error().to_string();
    EXPECT_EQ(done->status, 200) << done->body;
    EXPECT_EQ(nlohmann::json::parse(done->body)["object"], "chat.completion");
    EXPECT_TRUE(server.is_running());
}

}  // namespace
}  // namespace gannet
