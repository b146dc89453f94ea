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

TEST(OpenAiJsonTest, SparseAttentionIsOffQuestOrMsa) {
    CompletionRequest r;
    ASSERT_FALSE(
        parse_completion_request(R"({"model":"m","prompt":"x","sparse_attention":"quest"})", false, r).has_value());
    EXPECT_EQ(r.sparse_attention, "quest");
    for (const char* bad : {R"("default")", R"("dense")", "1", "true"}) {
        CompletionRequest t;
        auto e = parse_completion_request(std::string(R"({"model":"m","prompt":"x","sparse_attention":)") + bad + "}",
                                          false, t);
        ASSERT_TRUE(e.has_value()) << bad;
        EXPECT_EQ(e->param, "sparse_attention");
    }
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
    for (
        const Case& c :
        {Case{"{not json", ""}, Case{R"({"messages":[{"role":"user","content":"x"}]})", "model"},
         Case{R"({"model":"m","messages":[]})", "messages"},
         Case{R"({"model":"m","messages":[{"role":"bogus","content":"x"}]})", "messages[0].role"},
         Case{R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3})", "temperature"},
         Case{R"({"model":"m","messages":[{"role":"user","content":"x"}],"top_p":0})", "top_p"},
         Case{R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0})", "max_tokens"},
         Case{R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":17})", "n"},
         Case{R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":5})", "stop"},
         Case{R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"x"}]})",
              "tools[0].function"},
         Case{
             R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"x","function":{"name":"f"}}]})",
             "tools"}}) {
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

// Media parts are kept, in order, with their paths, each at a sentinel in its message's text (the
// route decodes them or refuses them for a text-only model); other part types are refused by name.
TEST(OpenAiJsonTest, MediaPartsAreCollectedAtSentinelsOthersRefused) {
    CompletionRequest r;
    auto err = parse_completion_request(
        R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},)"
        R"({"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},{"type":"text","text":"!"}]},)"
        R"({"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]})",
        true, r);
    ASSERT_FALSE(err.has_value()) << err->message;
    ASSERT_EQ(r.media.size(), 2u);
    EXPECT_EQ(r.media[0].param, "messages[0].content[1]");
    EXPECT_EQ(r.media[0].part["image_url"]["url"], "data:image/png;base64,AAAA");
    EXPECT_EQ(r.media[1].param, "messages[1].content[0]");
    EXPECT_EQ(r.messages[0].content, "what is this?" + media_sentinel() + "!");
    EXPECT_EQ(r.messages[1].content, media_sentinel());
    EXPECT_NE(media_sentinel().find("gannet-media-"), std::string::npos);
    CompletionRequest r2;
    err = parse_completion_request(
        R"({"model":"m","messages":[{"role":"user","content":[{"type":"video_url","video_url":{}}]}]})", true, r2);
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->http_status, 400);
    EXPECT_EQ(err->param, "messages[0].content[0].type");  // the exact part, not just the array
    EXPECT_NE(err->message.find("'video_url' is not supported (text, image_url, input_audio)"), std::string::npos)
        << err->message;
    EXPECT_TRUE(
        parse_completion_request(R"({"model":"m","messages":[{"role":"user","content":5}]})", true, r).has_value());
    CompletionRequest ok;
    ASSERT_FALSE(
        parse_completion_request(
            R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]})",
            true, ok)
            .has_value());
    EXPECT_EQ(ok.messages.at(0).content, "ab");
}

TEST(OpenAiJsonTest, UserIsAStringKeptForTheRequestLog) {
    CompletionRequest r;
    ASSERT_FALSE(parse_completion_request(
                     R"({"model":"m","messages":[{"role":"user","content":"x"}],"user":"agent-7"})", true, r)
                     .has_value());
    EXPECT_EQ(r.user, "agent-7");
    auto err = parse_completion_request(R"({"model":"m","prompt":"x","user":7})", false, r);
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->param, "user");
    err = parse_completion_request(R"({"model":"m","prompt":"x","user":")" + std::string(300, 'a') + R"("})", false, r);
    ASSERT_TRUE(err.has_value());
    EXPECT_NE(err->message.find("at most 256"), std::string::npos) << err->message;
}

// MarginGate (#19): "deterministic" is one of four names; margin and always need greedy decoding.
TEST(OpenAiJsonTest, DeterministicIsValidatedAndKept) {
    CompletionRequest r;
    ASSERT_FALSE(
        parse_completion_request(R"({"model":"m","prompt":"x","temperature":0,"deterministic":"margin"})", false, r)
            .has_value());
    EXPECT_EQ(r.deterministic, "margin");
    CompletionRequest c;
    ASSERT_FALSE(parse_completion_request(
                     R"({"model":"m","messages":[{"role":"user","content":"x"}],"deterministic":"invariant"})", true, c)
                     .has_value());
    EXPECT_EQ(c.deterministic, "invariant");
    CompletionRequest d;
    ASSERT_FALSE(parse_completion_request(R"({"model":"m","prompt":"x"})", false, d).has_value());
    EXPECT_EQ(d.deterministic, "");  // the server's --deterministic
    struct Case {
        const char* body;
        const char* message;
    };
    for (const Case& k : {
             Case{R"({"model":"m","prompt":"x","deterministic":"fast"})",
                  "'deterministic' must be one of off, invariant, margin, always; got 'fast'"},
             Case{R"({"model":"m","prompt":"x","deterministic":true})", "expected"},
             Case{R"({"model":"m","prompt":"x","temperature":0.5,"deterministic":"always"})",
                  "'deterministic' always verifies greedy decoding and needs temperature 0, got 0.5"},
             Case{R"({"model":"m","prompt":"x","deterministic":"margin"})", "needs temperature 0, got 1 (the default)"},
         }) {
        CompletionRequest bad;
        auto err = parse_completion_request(k.body, false, bad);
        ASSERT_TRUE(err.has_value()) << k.body;
        EXPECT_EQ(err->http_status, 400);
        EXPECT_EQ(err->param, "deterministic") << k.body;
        EXPECT_NE(err->message.find(k.message), std::string::npos) << err->message;
    }
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

// Wrong types are a 400 that names the field, down to the message part; a parameter the server
// does not implement is a 400 naming it (never accepted and ignored).
TEST(OpenAiJsonTest, WrongTypesAndUnknownParametersNameTheField) {
    struct Case {
        bool is_chat;
        std::string body;
        const char* param;
        const char* message;
    };
    const std::string m = R"("model":"m",)";
    const std::string user = R"("messages":[{"role":"user","content":"x"}])";
    for (const Case& c : {
             Case{true, R"({"model":"m","messages":[{"role":"user","content":5}]})", "messages[0].content",
                  "Invalid type for 'messages[0].content': expected a string or an array, but got an integer "
                  "instead."},
             Case{true, R"({"model":"m","messages":[{"role":"user"}]})", "messages[0].content",
                  "'messages[0].content' is required for a user message"},
             Case{true, R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":7}]}]})",
                  "messages[0].content[0].text", "but got an integer instead"},
             Case{true, R"({"model":"m","messages":[{"role":"user","content":[{"type":"file"}]}]})",
                  "messages[0].content[0].type", "'file' is not supported"},
             Case{true, R"({"model":"m","messages":["hi"]})", "messages[0]", "but got a string instead"},
             Case{true, R"({"model":"m","messages":[{"role":"tool","content":"x","tool_call_id":1}]})",
                  "messages[0].tool_call_id", "expected a string"},
             Case{true, R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":{}}]}]})",
                  "messages[0].tool_calls[0].function.name",
                  "Missing required parameter: 'messages[0].tool_calls[0].function.name'."},
             Case{true, (std::string("{") + m + user + R"(,"ignore_eos":"yes"})"), "ignore_eos", "expected a boolean"},
             Case{true, (std::string("{") + m + user + R"(,"stream_options":{"include_usage":1}})"),
                  "stream_options.include_usage", "expected a boolean"},
             Case{true, (std::string("{") + m + user + R"(,"stream_options":{"x":true}})"), "stream_options.x",
                  "Unrecognized request argument supplied: stream_options.x"},
             Case{true, (std::string("{") + m + user + R"(,"made_up":1})"), "made_up",
                  "Unrecognized request argument supplied: made_up"},
             Case{true, (std::string("{") + m + user + R"(,"user":["u1"]})"), "user", "expected a string"},
             Case{true, (std::string("{") + m + user + R"(,"prompt":"x"})"), "prompt", "prompt"},
             Case{false, R"({"model":"m","prompt":"x","suffix":"y"})", "suffix", "suffix"},
             Case{false, R"({"model":"m","prompt":"x","echo":1})", "echo", "expected a boolean"},
             Case{false, R"({"model":"m","prompt":"x","n":3,"best_of":2})", "best_of", "[n, 16]"},
             Case{false, R"({"model":"m","prompt":"x","best_of":2,"stream":true})", "best_of", "stream"},
             Case{true, (std::string("{") + m + user + R"(,"echo":true})"), "echo", "Unrecognized"},
             Case{true, (std::string("{") + m + user + R"(,"store":true})"), "store", "does not store"},
             Case{true, (std::string("{") + m + user + R"(,"store":"no"})"), "store", "expected a boolean"},
             Case{true, (std::string("{") + m + user + R"(,"modalities":["text","audio"]})"), "modalities",
                  "text only"},
             Case{true, (std::string("{") + m + user + R"(,"reasoning_effort":"low"})"), "reasoning_effort",
                  "Unrecognized"},
             Case{true, (std::string("{") + m + user + R"(,"functions":[]})"), "functions", "Unrecognized"},
             Case{false, R"({"model":"m","prompt":"x","messages":[]})", "messages", "messages"},
         }) {
        CompletionRequest r;
        auto err = parse_completion_request(c.body, c.is_chat, r);
        ASSERT_TRUE(err.has_value()) << c.body;
        EXPECT_EQ(err->http_status, 400);
        EXPECT_EQ(err->type, "invalid_request_error");
        EXPECT_EQ(err->param, c.param) << c.body;
        EXPECT_NE(err->message.find(c.message), std::string::npos) << err->message;
    }
    // The accepted forms still parse: content parts, an assistant turn with only tool calls, nulls.
    CompletionRequest r;
    EXPECT_FALSE(
        parse_completion_request(
            R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},)"
            R"({"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},)"
            R"({"role":"tool","tool_call_id":"c1","content":"ok"}],"ignore_eos":null,"stream_options":{"include_usage":true}})",
            true, r)
            .has_value());
    EXPECT_EQ(r.messages[0].content, "ab");
    EXPECT_EQ(r.messages[1].tool_calls.at(0).name, "f");
    EXPECT_TRUE(r.include_usage);
    CompletionRequest s;
    EXPECT_FALSE(parse_completion_request(R"({"model":"m","messages":[{"role":"user","content":"x"}],"store":false,)"
                                          R"("modalities":["text"],"safety_identifier":"h1"})",
                                          true, s)
                     .has_value());
    EXPECT_EQ(s.user, "h1");
}

}  // namespace
}  // namespace gannet::server
