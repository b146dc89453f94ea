#include "jsonschema/number.h"

#include <gtest/gtest.h>

namespace gannet::jsonschema {
namespace {

using nlohmann::json;

TEST(NumberTest, MultipleOfUsesDecimalArithmetic) {
    EXPECT_TRUE(is_multiple_of(json(0.0075), json(0.0001)));
    EXPECT_FALSE(is_multiple_of(json(0.00751), json(0.0001)));
    EXPECT_TRUE(is_multiple_of(json(1e308), json(0.5)));
    EXPECT_FALSE(is_multiple_of(json(1e308), json(0.123456789)));
    EXPECT_TRUE(is_multiple_of(json(12391239123), json(1e-8)));
    EXPECT_FALSE(is_multiple_of(json(4.5), json(2)));
    EXPECT_TRUE(is_multiple_of(json(-9), json(3)));
    EXPECT_TRUE(is_multiple_of(json(uint64_t{18446744073709551610u}), json(5)));
}

TEST(NumberTest, ComparisonIsExactAcrossRepresentations) {
    EXPECT_EQ(compare_numbers(json(uint64_t{18446744073709551615u}), json(int64_t{-1})), 1);
    EXPECT_EQ(compare_numbers(json(1), json(1.0)), 0);
    EXPECT_EQ(compare_numbers(json(int64_t{9007199254740993}), json(9007199254740992.0)), 1);
}

TEST(NumberTest, HashAgreesWithEquality) {
    EXPECT_EQ(json_hash(json(1)), json_hash(json(1.0)));
    EXPECT_EQ(json_hash(json::parse(R"({"a": [1, 2]})")), json_hash(json::parse(R"({"a": [1.0, 2.0]})")));
}

}  // namespace
}  // namespace gannet::jsonschema
