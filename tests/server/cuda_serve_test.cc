// `gannet serve --device cuda` on the shipped model answering real HTTP requests (label gpu: needs
// a GPU; CPU CI skips it). The CUDA server's greedy completion equals the CPU server's, a streamed
// chat completion arrives as SSE chunks ending in [DONE] with usage, 8 concurrent requests all
// complete, and `--deterministic margin` verifies rows on the CUDA reference path (/metrics).
// tests/openai/cuda.test.mjs does the same through the `openai` npm client where node exists.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "bench/http_client.h"
#include "json/json.h"
#include "server_process.h"

namespace gannet {
namespace {

const std::string kModel = source_dir() + "/models/gannet-default.gguf";

struct Reply {
    int status = 0;
    std::string body;
};

Reply request(int port, const std::string& method, const std::string& path, const std::string& body) {
    bench::Url url{.host = "127.0.0.1", .port = port, .path_prefix = ""};
    Result<bench::HttpResponse> r =
        bench::http_fetch(url, bench::HttpRequest{method, path, {{"Content-Type", "application/json"}}, body},
                          bench::HttpOptions{3000, 120000});
    if (!r.has_value()) {
        return {0, r.error().to_string()};
    }
    return {r->status, r->body};
}

std::string completion_body(const std::string& prompt, bool is_stream = false) {
    return R"({"model":"gannet-default","prompt":)" + nlohmann::json(prompt).dump()
           + R"(,"max_tokens":16,"temperature":0,"ignore_eos":true)" + (is_stream ? R"(,"stream":true)" : "") + "}";
}

// The completion's text, or "<status body>" when the reply is not a completion.
std::string text_of(const Reply& r) {
    nlohmann::json j = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    if (r.status != 200 || !j.is_object() || !j.contains("choices")) {
        return "<" + std::to_string(r.status) + " " + r.body + ">";
    }
    EXPECT_EQ(j["usage"]["completion_tokens"].get<int>(), 16) << r.body;
    return j["choices"][0]["text"].get<std::string>();
}

TEST(ServeCudaTest, AnswersLikeTheCpuServerStreamsAndTakesConcurrentRequests) {
    ServerProcess cuda(kModel, {"--device", "cuda"});
    ASSERT_GT(cuda.port(), 0) << "gannet serve --device cuda did not start:\n" << cuda.log();
    const std::string prompt = "The package manager installs";
    const std::string on_gpu = text_of(request(cuda.port(), "POST", "/v1/completions", completion_body(prompt)));
    ASSERT_EQ(on_gpu.find('<'), std::string::npos) << on_gpu;
    {
        ServerProcess cpu;
        ASSERT_GT(cpu.port(), 0) << cpu.log();
        EXPECT_EQ(on_gpu, text_of(request(cpu.port(), "POST", "/v1/completions", completion_body(prompt))))
            << "greedy text on cuda and on the cpu";
    }

    const std::string chat = R"({"model":"gannet-default","messages":[{"role":"user","content":"Hello"}],)"
                             R"("max_tokens":8,"stream":true,"stream_options":{"include_usage":true}})";
    const Reply streamed = request(cuda.port(), "POST", "/v1/chat/completions", chat);
    EXPECT_EQ(streamed.status, 200) << streamed.body;
    EXPECT_NE(streamed.body.find("data: {"), std::string::npos) << streamed.body;
    EXPECT_NE(streamed.body.find("\"usage\""), std::string::npos) << streamed.body;
    EXPECT_NE(streamed.body.find("data: [DONE]"), std::string::npos) << streamed.body;

    std::vector<Reply> replies(8);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < replies.size(); ++i) {
        const std::string p = prompt + std::string(i, '.');
        threads.emplace_back([&replies, i, &cuda, p] {
            replies[i] = request(cuda.port(), "POST", "/v1/completions", completion_body(p));
        });
    }
    for (std::thread& t : threads) {
        t.join();
    }
    for (const Reply& r : replies) {
        EXPECT_EQ(text_of(r).find('<'), std::string::npos) << r.body;
    }
    EXPECT_EQ(text_of(replies[0]), on_gpu) << "the same prompt among 7 others";
}

TEST(ServeCudaTest, MarginGateVerifiesOnTheCudaReferencePath) {
    ServerProcess cuda(kModel, {"--device", "cuda", "--deterministic", "margin", "--margin-tau", "1.5"});
    ASSERT_GT(cuda.port(), 0) << cuda.log();
    const Reply r = request(cuda.port(), "POST", "/v1/completions", completion_body("Once upon a time"));
    ASSERT_EQ(text_of(r).find('<'), std::string::npos) << r.body;
    const Reply m = request(cuda.port(), "GET", "/metrics", "");
    ASSERT_EQ(m.status, 200);
    const std::string key = "\ngannet_margin_verified_steps_total ";
    const size_t at = m.body.find(key);
    ASSERT_NE(at, std::string::npos) << m.body;
    EXPECT_GT(std::stod(m.body.substr(at + key.size())), 0.0) << "tau 1.5 covers some greedy rows";
}

}  // namespace
}  // namespace gannet
