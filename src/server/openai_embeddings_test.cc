// /v1/embeddings' request parsing (the four input forms, the 400s with their param paths) and the
// standard base64 of encoding_format "base64". The vectors themselves are tested end to end in
// tests/openai/api.test.mjs and the hidden rows in runner_test.
#include "server/openai_embeddings.h"

#include <gtest/gtest.h>

namespace gannet::server {
namespace {

TEST(OpenAiEmbeddingsTest, ParsesTheFourInputForms) {
    EmbeddingsRequest a;
    ASSERT_FALSE(parse_embeddings_request(R"({"model":"m","input":"hi","encoding_format":"base64"})", a));
    ASSERT_EQ(a.inputs.size(), 1u);
    EXPECT_EQ(a.inputs[0].text, "hi");
    EXPECT_FALSE(a.inputs[0].is_tokens);
    EXPECT_TRUE(a.is_base64);
    EmbeddingsRequest b;
    ASSERT_FALSE(parse_embeddings_request(R"({"model":"m","input":["x","y"],"dimensions":8,"user":"u"})", b));
    ASSERT_EQ(b.inputs.size(), 2u);
    EXPECT_EQ(b.inputs[1].text, "y");
    EXPECT_EQ(*b.dimensions, 8);
    EmbeddingsRequest c;
    ASSERT_FALSE(parse_embeddings_request(R"({"model":"m","input":[3,4,5]})", c));
    ASSERT_EQ(c.inputs.size(), 1u);
    EXPECT_EQ(c.inputs[0].tokens, (std::vector<int32_t>{3, 4, 5}));
    EmbeddingsRequest d;
    ASSERT_FALSE(parse_embeddings_request(R"({"model":"m","input":[[1],[2,3]],"encoding_format":"float"})", d));
    ASSERT_EQ(d.inputs.size(), 2u);
    EXPECT_TRUE(d.inputs[1].is_tokens);
    EXPECT_EQ(d.inputs[1].tokens, (std::vector<int32_t>{2, 3}));
    EXPECT_FALSE(d.is_base64);
}

TEST(OpenAiEmbeddingsTest, BadRequestsNameTheParameter) {
    const std::pair<const char*, const char*> cases[] = {
        {R"({"model":"m"})", "input"},
        {R"({"model":"m","input":5})", "input"},
        {R"({"model":"m","input":""})", "input"},
        {R"({"model":"m","input":[]})", "input"},
        {R"({"model":"m","input":["a",""]})", "input[1]"},
        {R"({"model":"m","input":["a",[1]]})", "input[1]"},
        {R"({"model":"m","input":[[1],[]]})", "input[1]"},
        {R"({"model":"m","input":[[1],[2,-1]]})", "input[1][1]"},
        {R"({"model":"m","input":[1,"a"]})", "input[1]"},
        {R"({"model":"m","input":"a","encoding_format":"int8"})", "encoding_format"},
        {R"({"model":"m","input":"a","dimensions":0})", "dimensions"},
        {R"({"model":"m","input":"a","dimensions":"8"})", "dimensions"},
        {R"({"model":"m","input":"a","pooling":"max"})", "pooling"},
        {R"({"model":7,"input":"a"})", "model"},
    };
    for (const auto& [body, param] : cases) {
        EmbeddingsRequest r;
        auto err = parse_embeddings_request(body, r);
        ASSERT_TRUE(err.has_value()) << body;
        EXPECT_EQ(err->http_status, 400) << body;
        EXPECT_EQ(err->param, param) << body << ": " << err->message;
    }
    EmbeddingsRequest many;
    std::string list;
    for (int i = 0; i < 2049; ++i)
        list += (i ? ",\"a\"" : "\"a\"");
    auto err = parse_embeddings_request("{\"model\":\"m\",\"input\":[" + list + "]}", many);
    ASSERT_TRUE(err.has_value());
    EXPECT_NE(err->message.find("at most 2048"), std::string::npos) << err->message;
}

TEST(OpenAiEmbeddingsTest, Base64IsRfc4648WithPadding) {
    EXPECT_EQ(base64_encode(""), "");
    EXPECT_EQ(base64_encode("f"), "Zg==");
    EXPECT_EQ(base64_encode("fo"), "Zm8=");
    EXPECT_EQ(base64_encode("foo"), "Zm9v");
    EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64_encode(std::string("\xff\xfe\x00", 3)), "//4A");  // '+' and '/' of the standard alphabet
}

}  // namespace
}  // namespace gannet::server
