#include "jsonschema/regex.h"

#include <gtest/gtest.h>

namespace gannet::jsonschema {
namespace {

bool matches(const char* pattern, const char* subject) {
    Result<Regex> re = Regex::compile(pattern);
    EXPECT_TRUE(re.has_value()) << pattern << ": " << re.error().to_string();
    return re.has_value() && re->search(subject) == Regex::Match::kYes;
}

TEST(RegexTest, UnicodePropertyLongNamesWork) {
    EXPECT_TRUE(matches("^\\p{Letter}+$",
                        "\xC3\xA9"
                        "cole"));
    EXPECT_FALSE(matches("^\\p{Letter}+$", "123"));
    EXPECT_TRUE(matches("^\\p{digit}+$", "\xE0\xA7\xA8"));  // Bengali digit two
    EXPECT_TRUE(matches("^\\p{Script=Greek}$", "\xCE\xB1"));
}

TEST(RegexTest, DigitAndWordClassesAreAsciiAsInEcma) {
    EXPECT_FALSE(matches("^\\d$", "\xE0\xA7\xA8"));
    EXPECT_FALSE(matches("^\\w$", "\xC3\xA9"));
    EXPECT_TRUE(matches("^\\s$", "\xC2\xA0"));       // NBSP is ECMA whitespace
    EXPECT_FALSE(matches("^\\S$", "\xEF\xBB\xBF"));  // BOM too
}

TEST(RegexTest, DollarDoesNotMatchBeforeTrailingNewline) {
    EXPECT_FALSE(matches("^abc$", "abc\n"));
}

TEST(RegexTest, DotDoesNotMatchLineTerminators) {
    EXPECT_FALSE(matches("^.$", "\n"));
}

TEST(RegexTest, UnicodeEscapesAndSurrogatePairs) {
    EXPECT_TRUE(matches("^\\u00e9$", "\xC3\xA9"));
    EXPECT_TRUE(matches("^\\ud83d\\udc32$", "\xF0\x9F\x90\xB2"));
    EXPECT_TRUE(matches("^\\u{1F432}$", "\xF0\x9F\x90\xB2"));
}

TEST(RegexTest, NonEcmaSyntaxIsRejected) {
    for (const char* p : {"\\a", "(?i)abc", "(?P<n>x)", "\\Z", "[a"}) {
        Result<Regex> re = Regex::compile(p);
        EXPECT_FALSE(re.has_value()) << p;
        EXPECT_FALSE(Regex::is_valid_syntax(p)) << p;
    }
    EXPECT_TRUE(Regex::is_valid_syntax("(?<=a+)b"));  // ES2018 variable-width lookbehind
}

TEST(RegexTest, BacktrackingBlowUpReportsLimit) {
    Result<Regex> re = Regex::compile("^(a|a)*$");
    ASSERT_TRUE(re.has_value());
    EXPECT_EQ(re->search(std::string(60, 'a') + "b"), Regex::Match::kLimit);
}

}  // namespace
}  // namespace gannet::jsonschema
