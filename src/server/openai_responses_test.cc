// The Responses request translated into the chat request the engine path runs: input items,
// instructions, tools, tool_choice, text.format, storage; and the 400s with Responses' param paths.
#include "server/openai_responses.h"

#include <gtest/gtest.h>

#include "server/response_store.h"

namespace gannet::server {
namespace {

using nlohmann::json;

TEST(OpenAiResponsesTest, TranslatesItemsToolsAndFormat) {
    ResponsesRequest r;
    auto err = parse_responses_request(
        R"({"model":"m","instructions":"be brief","input":[
              {"role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_text","text":"b"}]},
              {"type":"function_call","call_id":"c1","name":"f","arguments":"{\"x\":1}"},
              {"type":"function_call","call_id":"c2","name":"g","arguments":"{}"},
              {"type":"function_call_output","call_id":"c1","output":"ok"}],
            "tools":[{"type":"function","name":"f","parameters":{"type":"object"}},{"type":"function","name":"g"}],
            "tool_choice":{"type":"function","name":"f"},"max_output_tokens":9,"temperature":0.5,"store":false,
            "text":{"format":{"type":"json_schema","name":"s","schema":{"type":"object"},"strict":true}}})",
        nullptr, r);
    ASSERT_FALSE(err.has_value()) << err->param << ": " << err->message;
    const CompletionRequest& c = r.chat;
    ASSERT_EQ(c.messages.size(), 4u);  // system, user, one assistant turn with both calls, tool
    EXPECT_EQ(c.messages[0].role, "system");
    EXPECT_EQ(c.messages[0].content, "be brief");
    EXPECT_EQ(c.messages[1].content, "ab");
    ASSERT_EQ(c.messages[2].tool_calls.size(), 2u);
    EXPECT_EQ(c.messages[2].tool_calls[0].id, "c1");
    EXPECT_EQ(c.messages[2].tool_calls[1].name, "g");
    EXPECT_EQ(c.messages[3].role, "tool");
    EXPECT_EQ(c.messages[3].tool_call_id, "c1");
    EXPECT_EQ(c.tool_choice, "named");
    EXPECT_EQ(c.tool_choice_name, "f");
    EXPECT_NE(c.tools_json.find(R"("function":{"name":"f")"), std::string::npos) << c.tools_json;
    EXPECT_EQ(c.max_tokens, 9);
    EXPECT_EQ(c.temperature, 0.5f);
    EXPECT_EQ(c.response_format, "json_schema");
    EXPECT_TRUE(c.is_schema_strict);
    EXPECT_FALSE(r.is_store);
    EXPECT_EQ(r.echo["store"], false);
    EXPECT_EQ(r.echo["instructions"], "be brief");
    EXPECT_EQ(r.conversation.size(), 3u);  // the instructions are not part of what is stored
}

TEST(OpenAiResponsesTest, PreviousResponseIdContinuesTheStoredConversation) {
    ResponseStore store;
    const json before =
        json::array({{{"role", "user"}, {"content", "hi"}}, {{"role", "assistant"}, {"content", "yo"}}});
    ASSERT_TRUE(store.put("resp_1", before, json::object()));
    ResponsesRequest r;
    ASSERT_FALSE(parse_responses_request(R"({"model":"m","input":"more","previous_response_id":"resp_1"})", &store, r));
    ASSERT_EQ(r.chat.messages.size(), 3u);
    EXPECT_EQ(r.chat.messages[1].content, "yo");
    EXPECT_EQ(r.chat.messages[2].content, "more");
    EXPECT_EQ(r.echo["previous_response_id"], "resp_1");
    ResponsesRequest unknown;
    auto err = parse_responses_request(R"({"model":"m","input":"x","previous_response_id":"resp_2"})", &store, unknown);
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->param, "previous_response_id");
    EXPECT_EQ(err->code, "previous_response_not_found");
}

TEST(OpenAiResponsesTest, BadRequestsNameTheResponsesParameter) {
    const std::pair<const char*, const char*> cases[] = {
        {R"({"model":"m"})", "input"},
        {R"({"model":"m","input":"x","reasoning":{}})", "reasoning"},
        {R"({"model":"m","input":[{"type":"reasoning"}]})", "input[0].type"},
        {R"({"model":"m","input":[{"role":"robot","content":"x"}]})", "input[0].role"},
        {R"({"model":"m","input":[{"role":"user"}]})", "input[0].content"},
        {R"({"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]})", "input[0].call_id"},
        {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_file"}]}]})", "input[0].content[0].type"},
        {R"({"model":"m","input":"x","tools":[{"type":"file_search"}]})", "tools[0].type"},
        {R"({"model":"m","input":"x","tools":[{"type":"function","name":"f","bogus":1}]})", "tools[0].bogus"},
        {R"({"model":"m","input":"x","tool_choice":{"type":"mcp"}})", "tool_choice"},
        {R"({"model":"m","input":"x","tool_choice":"sometimes"})", "tool_choice"},
        {R"({"model":"m","input":"x","text":{"format":{"type":"json_schema"}}})", "text.format.name"},
        {R"({"model":"m","input":"x","text":{"verbosity":"low"}})", "text.verbosity"},
        {R"({"model":"m","input":"x","max_output_tokens":0})", "max_output_tokens"},
        {R"({"model":"m","input":"x","truncation":"auto"})", "truncation"},
        {R"({"model":"m","input":"x","include":["reasoning.encrypted_content"]})", "include[0]"},
        {R"({"model":"m","input":"x","metadata":{"k":"v","n":2}})", "metadata.n"},
        {R"({"input":"x"})", "model"},
    };
    for (const auto& [body, param] : cases) {
        ResponsesRequest r;
        auto err = parse_responses_request(body, nullptr, r);
        ASSERT_TRUE(err.has_value()) << body;
        EXPECT_EQ(err->http_status, 400) << body;
        EXPECT_EQ(err->param, param) << body << ": " << err->message;
    }
}

}  // namespace
}  // namespace gannet::server
