// RegexDfa against PCRE2 (jsonschema::Regex, the validator's engine): the same verdict on every
// string of a deterministic random sample (no non-ASCII blanks: there the DFA is laxer on purpose), prefix liveness
// equal to PCRE2's partial matching for anchored patterns, universal states where every plain continuation stays live,
// and errors for constructs outside the regular subset.
#include "constrain/regex_dfa.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "jsonschema/regex.h"

namespace gannet::constrain {
namespace {

int32_t run(const RegexDfa& d, std::string_view s) {
    int32_t st = d.start();
    for (char c : s) {
        st = d.step(st, static_cast<uint8_t>(c));
        if (st < 0)
            return st;
    }
    return st;
}

bool dfa_matches(const RegexDfa& d, std::string_view s) {
    const int32_t st = run(d, s);
    return st >= 0 && d.is_accepting(st);
}

std::vector<std::string> sample_strings(uint32_t seed, int n) {
    static const std::vector<std::string> kPieces = {"a",
                                                     "b",
                                                     "z",
                                                     "A",
                                                     "Z",
                                                     "0",
                                                     "9",
                                                     "_",
                                                     "-",
                                                     ".",
                                                     ":",
                                                     "/",
                                                     " ",
                                                     "\n",
                                                     "@",
                                                     "x",
                                                     "http",
                                                     "https://",
                                                     "www.",
                                                     ".com",
                                                     "sha256:",
                                                     "\xc3\xa9",
                                                     "\xe4\xb8\xad",
                                                     "\xf0\x9f\x98\x80",
                                                     "ab",
                                                     "12",
                                                     "f",
                                                     "e"};
    std::mt19937 rng(seed);
    std::vector<std::string> out = {""};
    for (int i = 0; i < n; ++i) {
        std::string s;
        const int len = static_cast<int>(rng() % 9);
        for (int k = 0; k < len; ++k)
            s += kPieces[rng() % kPieces.size()];
        out.push_back(s);
    }
    return out;
}

// Patterns seen in MaskBench schemas and written for this test (classes, anchors, alternation,
// counted repeats, escapes, Unicode, a catastrophic-backtracking group).
const std::vector<std::string> kPatterns = {
    "^[a-z0-9-]+$",
    "^[\\w\\.:-]+$",
    "^[\\w\\s-]+$",
    "^(https?:\\/\\/)?([\\da-z\\.-]+)\\.([a-z\\.]{2,6})([\\/\\w \\.-]*)*\\/?$",
    "^sha256:[a-f0-9]{4}$",
    "^http[s]?://.*$",
    "^[a-zA-Z_]{1}\\w*$",
    "ab|^x",
    "com$",
    "^(?:a|b)*c{2,3}$",
    "^\\d{1,3}(\\.\\d{1,3}){0,3}$",
    "[^a-z]",
    "^[^\\s@]+@[^\\s@]+$",
    "^\\S*$",
    "^.{2,4}$",
    "^[\\u00e0-\\u00ff\\u4e00-\\u9fff]+$",
    "^\\u{1F600}?x$",
    "^(?<word>[A-Z][a-z]*)( [A-Z][a-z]*)*$",
    "",
};

TEST(RegexDfa, SameVerdictAsPcre2OnSampledStrings) {
    const std::vector<std::string> strings = sample_strings(7, 3000);
    for (const std::string& p : kPatterns) {
        auto re = jsonschema::Regex::compile(p);
        ASSERT_TRUE(re.has_value()) << p;
        auto d = RegexDfa::compile(p, RegexDfa::Mode::kSearch);
        ASSERT_TRUE(d.has_value()) << p << ": " << d.error().message();
        int n_yes = 0;
        for (const std::string& s : strings) {
            const bool want = re->search(s) == jsonschema::Regex::Match::kYes;
            n_yes += want;
            ASSERT_EQ(dfa_matches(*d, s), want) << "pattern " << p << " on \"" << s << "\"";
        }
        if (p == "^[a-z0-9-]+$") {
            EXPECT_GT(n_yes, 10);  // the sample exercises both verdicts
        }
    }
}

TEST(RegexDfa, LivePrefixesAreThoseThatCanStillMatch) {
    const std::vector<std::string> strings = sample_strings(11, 2000);
    for (const std::string& p : kPatterns) {
        auto re = jsonschema::Regex::compile(p);
        auto d = RegexDfa::compile(p, RegexDfa::Mode::kSearch);
        ASSERT_TRUE(re.has_value() && d.has_value()) << p;
        if (!re->is_anchored())
            continue;  // PCRE2's partial answer is exact only for anchored patterns
        for (const std::string& s : strings) {
            if (s.empty())
                continue;  // PCRE2 reports a partial match only after one character
            const bool is_live = run(*d, s) >= 0;
            EXPECT_EQ(is_live, re->prefix_match(s) != jsonschema::Regex::Prefix::kNo)
                << "pattern " << p << " prefix \"" << s << "\"";
        }
    }
}

TEST(RegexDfa, FullMatchModeAnchorsBothEnds) {
    auto d = RegexDfa::compile("[0-9]+(\\.[0-9]+)?", RegexDfa::Mode::kFullMatch);
    ASSERT_TRUE(d.has_value());
    EXPECT_TRUE(dfa_matches(*d, "12.5"));
    EXPECT_FALSE(dfa_matches(*d, "a12.5"));
    EXPECT_FALSE(dfa_matches(*d, "12."));
    EXPECT_EQ(run(*d, "x"), RegexDfa::kDead);
}

TEST(RegexDfa, UniversalStatesAcceptEveryPlainContinuation) {
    auto d = RegexDfa::compile("^https?://.*$", RegexDfa::Mode::kSearch);
    ASSERT_TRUE(d.has_value());
    EXPECT_FALSE(d->is_universal(run(*d, "http")));
    EXPECT_TRUE(d->is_universal(run(*d, "https://")));
    EXPECT_TRUE(d->is_universal(run(*d, "https://\xc3\xa9")));
    auto word = RegexDfa::compile("^\\w+$", RegexDfa::Mode::kSearch);
    ASSERT_TRUE(word.has_value());
    EXPECT_FALSE(word->is_universal(run(*word, "ab")));
    auto unanchored = RegexDfa::compile("x", RegexDfa::Mode::kSearch);
    ASSERT_TRUE(unanchored.has_value());
    EXPECT_TRUE(unanchored->is_universal(unanchored->start()));  // an 'x' can always come later
}

TEST(RegexDfa, RefusesWhatIsNotRegularOrNotValid) {
    for (const char* p : {"(?=a)b", "(a)\\1", "\\bword", "\\p{L}+", "a(?<!b)", "a^b"}) {
        auto d = RegexDfa::compile(p, RegexDfa::Mode::kSearch);
        ASSERT_FALSE(d.has_value()) << p;
        EXPECT_EQ(d.error().code(), ErrorCode::kUnimplemented) << p << ": " << d.error().message();
    }
    for (const char* p : {"(ab", "ab)", "[a-", "a{3,1}", "*a", "\\q", "[z-a]"}) {
        auto d = RegexDfa::compile(p, RegexDfa::Mode::kSearch);
        ASSERT_FALSE(d.has_value()) << p;
        EXPECT_EQ(d.error().code(), ErrorCode::kInvalidArgument) << p << ": " << d.error().message();
        EXPECT_NE(d.error().message().find("regex: "), std::string::npos);
    }
    auto big = RegexDfa::compile("^(a|b)*a(a|b){14}$", RegexDfa::Mode::kSearch, 1000);
    ASSERT_FALSE(big.has_value());
    EXPECT_EQ(big.error().code(), ErrorCode::kResourceExhausted);
}

}  // namespace
}  // namespace gannet::constrain
