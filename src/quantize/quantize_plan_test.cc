#include "quantize/quantize_plan.h"

#include <gtest/gtest.h>

#include <string>

namespace gannet::quantize {
namespace {

using tensor::DType;

TEST(QuantizePlanTest, TypeNamesParseCaseInsensitivelyWithLlamaCppSpellings) {
    EXPECT_EQ(parse_quant_type("q4_0").value(), DType::kQ4_0);
    EXPECT_EQ(parse_quant_type("Q4_K").value(), DType::kQ4_K);
    EXPECT_EQ(parse_quant_type("Q4_K_M").value(), DType::kQ4_K);
    EXPECT_EQ(parse_quant_type("q3_k_s").value(), DType::kQ3_K);
    EXPECT_EQ(parse_quant_type("F16").value(), DType::kF16);
    EXPECT_EQ(parse_quant_type("q6_k").value(), DType::kQ6_K);
}

TEST(QuantizePlanTest, UnknownTypeNameListsTheAcceptedOnes) {
    for (const char* bad : {"q7_0", "q8_k", "iq4_nl", "", "q4_k_x", "i32"}) {
        const Result<DType> r = parse_quant_type(bad);
        ASSERT_FALSE(r.has_value()) << bad;
        EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(r.error().message().find("q4_k"), std::string::npos) << r.error().message();
    }
}

TEST(QuantizePlanTest, GlobsMatchWholeNamesAndEscapeDots) {
    EXPECT_EQ(glob_to_regex("blk.*.ffn_?"), "blk\\..*\\.ffn_.");
    const Plan plan = Plan::parse(R"({"rules": [
        {"match": "blk.*.ffn_*", "type": "q2_k"},
        {"regex": "blk\\.(0|1)\\..*", "type": "Q8_0"},
        {"match": "output.weight", "type": "q6_k"}]})",
                                  "test")
                          .value();
    EXPECT_EQ(plan.match("blk.0.ffn_up.weight"), 0u);  // first match wins over rule 1
    EXPECT_EQ(plan.match("blk.1.attn_q.weight"), 1u);
    EXPECT_EQ(plan.match("blk.12.attn_q.weight"), std::nullopt);
    EXPECT_EQ(plan.match("output.weight"), 2u);
    EXPECT_EQ(plan.match("outputXweight"), std::nullopt);         // '.' is literal in globs
    EXPECT_EQ(plan.match("xblk.0.ffn_up.weight"), std::nullopt);  // anchored
    EXPECT_EQ(plan.rules()[1].dtype, DType::kQ8_0);
    EXPECT_FALSE(plan.default_dtype().has_value());
}

TEST(QuantizePlanTest, DefaultAndDescriptionAreRead) {
    const Plan plan = Plan::parse(R"({"description": "d", "default": "q4_k", "rules": []})", "t").value();
    EXPECT_EQ(plan.default_dtype(), DType::kQ4_K);
    EXPECT_EQ(plan.description(), "d");
}

TEST(QuantizePlanTest, BadPlansAreErrorsNamingTheRule) {
    const char* bad[] = {
        "not json",
        R"({"rules": {}})",
        R"({"rules": [{"type": "q4_0"}]})",
        R"({"rules": [{"match": "a", "regex": "b", "type": "q4_0"}]})",
        R"({"rules": [{"match": "a", "type": "q9_0"}]})",
        R"({"rules": [{"regex": "(", "type": "q4_0"}]})",
        R"({"rules": [{"match": 3, "type": "q4_0"}]})",
        R"({"default": "zz", "rules": []})",
    };
    for (const char* text : bad) {
        const Result<Plan> r = Plan::parse(text, "p.json");
        ASSERT_FALSE(r.has_value()) << text;
        EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << text;
        EXPECT_NE(r.error().message().find("p.json"), std::string::npos) << r.error().message();
    }
    EXPECT_NE(Plan::parse(R"({"rules": [{"match": "a", "type": "q4_0"}, {"match": "b", "type": "x"}]})", "p")
                  .error()
                  .message()
                  .find("rule 1"),
              std::string::npos);
}

TEST(QuantizePlanTest, MissingPlanFileIsNotFound) {
    EXPECT_EQ(Plan::load("/nonexistent/plan.json").error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace gannet::quantize
