#include "bench/chat_stream.h"

#include <gtest/gtest.h>

#include "bench/loopback_server_for_test.h"
#include "json/json.h"

namespace gannet::bench {
namespace {

const std::vector<Message> kMessages = {{"system", "be brief"}, {"user", "hi"}};

// A llama.cpp-style stream (usage + timings in the final chunk) cut into awkward pieces.
std::vector<std::string> llama_style_stream() {
    const std::string body =
        "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"\"}}]}\n\n"
        "data: {\"choices\":[{\"finish_reason\":\"length\",\"delta\":{}}],\"usage\":{\"completion_tokens\":3,"
        "\"prompt_tokens\":40,\"total_tokens\":43},\"timings\":{\"prompt_n\":8}}\n\n"
        "data: [DONE]\n\n";
    std::vector<std::string> pieces = {"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"};
    for (size_t i = 0; i < body.size(); i += 7) {
        pieces.push_back(body.substr(i, 7));
    }
    return pieces;
}

TEST(ChatStreamTest, RequestBodyAsksForUsageAndIgnoresEos) {
    ChatRequest req{kMessages, 17, "m", true, ""};
    const nlohmann::json body = json::parse(chat_request_body(req)).value();
    EXPECT_EQ(body["max_tokens"], 17);
    EXPECT_EQ(body["stream"], true);
    EXPECT_EQ(body["stream_options"]["include_usage"], true);
    EXPECT_EQ(body["ignore_eos"], true);
    EXPECT_EQ(body["messages"].size(), 2u);
    EXPECT_EQ(body["messages"][1]["content"], "hi");
    req.is_ignore_eos = false;
    EXPECT_FALSE(json::parse(chat_request_body(req)).value().contains("ignore_eos"));
}

TEST(ChatStreamTest, CountsChunksTimesAndUsageOverARealSocket) {
    LoopbackServer server(llama_style_stream());
    Result<StepSample> r = stream_chat(parse_url(server.url()).value(), ChatRequest{kMessages, 3, "m", true, "k"}, {});
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    EXPECT_EQ(r->n_chunks, 3);  // the role-only chunk is no token; llama.cpp's held-back "" is one
    EXPECT_EQ(r->n_tokens_usage, 3);
    EXPECT_EQ(r->n_tokens(), r->n_chunks);  // tokens counted == tokens received
    EXPECT_EQ(r->n_tokens_prompt, 40);
    EXPECT_EQ(r->n_tokens_cached, 32);  // 40 prompt tokens, 8 computed
    EXPECT_EQ(r->finish_reason, "length");
    EXPECT_EQ(r->itl_ms.size(), 2u);
    EXPECT_GT(r->ttft_ms, 0);
    EXPECT_GE(r->e2e_ms, r->ttft_ms + r->decode_ms);
    EXPECT_NEAR(r->decode_ms, r->itl_ms[0] + r->itl_ms[1], 0.01);
    EXPECT_NEAR(r->tpot_ms(), r->decode_ms / 2, 1e-9);
    const std::string req = server.requests().at(0);
    EXPECT_TRUE(req.starts_with("POST /v1/chat/completions HTTP/1.1\r\n"));
    EXPECT_NE(req.find("Authorization: Bearer k\r\n"), std::string::npos);
}

TEST(ChatStreamTest, OpenAiStyleUsageChunkWithCachedTokens) {
    StepSample s;
    bool is_done = false;
    ASSERT_TRUE(
        apply_chat_event(R"({"choices":[{"delta":{"role":"assistant","content":""}}]})", 1.0, &s, &is_done).ok());
    EXPECT_EQ(s.n_chunks, 0);  // OpenAI's opening chunk is not a token
    ASSERT_TRUE(apply_chat_event(R"({"choices":[{"delta":{"content":"x"}}]})", 5.0, &s, &is_done).ok());
    ASSERT_TRUE(
        apply_chat_event(
            R"({"choices":[],"usage":{"completion_tokens":1,"prompt_tokens":100,"prompt_tokens_details":{"cached_tokens":64}}})",
            6.0, &s, &is_done)
            .ok());
    ASSERT_TRUE(apply_chat_event("[DONE]", 7.0, &s, &is_done).ok());
    EXPECT_TRUE(is_done);
    EXPECT_EQ(s.n_tokens_cached, 64);
    EXPECT_EQ(s.ttft_ms, 5.0);
    EXPECT_EQ(s.tpot_ms(), -1);  // one token: no decode speed
}

TEST(ChatStreamTest, HttpErrorQuotesStatusAndBody) {
    const std::string body = "{\"error\":{\"message\":\"context size exceeded\"}}";
    LoopbackServer server(
        {"HTTP/1.1 400 Bad Request\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n", body});
    Result<StepSample> r = stream_chat(parse_url(server.url()).value(), ChatRequest{kMessages, 3, "m", true, ""}, {});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message().find("HTTP 400: {\"error\":{\"message\":\"context size exceeded\"}}"),
              std::string::npos)
        << r.error().message();
}

TEST(ChatStreamTest, ErrorInsideTheStreamIsReported) {
    LoopbackServer server({"HTTP/1.1 200 OK\r\n\r\n", "data: {\"error\":{\"message\":\"out of KV blocks\"}}\n\n"});
    Result<StepSample> r = stream_chat(parse_url(server.url()).value(), ChatRequest{kMessages, 3, "m", true, ""}, {});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kInternal);
    EXPECT_NE(r.error().message().find("out of KV blocks"), std::string::npos);
}

TEST(ChatStreamTest, AnswerHeldBackUntilTheEndStillHasATtft) {
    StepSample s;
    bool is_done = false;
    ASSERT_TRUE(
        apply_chat_event(R"({"choices":[{"finish_reason":"length","delta":{}}],"usage":{"completion_tokens":4}})", 9.0,
                         &s, &is_done)
            .ok());
    EXPECT_EQ(s.ttft_ms, 9.0);
    EXPECT_EQ(s.n_chunks, 0);
    EXPECT_EQ(s.n_tokens(), 4);
    EXPECT_EQ(s.tpot_ms(), -1);  // no chunk timing to measure decode speed from
}

TEST(ChatStreamTest, MalformedChunkIsDataLoss) {
    StepSample s;
    bool is_done = false;
    EXPECT_EQ(apply_chat_event("{\"choices\": [", 1.0, &s, &is_done).code(), ErrorCode::kDataLoss);
}

}  // namespace
}  // namespace gannet::bench
