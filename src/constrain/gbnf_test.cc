// GBNF grammars (written for these tests): sentences accepted or refused byte by byte, the
// repetition operators, classes with ranges, negation and UTF-8, comments and multi-line rules,
// and precise errors for what cannot be compiled (syntax, undefined rules, left recursion).
#include "constrain/gbnf.h"

#include <gtest/gtest.h>

#include <string>

namespace gannet::constrain {
namespace {

// True when `text` is a whole sentence; false when a byte is refused or it ends early.
bool accepts(const Gbnf& g, const std::string& text) {
    Gbnf::State s = g.initial(), next;
    for (char c : text) {
        if (!g.step(s, static_cast<uint8_t>(c), next))
            return false;
        std::swap(s, next);
    }
    return Gbnf::is_accepting(s);
}

// True when every prefix of `text` is taken (the sentence may still be incomplete).
bool takes_prefix(const Gbnf& g, const std::string& text) {
    Gbnf::State s = g.initial(), next;
    for (char c : text) {
        if (!g.step(s, static_cast<uint8_t>(c), next))
            return false;
        std::swap(s, next);
    }
    return true;
}

constexpr const char* kArithmetic = R"gbnf(# integer arithmetic with precedence
root   ::= expr
expr   ::= term (("+" | "-") term)*
term   ::= factor (("*" | "/") factor)*
factor ::= number | "(" ws expr ws ")"
number ::= "-"? [0-9]+
ws     ::= " "?
)gbnf";

TEST(Gbnf, ArithmeticExpressions) {
    auto g = Gbnf::parse(kArithmetic);
    ASSERT_TRUE(g.has_value()) << g.error().message();
    for (const char* ok : {"1", "12+3", "-4*(5-6)", "( 1+2 )/3", "((7))"})
        EXPECT_TRUE(accepts(*g, ok)) << ok;
    for (const char* bad : {"", "+1", "1+", "(1", "1)", "1 + 2", "a"})
        EXPECT_FALSE(accepts(*g, bad)) << bad;
    EXPECT_TRUE(takes_prefix(*g, "(1+"));  // incomplete, not refused
    EXPECT_FALSE(takes_prefix(*g, "1)"));
}

TEST(Gbnf, RepetitionClassesAndUtf8) {
    auto g = Gbnf::parse(
        "root ::= word (\",\" word){1,2} tail?\n"
        "word ::= [a-zé]{2,3}\n"
        "tail ::= \";\" [^;\\n]* \"\\u263A\"\n");
    ASSERT_TRUE(g.has_value()) << g.error().message();
    EXPECT_TRUE(accepts(*g, "ab,cd"));
    EXPECT_TRUE(accepts(*g, "abc,dé,fg"));
    EXPECT_TRUE(accepts(*g, "ab,cd; anything but semicolons ☺"));
    EXPECT_FALSE(accepts(*g, "ab"));                 // {1,2}: at least one more word
    EXPECT_FALSE(accepts(*g, "ab,cd,ef,gh"));        // at most two more
    EXPECT_FALSE(accepts(*g, "abcd,ef"));            // words of 2-3 letters
    EXPECT_FALSE(accepts(*g, "ab,cd;x;☺"));          // no ';' inside the tail
    EXPECT_FALSE(takes_prefix(*g, "ab,c\xc3\xa8"));  // è is not in the class; é (C3 A9) is
    EXPECT_TRUE(takes_prefix(*g, "ab,c\xc3"));       // é may still come
    EXPECT_FALSE(takes_prefix(*g, "a\xe0\x80"));     // an overlong form never matches
}

TEST(Gbnf, MultiLineRulesAndAnyCharacter) {
    auto g = Gbnf::parse(R"gbnf(root ::=
  "<" (
      tag-name
      (" " tag-name "=\"" [^"]* "\"")*
  ) ">" . # any one character after the tag
tag-name ::= [a-z]+
)gbnf");
    ASSERT_TRUE(g.has_value()) << g.error().message();
    EXPECT_TRUE(accepts(*g, "<a>x"));
    EXPECT_TRUE(accepts(*g, "<img src=\"a b\" alt=\"\">\n"));
    EXPECT_FALSE(accepts(*g, "<a>"));
    EXPECT_FALSE(accepts(*g, "<A>x"));
}

TEST(Gbnf, ErrorsNameTheProblem) {
    struct Bad {
        const char* text;
        const char* want;
    };
    for (const Bad& b : std::initializer_list<Bad>{
             {"root ::= item\n", "gbnf: rule 'item' is not defined"},
             {"start ::= \"a\"\n", "gbnf: no rule 'root'"},
             {"root ::= list\nlist ::= list \",\" \"a\" | \"a\"\n", "gbnf: rule 'list' is left-recursive"},
             {"root ::= opt root2\nopt ::= \"x\"?\nroot2 ::= root \"y\" | \"z\"\n", "left-recursive"},
             {"root ::= \"a\"\nroot ::= \"b\"\n", "gbnf: rule 'root' is defined twice"},
             {"root ::= \"abc\n", "gbnf: unterminated literal"},
             {"root ::= [a-z", "gbnf: unterminated character class"},
             {"root ::= (\"a\" \n", "gbnf: expected ')' at line 2"},
             {"root \"a\"\n", "gbnf: expected '::=' at line 1 column 6"},
             {"root ::= \"a\"{3,1}\n", "{m,n} with n < m"},
             {"root ::= [z-a]\n", "range out of order"},
         }) {
        auto g = Gbnf::parse(b.text);
        ASSERT_FALSE(g.has_value()) << b.text;
        EXPECT_EQ(g.error().code(), ErrorCode::kInvalidArgument) << b.text;
        EXPECT_NE(g.error().message().find(b.want), std::string::npos) << g.error().message();
    }
}

}  // namespace
}  // namespace gannet::constrain
