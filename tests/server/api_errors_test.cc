// Issue #16, the OpenAI API surface of a real `gannet serve` on the default model: every error on
// every route is {"error": {"message", "type", "param", "code"}} with the right status (404, 405,
// 413, 431, 400 for wrong types and unknown parameters, 403 for a foreign Host or Origin on /v1),
// and /v1/models/{id} answers the served model and 404s any other. Label slow: it starts a process.
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
    nlohmann::json body;
};

Reply call(int port, const std::string& method, const std::string& path, const std::string& body,
           std::vector<std::pair<std::string, std::string>> headers = {}) {
    bench::Url url{.host = "127.0.0.1", .port = port, .path_prefix = ""};
    headers.emplace_back("Content-Type", "application/json");
    Result<bench::HttpResponse> r =
        bench::http_fetch(url, bench::HttpRequest{method, path, headers, body}, bench::HttpOptions{3000, 30000});
    EXPECT_TRUE(r.has_value()) << method << " " << path << ": " << r.error().to_string();
    if (!r.has_value())
        return {};
    return {r->status, nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false)};
}

// The OpenAI error shape, with the expected param (empty: null) and a message fragment.
void expect_error(const Reply& r, int status, const std::string& param, const std::string& fragment) {
    EXPECT_EQ(r.status, status) << r.body.dump();
    ASSERT_TRUE(r.body.is_object() && r.body.contains("error") && r.body["error"].is_object()) << r.body.dump();
    const nlohmann::json& e = r.body["error"];
    for (const char* key : {"message", "type", "param", "code"}) {
        EXPECT_TRUE(e.contains(key)) << key << " missing in " << r.body.dump();
    }
    EXPECT_TRUE(e["message"].is_string() && e["type"].is_string());
    if (param.empty()) {
        EXPECT_TRUE(e["param"].is_null()) << r.body.dump();
    } else {
        EXPECT_EQ(e["param"], param) << r.body.dump();
    }
    EXPECT_NE(e["message"].get<std::string>().find(fragment), std::string::npos) << r.body.dump();
}

TEST(ApiErrorsTest, EveryErrorIsOpenAiShapedAndModelsById) {
    ServerProcess server;
    ASSERT_GT(server.port(), 0) << "gannet serve did not start:\n" << server.log();
    const int port = server.port();
    const std::string chat = "/v1/chat/completions";
    const std::string ok_chat =
        R"({"model":"gannet-default","messages":[{"role":"user","content":"hi"}],"max_tokens":2)";

    expect_error(call(port, "GET", "/v1/nope", ""), 404, "", "Invalid URL (GET /v1/nope)");
    expect_error(call(port, "GET", chat, ""), 405, "", "allowed: POST");
    expect_error(call(port, "POST", chat, std::string(5 << 20, ' ')), 413, "", "exceeds the limit");
    expect_error(call(port, "POST", chat, ok_chat + "}", {{"X-Big", std::string(70 << 10, 'a')}}), 431, "",
                 "headers exceed the limit");
    for (const std::string& route :
         {chat, std::string("/v1/completions"), std::string("/v1/embeddings"), std::string("/v1/responses")}) {
        expect_error(call(port, "POST", route, "{oops"), 400, "", "could not parse the JSON body");
        expect_error(call(port, "POST", route, R"({"model":"gannet-default","made_up":1})"), 400, "made_up",
                     "Unrecognized request argument supplied: made_up");
        expect_error(call(port, "POST", route, R"({"model":"gannet-default","user":5})"), 400, "user",
                     "Invalid type for 'user': expected a string, but got an integer instead.");
        if (route != chat && route != "/v1/completions")
            continue;
        expect_error(
            call(port, "POST", route, R"({"model":"nope","prompt":"x","messages":[{"role":"user","content":"x"}]})"),
            400, route == chat ? "prompt" : "messages", "Unrecognized request argument");
    }
    expect_error(call(port, "POST", chat, R"({"model":"gannet-default","messages":[{"role":"user","content":5}]})"),
                 400, "messages[0].content", "expected a string or an array, but got an integer");
    expect_error(call(port, "POST", chat, ok_chat + R"(,"temperature":"hot"})"), 400, "temperature", "temperature");
    expect_error(call(port, "POST", "/v1/completions", R"({"model":"gannet-default","prompt":7})"), 400, "prompt",
                 "prompt");
    expect_error(call(port, "POST", chat, R"({"model":"other","messages":[{"role":"user","content":"hi"}]})"), 404,
                 "model", "does not exist");

    // Host/Origin on /v1, as on /mcp: a page on another site cannot post to the local model.
    expect_error(call(port, "POST", chat, ok_chat + "}", {{"Origin", "https://evil.example"}}), 403, "",
                 "Origin not allowed");
    // The client sends its own Host too: the two arrive joined ("127.0.0.1:N, evil.example"), which
    // must not pass for loopback either.
    expect_error(call(port, "GET", "/v1/models", "", {{"Host", "evil.example"}}), 403, "", "Host not allowed");
    EXPECT_EQ(call(port, "POST", chat, ok_chat + "}", {{"Origin", "http://localhost:3000"}}).status, 200);

    Reply model = call(port, "GET", "/v1/models/gannet-default", "");
    EXPECT_EQ(model.status, 200);
    EXPECT_EQ(model.body["id"], "gannet-default");
    EXPECT_EQ(model.body["object"], "model");
    Reply missing = call(port, "GET", "/v1/models/gpt-4o", "");
    expect_error(missing, 404, "model", "The model 'gpt-4o' does not exist");
    EXPECT_EQ(missing.body["error"]["code"], "model_not_found");
    EXPECT_TRUE(server.is_running());
}

}  // namespace
}  // namespace gannet
