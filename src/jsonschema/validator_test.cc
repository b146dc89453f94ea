#include "jsonschema/validator.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace gannet::jsonschema {
namespace {

using nlohmann::json;

Validator compile_ok(const json& schema, const CompileOptions& options = {}) {
    Result<Validator> v = Validator::compile(schema, options);
    EXPECT_TRUE(v.has_value()) << v.error().to_string();
    return std::move(v).value();
}

const json kToolSchema = json::parse(R"({
  "type": "object",
  "properties": {
    "path": {"type": "string", "minLength": 1},
    "mode": {"enum": ["read", "write"]},
    "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
    "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}
  },
  "required": ["path"],
  "additionalProperties": false
})");

TEST(ValidatorTest, ToolSchemaAcceptsAndRejects) {
    const Validator v = compile_ok(kToolSchema);
    EXPECT_TRUE(v.validate(json::parse(R"({"path": "/a", "mode": "read", "limit": 10, "tags": ["x"]})")));
    EXPECT_FALSE(v.validate(json::parse(R"({"mode": "read"})")));
    EXPECT_FALSE(v.validate(json::parse(R"({"path": "/a", "extra": 1})")));
    EXPECT_FALSE(v.validate(json::parse(R"({"path": "/a", "limit": 0})")));
    EXPECT_FALSE(v.validate(json::parse(R"({"path": "/a", "tags": ["x", "x"]})")));
}

TEST(ValidatorTest, BasicOutputNamesLocationsAndMessages) {
    const Validator v = compile_ok(kToolSchema);
    const ValidationResult r = v.validate(json::parse(R"({"limit": "ten", "extra": true})"), OutputFormat::kBasic);
    ASSERT_FALSE(r.valid);
    bool saw_required = false, saw_type = false, saw_extra = false;
    for (const OutputUnit& e : r.errors) {
        if (e.keyword_location == "/required") {
            saw_required = true;
            EXPECT_EQ(e.instance_location, "");
            EXPECT_NE(e.error.find("'path'"), std::string::npos);
        }
        if (e.keyword_location == "/properties/limit/type") {
            saw_type = true;
            EXPECT_EQ(e.instance_location, "/limit");
            EXPECT_EQ(e.absolute_keyword_location, "urn:gannet:schema#/properties/limit/type");
        }
        if (e.keyword_location == "/additionalProperties") {
            saw_extra = true;
            EXPECT_EQ(e.instance_location, "/extra");
        }
    }
    EXPECT_TRUE(saw_required && saw_type && saw_extra) << r.to_json(OutputFormat::kBasic).dump(2);
    const json out = r.to_json(OutputFormat::kBasic);
    EXPECT_EQ(out["valid"], false);
    EXPECT_TRUE(out["errors"][0].contains("absoluteKeywordLocation"));
}

TEST(ValidatorTest, KeywordLocationFollowsRefs) {
    const Validator v =
        compile_ok(json::parse(R"({"$defs": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/n"}}})"));
    const ValidationResult r = v.validate(json::parse(R"({"a": "x"})"), OutputFormat::kBasic);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].keyword_location, "/properties/a/$ref/type");
    EXPECT_EQ(r.errors[0].absolute_keyword_location, "urn:gannet:schema#/$defs/n/type");
}

TEST(ValidatorTest, ValidInstanceHasNoErrors) {
    const Validator v = compile_ok(kToolSchema);
    const ValidationResult r = v.validate(json::parse(R"({"path": "x"})"), OutputFormat::kBasic);
    EXPECT_TRUE(r.valid);
    EXPECT_TRUE(r.errors.empty());
    EXPECT_EQ(r.to_json(OutputFormat::kBasic), json::parse(R"({"valid": true})"));
}

TEST(ValidatorTest, RegisteredSchemasResolveByUri) {
    SchemaRegistry registry;
    ASSERT_TRUE(
        registry.add("https://example.com/point.json", json::parse(R"({"type": "object", "required": ["x", "y"]})"))
            .ok());
    CompileOptions options;
    options.registry = &registry;
    const Validator v = compile_ok(json::parse(R"({"$ref": "https://example.com/point.json"})"), options);
    EXPECT_TRUE(v.validate(json::parse(R"({"x": 1, "y": 2})")));
    EXPECT_FALSE(v.validate(json::parse(R"({"x": 1})")));
}

TEST(ValidatorTest, UnknownExternalRefIsNotFoundAndNeverFetched) {
    Result<Validator> v = Validator::compile(json::parse(R"({"$ref": "https://example.com/nowhere.json"})"));
    ASSERT_FALSE(v.has_value());
    EXPECT_EQ(v.error().code(), ErrorCode::kNotFound);
    EXPECT_NE(v.error().message().find("nowhere.json"), std::string::npos);
}

TEST(ValidatorTest, MalformedSchemasAreInvalidArgument) {
    for (const char* text : {R"({"type": "strin"})", R"({"minLength": -1})", R"({"pattern": "("})", R"({"allOf": []})",
                             R"({"$ref": "#/$defs/missing"})", R"(42)", R"({"multipleOf": 0})"}) {
        Result<Validator> v = Validator::compile(json::parse(text));
        ASSERT_FALSE(v.has_value()) << text;
        EXPECT_EQ(v.error().code(), ErrorCode::kInvalidArgument) << text << ": " << v.error().to_string();
    }
}

TEST(ValidatorTest, InPlaceReferenceCycleIsRefused) {
    Result<Validator> v = Validator::compile(json::parse(
        R"({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"allOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"})"));
    ASSERT_FALSE(v.has_value());
    EXPECT_NE(v.error().message().find("cycle"), std::string::npos) << v.error().to_string();
}

TEST(ValidatorTest, RecursiveSchemaThatConsumesTheInstanceIsFine) {
    const Validator v = compile_ok(json::parse(R"({"type": "array", "items": {"$ref": "#"}})"));
    EXPECT_TRUE(v.validate(json::parse("[[], [[]]]")));
    EXPECT_FALSE(v.validate(json::parse("[[], [1]]")));
}

TEST(ValidatorTest, DeepInstanceHitsTheDepthLimitWithAClearError) {
    CompileOptions options;
    options.max_eval_depth = 100;
    const Validator v = compile_ok(json::parse(R"({"items": {"$ref": "#"}})"), options);
    json deep = json::array();
    for (int i = 0; i < 200; ++i) {
        deep = json::array({deep});
    }
    EXPECT_FALSE(v.validate(deep));
    const ValidationResult r = v.validate(deep, OutputFormat::kBasic);
    ASSERT_FALSE(r.valid);
    EXPECT_NE(r.errors.back().error.find("depth"), std::string::npos);
}

TEST(ValidatorTest, CatastrophicRegexFailsFastInsteadOfHanging) {
    const Validator v = compile_ok(json::parse(R"({"pattern": "^(a+)+$"})"));
    const json evil = std::string(40, 'a') + "!";
    const auto start = std::chrono::steady_clock::now();
    const ValidationResult r = v.validate(evil, OutputFormat::kBasic);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_FALSE(r.valid);
    EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 2000);
}

TEST(ValidatorTest, FormatIsAnnotationByDefaultAndAssertedOnRequest) {
    const json schema = json::parse(R"({"format": "ipv4"})");
    EXPECT_TRUE(compile_ok(schema).validate(json("not an ip")));
    CompileOptions options;
    options.format = FormatMode::kAssert;
    const Validator strict = compile_ok(schema, options);
    EXPECT_FALSE(strict.validate(json("not an ip")));
    EXPECT_TRUE(strict.validate(json("10.0.0.1")));
}

TEST(ValidatorTest, NumbersCompareByValue) {
    EXPECT_TRUE(compile_ok(json::parse(R"({"const": 1})")).validate(json::parse("1.0")));
    EXPECT_TRUE(compile_ok(json::parse(R"({"enum": [[1, {"a": 2.0}]]})")).validate(json::parse(R"([1.0, {"a": 2}])")));
    EXPECT_TRUE(compile_ok(json::parse(R"({"type": "integer"})")).validate(json::parse("1.0")));
    EXPECT_TRUE(compile_ok(json::parse(R"({"multipleOf": 0.01})")).validate(json::parse("19.99")));
    EXPECT_FALSE(compile_ok(json::parse(R"({"multipleOf": 0.01})")).validate(json::parse("19.999")));
}

TEST(ValidatorTest, StringLengthCountsCodePoints) {
    const Validator v = compile_ok(json::parse(R"({"maxLength": 2, "minLength": 2})"));
    EXPECT_TRUE(v.validate(json("\xF0\x9F\x92\xA9\xF0\x9F\x92\xA9")));  // two astral code points, 8 bytes
    EXPECT_FALSE(v.validate(json("abc")));
}

TEST(ValidatorTest, UnevaluatedPropertiesSeesThroughApplicators) {
    const Validator v = compile_ok(json::parse(R"({
        "allOf": [{"properties": {"a": true}}],
        "if": {"required": ["b"]}, "then": {"properties": {"b": true}},
        "unevaluatedProperties": false})"));
    EXPECT_TRUE(v.validate(json::parse(R"({"a": 1, "b": 2})")));
    EXPECT_FALSE(v.validate(json::parse(R"({"a": 1, "c": 2})")));
}

TEST(ValidatorTest, ConcurrentValidationAgreesWithSerial) {
    const Validator v = compile_ok(kToolSchema);
    const json good = json::parse(R"({"path": "/a", "tags": ["x", "y"]})");
    const json bad = json::parse(R"({"path": "", "tags": ["x", "x"]})");
    std::vector<std::thread> threads;
    std::vector<int> mismatches(4, 0);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 2000; ++i) {
                mismatches[static_cast<size_t>(t)] += !v.validate(good) + v.validate(bad);
                mismatches[static_cast<size_t>(t)] += v.validate(bad, OutputFormat::kBasic).errors.size() != 2;
            }
        });
    }
    for (std::thread& th : threads) {
        th.join();
    }
    for (int m : mismatches) {
        EXPECT_EQ(m, 0);
    }
}

TEST(ValidatorTest, HugeArrayUniqueItemsIsFast) {
    const Validator v = compile_ok(json::parse(R"({"uniqueItems": true})"));
    json big = json::array();
    for (int i = 0; i < 200000; ++i) {
        big.push_back(i);
    }
    EXPECT_TRUE(v.validate(big));
    big.push_back(7.0);
    EXPECT_FALSE(v.validate(big));
}

TEST(ValidatorTest, RequiredUnknownVocabularyIsRefused) {
    SchemaRegistry registry;
    ASSERT_TRUE(registry
                    .add("https://example.com/meta", json::parse(R"({"$vocabulary": {
                        "https://json-schema.org/draft/2020-12/vocab/core": true,
                        "https://example.com/vocab/unknown": true}})"))
                    .ok());
    CompileOptions options;
    options.registry = &registry;
    Result<Validator> v = Validator::compile(json::parse(R"({"$schema": "https://example.com/meta"})"), options);
    ASSERT_FALSE(v.has_value());
    EXPECT_NE(v.error().message().find("unknown vocabulary"), std::string::npos);
}

TEST(SchemaRegistryTest, RemoteMappingNeedsPrefixAndDir) {
    SchemaRegistry registry;
    EXPECT_FALSE(registry.add_directory_mapping("no-equals-sign").ok());
    EXPECT_TRUE(registry.add_directory_mapping("http://localhost:1234/=/tmp").ok());
    Result<json> r = registry.load("http://localhost:1234/../etc/passwd");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace gannet::jsonschema
