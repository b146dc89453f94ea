// Request validation by the JSON Schema validator: the four schemas compile, valid bodies pass
// (including every form the parsers accept), and wrong types are 400s naming the field's path.
#include "server/request_schema.h"

#include <gtest/gtest.h>

namespace gannet::server {
namespace {

using nlohmann::json;

TEST(RequestSchemaTest, ValidBodiesPass) {
    const std::pair<RequestKind, const char*> ok[] = {
        {RequestKind::kChat,
         R"({"model":"m","messages":[{"role":"user","content":"hi"},{"role":"user","content":[{"type":"text","text":"x"}]},
             {"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},
             {"role":"tool","tool_call_id":"c","content":"r"}],
             "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"auto",
             "stop":["a"],"logit_bias":{"5":-1},"response_format":{"type":"json_schema","json_schema":{"name":"a","schema":true}},
             "max_tokens":null,"stream_options":{"include_usage":true}})"},
        {RequestKind::kChat,
         R"({"model":"m","messages":[],"tool_choice":{"type":"function","function":{"name":"f"}}})"},
        {RequestKind::kCompletion, R"({"model":"m","prompt":["p"],"logprobs":2,"stop":"x"})"},
        {RequestKind::kEmbeddings, R"({"model":"m","input":[[1,2],[3]],"encoding_format":"base64"})"},
        {RequestKind::kEmbeddings, R"({"model":"m","input":["a","b"],"dimensions":null})"},
        {RequestKind::kResponses,
         R"({"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"x"}]},
             {"type":"function_call","call_id":"c","name":"f","arguments":"{}"},
             {"type":"function_call_output","call_id":"c","output":"o"}],
             "tools":[{"type":"function","name":"f","parameters":{}}],"tool_choice":{"type":"function","name":"f"},
             "text":{"format":{"type":"json_schema","name":"a","schema":{}}},"metadata":{"k":"v"},"include":[]})"},
    };
    for (const auto& [kind, body] : ok) {
        auto err = check_request_schema(kind, json::parse(body));
        EXPECT_FALSE(err.has_value()) << body << ": " << (err ? err->message : "");
    }
}

TEST(RequestSchemaTest, WrongTypesNameTheFieldPath) {
    struct Case {
        RequestKind kind;
        const char* body;
        const char* param;
    };
    const Case cases[] = {
        {RequestKind::kChat, R"({"model":"m","messages":[{"role":"user","content":5}]})", "messages[0].content"},
        {RequestKind::kChat, R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":3}]}]})",
         "messages[0].content[0].text"},
        {RequestKind::kChat, R"({"model":"m","messages":[],"temperature":"hot"})", "temperature"},
        {RequestKind::kChat, R"({"model":"m","messages":[],"logit_bias":{"12":"x"}})", "logit_bias.12"},
        {RequestKind::kChat, R"({"model":"m","messages":[],"response_format":{"type":"json_schema",
            "json_schema":{"name":"a","strict":"yes"}}})",
         "response_format.json_schema.strict"},
        {RequestKind::kChat, R"({"model":"m","messages":[],"tools":[{"type":"function","function":{"name":1}}]})",
         "tools[0].function.name"},
        {RequestKind::kCompletion, R"({"model":"m","prompt":"p","logprobs":true})", "logprobs"},
        {RequestKind::kEmbeddings, R"({"model":"m","input":[[1,"x"]]})", "input[0][1]"},
        {RequestKind::kResponses,
         R"({"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":1}]}]})",
         "input[0].content[0].text"},
        {RequestKind::kResponses, R"({"model":"m","input":"x","metadata":{"a":1}})", "metadata.a"},
        {RequestKind::kResponses, R"({"model":"m","input":"x","max_output_tokens":"9"})", "max_output_tokens"},
    };
    for (const Case& c : cases) {
        auto err = check_request_schema(c.kind, json::parse(c.body));
        ASSERT_TRUE(err.has_value()) << c.body;
        EXPECT_EQ(err->http_status, 400);
        EXPECT_EQ(err->param, c.param) << c.body << ": " << err->message;
        EXPECT_NE(err->message.find(std::string("'") + c.param + "'"), std::string::npos) << err->message;
    }
    auto merged = check_request_schema(RequestKind::kChat,
                                       json::parse(R"({"model":"m","messages":[{"role":"user","content":5}]})"));
    EXPECT_EQ(merged->message,
              "Invalid type for 'messages[0].content': expected a string or an array, but got an integer instead.")
        << merged->message;
    auto missing = check_request_schema(RequestKind::kEmbeddings, json::parse(R"({"model":"m"})"));
    ASSERT_TRUE(missing.has_value());
    EXPECT_EQ(missing->param, "input");
    EXPECT_EQ(missing->message, "Missing required parameter: 'input'.");
    auto role = check_request_schema(RequestKind::kChat, json::parse(R"({"model":"m","messages":[{"content":"x"}]})"));
    ASSERT_TRUE(role.has_value());
    EXPECT_EQ(role->param, "messages[0].role");
}

TEST(RequestSchemaTest, FieldPathsTellArraysFromDigitKeys) {
    const json body = json::parse(R"({"a":[{"7":{"b/c":[0,1]}}]})");
    EXPECT_EQ(field_path("/a/0/7/b~1c/1", body), "a[0].7.b/c[1]");
    EXPECT_EQ(field_path("", body), "");
}

}  // namespace
}  // namespace gannet::server
