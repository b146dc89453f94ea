// The OpenAI wire mapping: request validation, error bodies, SSE framing and tool-call parsing.
#include "server/openai_json.h"

#include <gtest/gtest.h>

namespace gannet::server {
namespace {

TEST(OpenAiJsonTest, ParsesChatRequest) {
    CompletionRequest r;
    auto err = parse_completion_request(
        R"({"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hi"}]}],
            "stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":7,"temperature":0,
            "top_p":0.5,"seed":3,"stop":["a","b"],"tools":[{"type":"function","function":{"name":"f"}}]})",
        true, r);
    ASSERT_FALSE(err.has_value()) << err->message;
    EXPECT_EQ(r.messages.size(), 2u);
    EXPECT_EQ(r.messages[1].content, "hi");
    EXPECT_TRUE(r.is_stream);
    EXPECT_TRUE(r.include_usage);
    EXPECT_EQ(r.max_tokens, 7);
    EXPECT_EQ(r.temperature, 0.0f);
    EXPECT_EQ(r.top_p, 0.5f);
    EXPECT_EQ(*r.seed, 3u);
    EXPECT_EQ(r.stop.size(), 2u);
    EXPECT_NE(r.tools_json.find("\"f\""), std::string::npos);
}

TEST(OpenAiJsonTest, ParsesGenerationOptions) {
    CompletionRequest r;
    auto err = parse_completion_request(
        R"({"model":"m","messages":[{"role":"user","content":"x"}],
            "response_format":{"type":"json_schema","json_schema":{"name":"p","strict":true,"schema":{"type":"integer"}}},
            "tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"f"}},
            "parallel_tool_calls":false,"logprobs":true,"top_logprobs":4,"logit_bias":{"17":-100,"3":2.5},
            "frequency_penalty":0.5,"presence_penalty":-1,"n":3})",
        true, r);
    ASSERT_FALSE(err.has_value()) << err->message;
    EXPECT_EQ(r.response_format, "json_schema");
    EXPECT_EQ(r.response_schema, nlohmann::json({{"type", "integer"}}));
    EXPECT_TRUE(r.is_schema_strict);
    EXPECT_EQ(r.tool_choice, "named");
    EXPECT_EQ(r.tool_choice_name, "f");
    EXPECT_FALSE(r.is_parallel_tool_calls);
    EXPECT_EQ(r.top_logprobs, 4);
    ASSERT_EQ(r.logit_bias.size(), 2u);
    EXPECT_EQ(r.logit_bias[0], std::make_pair(int32_t{17}, -100.0f));
    EXPECT_EQ(r.frequency_penalty, 0.5f);
    EXPECT_EQ(r.presence_penalty, -1.0f);
    EXPECT_EQ(r.n, 3);
    // Legacy completions: logprobs is a count.
    CompletionRequest t;
    ASSERT_FALSE(parse_completion_request(R"({"model":"m","prompt":"x","logprobs":2})", false, t).has_value());
    EXPECT_EQ(t.top_logprobs, 2);
    // tool_choice required needs tools.
    CompletionRequest u;
    auto e = parse_completion_request(
        R"({"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"required"})", true, u);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->param, "tool_choice");
}

TEST(OpenAiJsonTest, RejectsBadInputWithParam) {
    struct Case {
        const char* body;
        const char* param;
    };
    for (const Case& c :
         {Case{"{not json", ""}, Case{R"({"messages":[{"role":"user","content":"x"}]})", "model"},
          Case{R"({"model":"m","messages":[]})", "messages"},
          Case{R"({"model":"m","messages":[{"role":"bogus","content":"x"}]})", "messages"},
          Case{R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3})", "temperature"},
          Case{R"({"model":"m","messages":[{"role":"user","content":"x"}],"top_p":0})", "top_p"},
          Case{R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0})", "max_tokens"},
          Case{R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":17})", "n"},
          Case{R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":5})", "stop"},
          Case{R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"x"}]})", "tools"}}) {
        CompletionRequest r;
        auto err = parse_completion_request(c.body, true, r);
        ASSERT_TRUE(err.has_value()) << c.body;
        EXPECT_EQ(err->http_status, 400);
        EXPECT_EQ(err->param, c.param) << c.body;
    }
    CompletionRequest r;
    EXPECT_TRUE(parse_completion_request(R"({"model":"m"})", false, r).has_value());
    EXPECT_FALSE(parse_completion_request(R"({"model":"m","prompt":"x"})", false, r).has_value());
}

TEST(OpenAiJsonTest, ErrorBodyShape) {
    EXPECT_EQ(error_body({.http_status = 404,
                          .message = "no",
                          .type = "invalid_request_error",
                          .param = "model",
                          .code = "model_not_found"}),
              R"({"error":{"code":"model_not_found","message":"no","param":"model","type":"invalid_request_error"}})");
    EXPECT_EQ(
        error_body({.http_status = 400, .message = "x", .type = "invalid_request_error", .param = "", .code = ""}),
        R"({"error":{"code":null,"message":"x","param":null,"type":"invalid_request_error"}})");
}

TEST(OpenAiJsonTest, SseFraming) {
    EXPECT_EQ(sse_data(nlohmann::json{{"a", 1}}), "data: {\"a\":1}\n\n");
    EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
}

TEST(OpenAiJsonTest, HermesToolCalls) {
    auto p = parse_tool_calls(
        "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"
        "<tool_call>{\"name\":\"t2\",\"arguments\":{}}</tool_call>");
    ASSERT_EQ(p.calls.size(), 2u);
    EXPECT_EQ(p.calls[0].name, "get_weather");
    EXPECT_EQ(p.calls[0].arguments, R"({"city":"Paris"})");
    EXPECT_EQ(p.calls[0].id, "call_0");
    EXPECT_EQ(p.calls[1].name, "t2");
    EXPECT_EQ(p.content, "Let me check.");
}

TEST(OpenAiJsonTest, Llama3ToolCall) {
    auto p = parse_tool_calls(R"(<|python_tag|>{"name": "search", "parameters": {"q": "x"}})");
    ASSERT_EQ(p.calls.size(), 1u);
    EXPECT_EQ(p.calls[0].name, "search");
    EXPECT_EQ(p.calls[0].arguments, R"({"q":"x"})");
    EXPECT_EQ(p.content, "");
}

TEST(OpenAiJsonTest, GemmaToolCode) {
    auto p = parse_tool_calls("Sure.\n```tool_code\n{\"name\": \"add\", \"parameters\": {\"a\": 1, \"b\": 2}}\n```");
    ASSERT_EQ(p.calls.size(), 1u);
    EXPECT_EQ(p.calls[0].name, "add");
    EXPECT_EQ(p.calls[0].arguments, R"({"a":1,"b":2})");
    EXPECT_EQ(p.content, "Sure.");
}

TEST(OpenAiJsonTest, PlainTextAndBrokenCallsStayContent) {
    EXPECT_TRUE(parse_tool_calls("hello {world}").calls.empty());
    auto p = parse_tool_calls("<tool_call>{broken</tool_call>");
    EXPECT_TRUE(p.calls.empty());
    EXPECT_EQ(p.content, "<tool_call>{broken</tool_call>");
    EXPECT_EQ(parse_tool_calls("{\"foo\": 1}").content, "{\"foo\": 1}");
}

}  // namespace
}  // namespace gannet::server
