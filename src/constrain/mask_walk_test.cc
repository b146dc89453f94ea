// The mask walk's shortcuts (plain-token masks, pattern DFAs and their cached masks, the leaf walk
// inside strings and numbers, cached inside-string tokens) against brute force: at every prefix of
// valid instances, a token is in the mask exactly when the matcher accepts all of its bytes. A
// small synthetic vocabulary mixes plain tokens with the awkward ones (quotes inside tokens,
// escapes, partial UTF-8, numbers running into punctuation) so brute force stays fast.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "constrain/constraint.h"
#include "json/json.h"

namespace gannet::constrain {
namespace {

std::shared_ptr<const TokenVocab> vocab() {
    static const std::shared_ptr<const TokenVocab> v = [] {
        std::vector<std::string> bytes = {
            "\"",   "\":",  "\",",   "\"}",     "\":\"", "\":{\"", "\"]",  "\",\"", "abc\"",    "a\":",     "\\",
            "\\n",  "\\\"", "\\u00", "\\u00e9", "e9",    "\n",     "\xc3", "\xa9",  "\xc3\xa9", "\xe4\xb8", "\xad",
            "{",    "{\"",  "}",     "[",       "]",     ",",      ":",    "1",     "12",       "123",      "0",
            "-",    ".",    "5",     "e",       "1,",    "2}",     "3]",   "0.",    "true",     "null",     "false",
            " ",    "http", "s",     "://",     "www",   ".com",   "/",    "x",     "-y",       "_",        "sha",
            "256",  ":",    "ab",    "cd",      "ef",    "f0",     "name", "age",   "tags",     "id",       "na",
            "me\"", "ag",   "e\":",  "red",     "green", "gre",    "en\"", "Z",     "9",        "a",        "b",
            "c",    "d",    "e",     "f",       "n",     "m",      "t",    "g",     "A",        "é"};
        return TokenVocab::from_bytes(std::move(bytes));
    }();
    return v;
}

// Every token whose bytes the matcher accepts after `prefix`.
TokenMask brute_force(const std::shared_ptr<const Grammar>& g, const std::string& prefix) {
    TokenMask m;
    m.reset(vocab()->n_vocab());
    for (int32_t t = 0; t < vocab()->n_vocab(); ++t) {
        Constraint c(g, vocab(), {});
        if (c.accept_bytes(prefix) && c.accept_bytes(vocab()->bytes(t)))
            m.set(t);
    }
    return m;
}

struct Case {
    const char* schema;
    std::vector<const char*> instances;
};

TEST(MaskWalk, EqualsBruteForceAtEveryPrefix) {
    const std::vector<Case> cases = {
        {R"({"type":"object","properties":{"name":{"type":"string","maxLength":4},"age":{"type":"integer","minimum":0,"maximum":150}},"additionalProperties":false})",
         {R"({"name":"abé","age":123})", R"({"age":0,"name":"a\"b"})"}},
        {R"({"type":"object"})", {R"({"na":"x\n","ab":{"c":[1,"é"]}})"}},
        {R"({"type":"string","pattern":"^https?://[a-z.]+(/[a-z]*)*$"})", {R"("https://www.com/ab")"}},
        {R"({"type":"string","pattern":"^sha256:[a-f0-9]{4}$"})", {R"("sha256:ab0f")"}},
        {R"({"type":"string","pattern":"([a-z -]*)*x"})", {R"("ab-cx")", R"("é x")"}},
        {R"({"type":"array","items":{"type":"number"}})", {R"([1,-12.5e3,0.5])"}},
        // Several live stacks with a number or a string on top (each walks alone).
        {R"({"anyOf":[{"type":"object","properties":{"id":{"type":"integer","maximum":500},"name":{"type":"string"}},"additionalProperties":false},{"type":"object","properties":{"id":{"type":"number","minimum":10},"name":{"enum":["red","green"]}},"additionalProperties":false}]})",
         {R"({"id":123,"name":"green"})", R"({"name":"re","id":50})", R"({"name":"red","id":0.5e2})",
          R"({"id":12.5})"}},
        {R"({"anyOf":[{"type":"object","properties":{"tags":{"type":"array","items":{"enum":["red","green"]}}},"additionalProperties":false},{"type":"object","properties":{"id":{"type":"string","pattern":"^[a-f0-9]+$"}},"required":["id"]}]})",
         {R"({"tags":["red","green"]})", R"({"id":"f0ab","x":null})"}},
    };
    int n_checked = 0;
    for (const Case& c : cases) {
        auto schema = gannet::json::parse(c.schema);
        ASSERT_TRUE(schema.has_value()) << c.schema;
        auto g = Grammar::from_schema(*schema, {});
        ASSERT_TRUE(g.has_value()) << c.schema << ": " << g.error().message();
        for (const char* text : c.instances) {
            // Twice: the second pass reads the grammar's mask cache filled by the first.
            for (int pass = 0; pass < 2; ++pass) {
                Constraint con(*g, vocab(), {});
                TokenMask mask;
                const std::string s = text;
                for (size_t k = 0; k <= s.size(); ++k) {
                    con.compute_mask(mask);
                    const TokenMask want = brute_force(*g, s.substr(0, k));
                    for (int32_t t = 0; t < vocab()->n_vocab(); ++t) {
                        ASSERT_EQ(mask.test(t), want.test(t)) << c.schema << "\n  after \"" << s.substr(0, k)
                                                              << "\" token \"" << vocab()->bytes(t) << "\"";
                    }
                    ++n_checked;
                    if (k < s.size()) {
                        ASSERT_TRUE(con.accept_bytes(s.substr(k, 1))) << text << " at " << k;
                    }
                }
                EXPECT_TRUE(con.is_complete()) << text;
            }
        }
    }
    EXPECT_GT(n_checked, 300);
}

}  // namespace
}  // namespace gannet::constrain

namespace gannet::constrain {
namespace {

// The cache keeps the first mask per key and stops growing at kMaxEntries (the server keeps a
// grammar's cache as long as the grammar lives).
TEST(MaskWalk, CacheIsBounded) {
    MaskCache cache;
    auto make = [](int32_t bit) {
        auto m = std::make_shared<TokenMask>();
        m->reset(64);
        m->set(bit);
        return std::shared_ptr<const TokenMask>(std::move(m));
    };
    const MaskCache::Key first{.vocab = vocab().get(), .kind = MaskCache::Kind::kDfaPlain, .state = 0};
    EXPECT_TRUE(cache.insert(first, make(1))->test(1));
    EXPECT_TRUE(cache.insert(first, make(2))->test(1));  // the first stays
    for (size_t i = 1; i < MaskCache::kMaxEntries; ++i) {
        cache.insert({.vocab = vocab().get(), .kind = MaskCache::Kind::kDfaPlain, .state = static_cast<int32_t>(i)},
                     make(3));
    }
    const MaskCache::Key late{.vocab = vocab().get(), .kind = MaskCache::Kind::kDfaPlain, .state = -5};
    EXPECT_TRUE(cache.insert(late, make(4))->test(4));  // returned for this one use
    EXPECT_EQ(cache.find(late), nullptr);               // but not kept
    ASSERT_NE(cache.find(first), nullptr);
    EXPECT_TRUE(cache.find(first)->test(1));
}

}  // namespace
}  // namespace gannet::constrain
