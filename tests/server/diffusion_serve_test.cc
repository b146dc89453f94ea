// Issue #18, a block-diffusion model behind a real `gannet serve` (the tiny random diffusion_gemma
// model of tests/fixtures/diffusion, canvas 32): a streamed chat completion arrives one canvas per
// content chunk and its usage counts the tokens; /v1/completions works without streaming; the
// same seed gives the same text; /metrics has gannet_diffusion_steps and tokens per forward; and
// what a diffusion model cannot do is a 400 in OpenAI's error shape (logprobs, a canvas length
// other than the model's, steps out of range, a prompt whose canvas does not fit the context).
#include <gtest/gtest.h>

#include <string>
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

Reply call(int port, const std::string& method, const std::string& path, const std::string& body = "") {
    bench::Url url{.host = "127.0.0.1", .port = port, .path_prefix = ""};
    Result<bench::HttpResponse> r =
        bench::http_fetch(url, bench::HttpRequest{method, path, {{"Content-Type", "application/json"}}, body},
                          bench::HttpOptions{3000, 60000});
    EXPECT_TRUE(r.has_value()) << method << " " << path << ": " << r.error().to_string();
    if (!r.has_value())
        return {};
    return {r->status, r->body};
}

// The JSON objects of an SSE body's "data: " lines, up to [DONE].
std::vector<nlohmann::json> events(const std::string& body) {
    std::vector<nlohmann::json> out;
    size_t pos = 0;
    while ((pos = body.find("data: ", pos)) != std::string::npos) {
        const size_t end = body.find('\n', pos);
        const std::string data = body.substr(pos + 6, end - pos - 6);
        pos = end;
        if (data == "[DONE]")
            break;
        out.push_back(nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false));
    }
    return out;
}

void expect_400(const Reply& r, const std::string& param, const std::string& fragment) {
    EXPECT_EQ(r.status, 400) << r.body;
    const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << r.body;
    const nlohmann::json& e = j["error"];
    for (const char* key : {"message", "type", "param", "code"}) {
        EXPECT_TRUE(e.contains(key)) << key << " missing in " << r.body;
    }
    if (param.empty()) {
        EXPECT_TRUE(e["param"].is_null()) << r.body;
    } else {
        EXPECT_EQ(e["param"], param) << r.body;
    }
    EXPECT_NE(e["message"].get<std::string>().find(fragment), std::string::npos) << r.body;
}

TEST(DiffusionServeTest, StreamsOneCanvasPerChunkAndRefusesWhatItCannotDo) {
    ServerProcess server(source_dir() + "/tests/fixtures/diffusion/diffusion-tiny.gguf");
    ASSERT_GT(server.port(), 0) << "gannet serve did not start:\n" << server.log();
    const int port = server.port();
    const nlohmann::json models = nlohmann::json::parse(call(port, "GET", "/v1/models").body);
    const std::string model = models["data"][0]["id"].get<std::string>();
    const std::string head = R"({"model":")" + model + R"(","messages":[{"role":"user","content":"hi"}])";

    const std::string streamed = head + R"(,"max_tokens":64,"seed":4,"ignore_eos":true,"stream":true,)"
                                 + R"("stream_options":{"include_usage":true}})";
    const Reply s = call(port, "POST", "/v1/chat/completions", streamed);
    ASSERT_EQ(s.status, 200) << s.body;
    int n_content = 0;
    std::string text;
    nlohmann::json usage;
    for (const nlohmann::json& e : events(s.body)) {
        if (e.contains("usage") && e["usage"].is_object())
            usage = e["usage"];
        if (!e.contains("choices") || e["choices"].empty())
            continue;
        const nlohmann::json& d = e["choices"][0]["delta"];
        if (d.contains("content") && d["content"].is_string() && !d["content"].get<std::string>().empty()) {
            ++n_content;
            text += d["content"].get<std::string>();
        }
    }
    EXPECT_GE(n_content, 1);
    EXPECT_LE(n_content, 2) << "two canvases of 32 tokens: at most two content chunks";
    ASSERT_TRUE(usage.is_object()) << s.body;
    EXPECT_EQ(usage["completion_tokens"], 64);
    EXPECT_GT(usage["prompt_tokens"].get<int>(), 0);

    // The same seed, not streamed: the same text.
    const Reply again =
        call(port, "POST", "/v1/chat/completions", head + R"(,"max_tokens":64,"seed":4,"ignore_eos":true})");
    ASSERT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(nlohmann::json::parse(again.body)["choices"][0]["message"]["content"], text);

    const Reply c = call(port, "POST", "/v1/completions",
                         R"({"model":")" + model + R"(","prompt":"abc","max_tokens":32,"diffusion_steps":4})");
    ASSERT_EQ(c.status, 200) << c.body;
    EXPECT_LE(nlohmann::json::parse(c.body)["usage"]["completion_tokens"].get<int>(), 32);

    const std::string metrics = call(port, "GET", "/metrics").body;
    EXPECT_NE(metrics.find("gannet_diffusion_steps "), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("gannet_diffusion_tokens_per_forward "), std::string::npos) << metrics;

    expect_400(call(port, "POST", "/v1/chat/completions", head + R"(,"logprobs":true})"), "logprobs", "logprobs");
    expect_400(call(port, "POST", "/v1/completions", R"({"model":")" + model + R"(","prompt":"a","logprobs":2})"),
               "logprobs", "logprobs");
    // echo's prompt logprobs and best_of's ranking need token logprobs too; plain echo works.
    expect_400(
        call(port, "POST", "/v1/completions", R"({"model":")" + model + R"(","prompt":"a","echo":true,"logprobs":0})"),
        "logprobs", "with 'echo'");
    expect_400(call(port, "POST", "/v1/completions", R"({"model":")" + model + R"(","prompt":"a","best_of":2})"),
               "best_of", "logprobs");
    const Reply echoed = call(port, "POST", "/v1/completions",
                              R"({"model":")" + model + R"(","prompt":"abc","echo":true,"max_tokens":32})");
    ASSERT_EQ(echoed.status, 200) << echoed.body;
    EXPECT_EQ(nlohmann::json::parse(echoed.body)["choices"][0]["text"].get<std::string>().rfind("abc", 0), 0u)
        << echoed.body;
    expect_400(call(port, "POST", "/v1/chat/completions", head + R"(,"canvas_length":16})"), "canvas_length",
               "canvases are 32 tokens");
    expect_400(call(port, "POST", "/v1/chat/completions", head + R"(,"diffusion_steps":0})"), "diffusion_steps",
               "1..4096");
    expect_400(call(port, "POST", "/v1/chat/completions", head + R"(,"top_p":0.5})"), "", "top_p");
    expect_400(call(port, "POST", "/v1/chat/completions", head + R"(,"sparse_attention":"quest"})"), "sparse_attention",
               "diffusion models attend densely");
    // /v1/responses goes through the same preparation and engine.
    const Reply resp =
        call(port, "POST", "/v1/responses", R"({"model":")" + model + R"(","input":"abc","max_output_tokens":32})");
    ASSERT_EQ(resp.status, 200) << resp.body;
    // The canvas is sampled from a time-derived seed (responses take no "seed"): either it ended
    // inside the 32-token budget, or the budget ended it and the response says so.
    const nlohmann::json rj = nlohmann::json::parse(resp.body);
    if (rj["status"] != "completed") {
        EXPECT_EQ(rj["status"], "incomplete") << resp.body;
        EXPECT_EQ(rj["incomplete_details"]["reason"], "max_output_tokens") << resp.body;
        EXPECT_EQ(rj["usage"]["output_tokens"], 32) << resp.body;
    }
    expect_400(call(port, "POST", "/v1/responses", R"({"model":")" + model + R"(","input":"abc","top_p":0.5})"), "",
               "top_p");
    const std::string long_prompt(3000, 'x');
    expect_400(call(port, "POST", "/v1/completions",
                    R"({"model":")" + model + R"(","prompt":")" + long_prompt + R"(","max_tokens":32})"),
               "messages", "maximum context length");
    EXPECT_TRUE(server.is_running()) << server.log();
}

}  // namespace
}  // namespace gannet
