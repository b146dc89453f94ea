// Issue #19 through a real `gannet serve --deterministic margin` on the shipped model: a greedy
// completion gives the same text alone and among 15 concurrent requests (co-batched by the engine),
// /metrics counts MarginGate's verified rows and overrides, the per-request "deterministic" field
// overrides the server's mode, and bad values are 400s naming it. Label slow: it starts a process.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "bench/http_client.h"
#include "json/json.h"
#include "server_process.h"

namespace gannet {
namespace {

struct Reply {
    int status = 0;
    std::string body;
};

Reply post(int port, const std::string& path, const std::string& body) {
    bench::Url url{.host = "127.0.0.1", .port = port, .path_prefix = ""};
    Result<bench::HttpResponse> r =
        bench::http_fetch(url, bench::HttpRequest{"POST", path, {{"Content-Type", "application/json"}}, body},
                          bench::HttpOptions{3000, 120000});
    if (!r.has_value()) {
        return {0, r.error().to_string()};
    }
    return {r->status, r->body};
}

std::string completion_text(const Reply& r) {
    nlohmann::json j = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    if (r.status != 200 || !j.is_object() || !j.contains("choices")) {
        return "<" + std::to_string(r.status) + " " + r.body + ">";
    }
    return j["choices"][0]["text"].get<std::string>();
}

std::string body_for(const std::string& prompt, const std::string& extra = "") {
    return R"({"model":"gannet-default","prompt":)" + nlohmann::json(prompt).dump()
           + R"(,"max_tokens":24,"temperature":0,"ignore_eos":true)" + extra + "}";
}

// The value of an unlabelled metric line ("name value"); -1 when absent.
double metric(int port, const std::string& name) {
    bench::Url url{.host = "127.0.0.1", .port = port, .path_prefix = ""};
    Result<bench::HttpResponse> r =
        bench::http_fetch(url, bench::HttpRequest{"GET", "/metrics", {}, ""}, bench::HttpOptions{3000, 30000});
    if (!r.has_value()) {
        return -1.0;
    }
    const std::string key = "\n" + name + " ";
    const size_t at = r->body.find(key);
    return at == std::string::npos ? -1.0 : std::stod(r->body.substr(at + key.size()));
}

TEST(DeterminismServeTest, MarginGivesTheSameTextAloneAndUnderConcurrentLoad) {
    ServerProcess server(source_dir() + "/models/gannet-default.gguf",
                         {"--deterministic", "margin", "--margin-tau", "1.5"});
    ASSERT_GT(server.port(), 0) << "gannet serve did not start:\n" << server.log();
    const int port = server.port();
    const std::string prompt = "The package manager installs";
    const std::string alone = completion_text(post(port, "/v1/completions", body_for(prompt)));
    ASSERT_EQ(alone.find('<'), std::string::npos) << alone;
    const double verified_alone = metric(port, "gannet_margin_verified_steps_total");
    EXPECT_GT(verified_alone, 0.0) << "tau 1.5 covers some of this model's greedy rows";

    const std::vector<std::string> others = {"Once upon a time", "The kernel module is loaded when",
                                             "Debian is a free operating system that", "To report a bug, send"};
    std::vector<Reply> replies(16);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < replies.size(); ++i) {
        // Every fourth request is the measured prompt; the rest differ in content and length.
        const std::string p = i % 4 == 0 ? prompt : others[i % others.size()] + std::string(i, '.');
        threads.emplace_back([&replies, i, port, p] { replies[i] = post(port, "/v1/completions", body_for(p)); });
    }
    for (std::thread& t : threads) {
        t.join();
    }
    for (size_t i = 0; i < replies.size(); i += 4) {
        EXPECT_EQ(completion_text(replies[i]), alone) << "request " << i;
    }
    EXPECT_GT(metric(port, "gannet_margin_verified_steps_total"), verified_alone);
    EXPECT_EQ(metric(port, "gannet_margin_gated_rows_total"), 17.0 * 24.0);
    // The CPU forward is batch-invariant, so the reference never disagrees here.
    EXPECT_EQ(metric(port, "gannet_margin_overrides_total"), 0.0);

    // Per request: "off" is not verified, "always" verifies every row; the text is the same.
    const double before = metric(port, "gannet_margin_verified_steps_total");
    EXPECT_EQ(completion_text(post(port, "/v1/completions", body_for(prompt, R"(,"deterministic":"off")"))), alone);
    EXPECT_EQ(metric(port, "gannet_margin_verified_steps_total"), before);
    EXPECT_EQ(completion_text(post(port, "/v1/completions", body_for(prompt, R"(,"deterministic":"always")"))), alone);
    EXPECT_EQ(metric(port, "gannet_margin_verified_steps_total"), before + 24.0);

    for (const std::string& bad :
         {std::string(R"(,"deterministic":"sometimes")"), std::string(R"(,"deterministic":1)")}) {
        Reply r = post(port, "/v1/completions", body_for(prompt, bad));
        EXPECT_EQ(r.status, 400) << r.body;
        EXPECT_NE(r.body.find(R"("param":"deterministic")"), std::string::npos) << r.body;
    }
    Reply hot = post(port, "/v1/chat/completions",
                     R"({"model":"gannet-default","messages":[{"role":"user","content":"hi"}],"temperature":0.7,)"
                     R"("deterministic":"margin"})");
    EXPECT_EQ(hot.status, 400) << hot.body;
    EXPECT_NE(hot.body.find("needs temperature 0, got 0.7"), std::string::npos) << hot.body;
}

}  // namespace
}  // namespace gannet
