#include "json/json.h"

#include <gtest/gtest.h>

#include <string>

namespace gannet::json {
namespace {

TEST(JsonParseTest, ParsesValidDocument) {
    Result<nlohmann::json> r = parse(R"({"a": [1, 2.5, "x"]})");
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    EXPECT_EQ((*r)["a"][1].get<double>(), 2.5);
}

TEST(JsonParseTest, MalformedJsonIsInvalidArgument) {
    Result<nlohmann::json> r = parse("{\"a\": }");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message().find("json:"), std::string::npos);
}

TEST(JsonParseTest, DeepNestingIsRefusedBeforeParsing) {
    std::string deep(100000, '[');
    deep += std::string(100000, ']');
    Result<nlohmann::json> r = parse(deep);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kResourceExhausted);
}

TEST(JsonParseTest, BracketsInsideStringsDoNotCount) {
    ParseLimits limits;
    limits.max_depth = 2;
    EXPECT_TRUE(parse(R"([["[[[[\"{{{{"]])", limits).has_value());
    EXPECT_FALSE(parse("[[[1]]]", limits).has_value());
}

TEST(JsonParseTest, OversizedDocumentIsRefused) {
    ParseLimits limits;
    limits.max_size_bytes = 4;
    Result<nlohmann::json> r = parse("[1,2,3]", limits);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kResourceExhausted);
}

TEST(JsonParseTest, MissingFileIsNotFound) {
    Result<nlohmann::json> r = parse_file("/nonexistent/file.json");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
}

TEST(JsonPointerTest, EscapesTildeAndSlash) {
    EXPECT_EQ(escape_pointer_token("a/b~c"), "a~1b~0c");
}

}  // namespace
}  // namespace gannet::json
