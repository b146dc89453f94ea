// Constrained decoding against a real byte-level BPE vocabulary (GPT-2's, from the llama.cpp vocab
// files in ../shared): valid instances, tokenized, are allowed token by token and end complete;
// invalid ones are refused by the matcher or by the final validation; random walks through the
// masks never reach a dead end and always end in schema-valid JSON.
#include <gtest/gtest.h>

#include <random>

#include "base/test_paths.h"
#include "constrain/constraint.h"
#include "gguf/gguf_file.h"
#include "json/json.h"

namespace gannet::constrain {
namespace {

using nlohmann::json;

struct Vocab {
    std::unique_ptr<tokenizer::Tokenizer> tok;
    std::shared_ptr<const TokenVocab> vocab;
};

const Vocab& gpt2() {
    static const Vocab v = [] {
        Vocab out;
        auto file = gguf::File::open(shared_data_dir() + "/third_party/llama.cpp-vocab/ggml-vocab-gpt-2.gguf");
        GANNET_CHECK(file.has_value());
        auto tok = tokenizer::Tokenizer::from_gguf(*file);
        GANNET_CHECK(tok.has_value());
        out.tok = std::move(*tok);
        out.vocab = TokenVocab::build(*out.tok);
        return out;
    }();
    return v;
}

constexpr int32_t kEos = 50256;  // GPT-2's <|endoftext|>

std::shared_ptr<const Grammar> grammar(const std::string& schema, int32_t max_ws = 0) {
    auto s = gannet::json::parse(schema);
    GANNET_CHECK(s.has_value());
    MatcherOptions o;
    o.max_whitespace = max_ws;
    auto g = Grammar::from_schema(*s, o);
    EXPECT_TRUE(g.has_value()) << schema << ": " << g.error().message();
    return g.has_value() ? *g : nullptr;
}

// Walks `text` token by token through the masks: true when every token was allowed, the value
// ended complete with EOS allowed, and the final validation passed.
bool walk_tokens(const std::shared_ptr<const Grammar>& g, const std::string& text) {
    Constraint c(g, gpt2().vocab, {kEos});
    TokenMask mask;
    for (int32_t t : gpt2().tok->encode(text, tokenizer::AddBos::kNo)) {
        c.compute_mask(mask);
        if (!mask.test(t))
            return false;
        if (!c.accept(t).ok()) {
            ADD_FAILURE() << "masked-in token refused: " << t;
            return false;
        }
    }
    c.compute_mask(mask);
    return mask.test(kEos) && c.is_complete() && c.validate(c.text()).ok();
}

// True when the matcher refuses some byte of `text` or the text ends incomplete.
bool matcher_refuses(const std::shared_ptr<const Grammar>& g, const std::string& text) {
    Constraint c(g, gpt2().vocab, {kEos});
    return !c.accept_bytes(text) || !c.is_complete();
}

struct Case {
    const char* schema;
    std::vector<const char*> valid;
    std::vector<const char*> invalid;  // refused by the matcher itself
};

const std::vector<Case>& cases() {
    static const std::vector<Case> c = {
        {R"({"type":"integer","minimum":-5,"maximum":120})",
         {"0", "-5", "120", "7", "99"},
         {"121", "-6", "1000", "1.5", "1.0", "\"1\""}},
        {R"({"type":"number","exclusiveMinimum":0,"maximum":2.5})",
         {"0.1", "2.5", "1e-3", "2", "0.25E1"},
         {"0", "-1", "2.6", "3e0", "-0", "-1e-312"}},
        {R"({"type":"number","minimum":-1,"exclusiveMaximum":1})",
         {"-1", "0.999", "-0", "9e-1", "-10e-1"},
         {"1", "1.0", "1e0", "-1.5", "10e-1"}},
        {R"({"type":"integer","exclusiveMinimum":2,"exclusiveMaximum":5})", {"3", "4"}, {"2", "5", "-3", "34"}},
        {R"({"type":"string","minLength":2,"maxLength":5})",
         {"\"ab\"", "\"héllo\"", "\"a\\nb\"", "\"\\u00e9\\u00e9\""},
         {"\"a\"", "\"abcdef\"", "3"}},
        {R"({"enum":["red","green","blue",null,true]})",
         {"\"red\"", "\"blue\"", "null", "true"},
         {"\"re\"", "\"yellow\"", "false", "1"}},
        {R"({"const":"fixed"})", {"\"fixed\""}, {"\"fix\"", "\"fixedx\""}},
        // An escape inside a closed key: the probe for a continuing name reads the object frame.
        {R"({"type":"object","properties":{"a/b":{"type":"integer"},"a\"c":{"type":"null"}},"additionalProperties":false})",
         {R"({"a\/b":1})", R"({"a\"c":null})", R"({"a/b":2,"a\"c":null})"},
         {R"({"a\nb":1})", R"({"a\/c":1})"}},
        {R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0}},"required":["name"],"additionalProperties":false})",
         {R"({"name":"Ann"})", R"({"age":3,"name":"Bo"})", R"({"name":"","age":0})"},
         {R"({"age":3})", R"({"name":"a","x":1})", R"({"name":"a","name":"b"})", R"({"name":"a","age":-1})", "{}"}},
        {R"({"type":"object","properties":{"a":{"type":"boolean"}},"minProperties":1,"maxProperties":2})",
         {R"({"a":true})", R"({"b":[1,{"c":null}]})", R"({"a":false,"zz":"x"})"},
         {"{}", R"({"a":true,"b":1,"c":2})"}},
        {R"({"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":{"type":"boolean"},"minItems":1,"maxItems":4})",
         {R"(["a"])", R"(["a",1])", R"(["a",1,true,false])"},
         {"[]", R"([1])", R"(["a","b"])", R"(["a",1,true,false,true])"}},
        {R"({"type":["string","null"],"maxLength":3})", {"null", "\"abc\""}, {"\"abcd\"", "1"}},
        {R"({"anyOf":[{"type":"object","properties":{"k":{"const":"a"},"v":{"type":"integer"}},"required":["k","v"],"additionalProperties":false},
                      {"type":"object","properties":{"k":{"const":"b"},"v":{"type":"string"}},"required":["k","v"],"additionalProperties":false}]})",
         {R"({"k":"a","v":1})", R"({"k":"b","v":"x"})", R"({"v":"x","k":"b"})"},
         {R"({"k":"a","v":"x"})", R"({"k":"c","v":1})"}},
        {R"({"$defs":{"node":{"type":"object","properties":{"value":{"type":"integer"},"next":{"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]}},"required":["value","next"],"additionalProperties":false}},"$ref":"#/$defs/node"})",
         {R"({"value":1,"next":null})", R"({"value":1,"next":{"value":2,"next":{"value":3,"next":null}}})"},
         {R"({"value":1})", R"({"value":1,"next":{"value":2}})"}},
        {R"({"allOf":[{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]},{"properties":{"b":{"type":"string"}},"required":["b"]}]})",
         {R"({"a":1,"b":"x"})", R"({"b":"","a":-3,"c":[]})"},
         {R"({"a":1})", R"({"a":"1","b":"x"})"}},
        {R"({"type":"object","properties":{"id":{"type":"string","pattern":"^[a-z]+$"},"when":{"type":"string","format":"date"}}})",
         {R"({"id":"abc"})", R"({"when":"2024-01-31"})"},
         {}},
        {"true", {"1", "[]", R"({"a":[1,2,{"b":"c"}]})", "\"x\"", "-0.5e+7"}, {"tru", "[1,]", "{\"a\"}", "01"}},
    };
    return c;
}

TEST(ConstrainTest, ValidInstancesAreAllowedTokenByToken) {
    for (const Case& c : cases()) {
        auto g = grammar(c.schema);
        ASSERT_NE(g, nullptr);
        for (const char* v : c.valid)
            EXPECT_TRUE(walk_tokens(g, v)) << c.schema << "\n  valid: " << v;
    }
}

TEST(ConstrainTest, InvalidInstancesAreRefusedByTheMatcher) {
    for (const Case& c : cases()) {
        auto g = grammar(c.schema);
        ASSERT_NE(g, nullptr);
        for (const char* v : c.invalid)
            EXPECT_TRUE(matcher_refuses(g, v)) << c.schema << "\n  invalid: " << v;
    }
}

TEST(ConstrainTest, PatternsAreEnforcedAndFormatsCheckedAtTheEnd) {
    auto g = grammar(
        R"({"type":"object","properties":{"id":{"type":"string","pattern":"^[a-z]{2,4}-[0-9]+$"},"when":{"type":"string","format":"date"}}})");
    EXPECT_TRUE(matcher_refuses(g, R"({"id":"ABC"})"));
    EXPECT_TRUE(matcher_refuses(g, R"({"id":"ab"})"));  // cannot close before the digits
    EXPECT_TRUE(matcher_refuses(g, R"({"id":"abcde-1"})"));
    EXPECT_TRUE(walk_tokens(g, R"({"id":"ab-12"})"));
    // Unanchored patterns only need the match somewhere.
    auto u = grammar(R"({"type":"string","pattern":"[0-9]"})");
    EXPECT_TRUE(matcher_refuses(u, R"("abc")"));
    EXPECT_TRUE(walk_tokens(u, R"("abc7def")"));
    Constraint c(g, gpt2().vocab, {kEos});
    ASSERT_TRUE(c.accept_bytes(R"({"when":"yesterday"})"));
    EXPECT_TRUE(c.is_complete());
    const Status s = c.validate(c.text());
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("format"), std::string::npos) << s.message();
}

TEST(ConstrainTest, WhitespacePolicy) {
    const char* schema = R"({"type":"object","properties":{"a":{"type":"array"}}})";
    EXPECT_TRUE(matcher_refuses(grammar(schema, 0), R"({ "a": [1, 2] })"));
    EXPECT_FALSE(matcher_refuses(grammar(schema, 8), "{ \"a\" : [1,\n  2] }\n"));
    EXPECT_TRUE(matcher_refuses(grammar(schema, 2), "{    \"a\":[]}"));  // a run over the limit
}

TEST(ConstrainTest, UnsatisfiableSchemasAreRefusedAtCompile) {
    auto s = gannet::json::parse(R"({"type":"integer","minimum":5,"maximum":3})");
    auto g = Grammar::from_schema(*s, {});
    ASSERT_FALSE(g.has_value());
    EXPECT_NE(g.error().message().find("no JSON value"), std::string::npos);
    // A required property that cannot hold a value makes its object impossible, so the other
    // alternative is the only one offered.
    auto g2 = grammar(
        R"({"anyOf":[{"type":"object","properties":{"x":false},"required":["x"]},{"type":"string","maxLength":0}]})");
    EXPECT_TRUE(matcher_refuses(g2, "{"));
    EXPECT_FALSE(matcher_refuses(g2, "\"\""));
}

// Random walks: at every step the mask is non-empty, and the walk ends complete and valid.
TEST(ConstrainTest, RandomWalksNeverDeadEnd) {
    std::mt19937 rng(7);
    for (const Case& c : cases()) {
        auto g = grammar(c.schema);
        ASSERT_NE(g, nullptr);
        for (int run = 0; run < 2; ++run) {
            Constraint con(g, gpt2().vocab, {kEos});
            TokenMask mask;
            bool is_done = false;
            for (int step = 0; step < 80 && !is_done; ++step) {
                con.compute_mask(mask);
                std::vector<int32_t> allowed;
                for (int32_t t = 0; t < gpt2().vocab->n_vocab(); ++t) {
                    if (mask.test(t))
                        allowed.push_back(t);
                }
                ASSERT_FALSE(allowed.empty()) << c.schema << "\n  dead end after: " << con.text();
                // Prefer ending once possible half of the time, so walks finish.
                const bool can_end = mask.test(kEos);
                const int32_t t = can_end && (rng() & 1) ? kEos : allowed[rng() % allowed.size()];
                if (t == kEos) {
                    is_done = true;
                    break;
                }
                ASSERT_TRUE(con.accept(t).ok());
            }
            if (!is_done)
                continue;  // a long random value; no dead end was met
            EXPECT_TRUE(con.is_complete());
            if (!g->graph.needs_validation()) {
                EXPECT_TRUE(con.validate(con.text()).ok()) << c.schema << "\n  walk: " << con.text();
            } else {
                EXPECT_TRUE(gannet::json::parse(con.text()).has_value()) << con.text();
            }
        }
    }
}

TEST(ConstrainTest, ToolCallWrapperAndRepetition) {
    MatcherOptions o{
        .max_whitespace = 0, .prefix = "<tool_call>", .suffix = "</tool_call>", .separator = "\n", .is_repeated = true};
    auto s = gannet::json::parse(
        R"({"type":"object","properties":{"name":{"const":"f"}},"required":["name"],"additionalProperties":false})");
    auto g = Grammar::from_schema(*s, o);
    ASSERT_TRUE(g.has_value());
    Constraint c(*g, gpt2().vocab, {kEos});
    EXPECT_FALSE(Constraint(*g, gpt2().vocab, {kEos}).accept_bytes("{"));
    ASSERT_TRUE(c.accept_bytes(R"(<tool_call>{"name":"f"})"));
    EXPECT_FALSE(c.is_complete());
    ASSERT_TRUE(c.accept_bytes("</tool_call>"));
    EXPECT_TRUE(c.is_complete());
    ASSERT_TRUE(c.accept_bytes("\n<tool_call>{\"name\":\"f\"}</tool_call>"));
    EXPECT_TRUE(c.validate(c.text()).ok());
}

TEST(ConstrainTest, JsonObjectMode) {
    auto g = Grammar::json_object({});
    Constraint c(g, gpt2().vocab, {kEos});
    EXPECT_FALSE(Constraint(g, gpt2().vocab, {kEos}).accept_bytes("["));
    ASSERT_TRUE(c.accept_bytes(R"({"a":[1,"b",{"c":null}]})"));
    EXPECT_TRUE(c.is_complete());
    EXPECT_TRUE(c.validate(c.text()).ok());
}

}  // namespace
}  // namespace gannet::constrain

namespace gannet::constrain {
namespace {

// The `regex` response format: whole-text matches only, end of generation only when complete,
// random walks through the masks always match, and bad patterns are refused with the reason.
TEST(ConstrainTest, RegexGrammar) {
    auto g = Grammar::from_regex("(yes|no): [0-9]{2,3}(\\.[0-9])? [a-z ]+!");
    ASSERT_TRUE(g.has_value()) << g.error().message();
    EXPECT_TRUE(walk_tokens(*g, "yes: 42 so it goes!"));
    EXPECT_TRUE(walk_tokens(*g, "no: 100.5 x!"));
    EXPECT_FALSE(walk_tokens(*g, "maybe: 42 x!"));
    EXPECT_FALSE(walk_tokens(*g, "yes: 4 x!"));
    {
        Constraint c(*g, gpt2().vocab, {kEos});
        ASSERT_TRUE(c.accept_bytes("yes: 42 a"));
        TokenMask mask;
        c.compute_mask(mask);
        EXPECT_FALSE(mask.test(kEos));  // "!" is still due
        EXPECT_FALSE(c.accept(kEos).ok());
    }
    std::mt19937 rng(3);
    for (int run = 0; run < 20; ++run) {
        Constraint c(*g, gpt2().vocab, {kEos});
        TokenMask mask;
        for (int step = 0; step < 60; ++step) {
            c.compute_mask(mask);
            std::vector<int32_t> allowed;
            for (int32_t t = 0; t < gpt2().vocab->n_vocab(); ++t) {
                if (mask.test(t))
                    allowed.push_back(t);
            }
            ASSERT_FALSE(allowed.empty()) << "dead end after: " << c.text();
            const int32_t t = mask.test(kEos) ? kEos : allowed[rng() % allowed.size()];
            if (t == kEos)
                break;
            ASSERT_TRUE(c.accept(t).ok());
        }
        if (c.is_complete()) {
            EXPECT_TRUE(c.validate(c.text()).ok()) << c.text();
        }
    }
    for (const char* bad : {"(?=x)y", "a(b", "(a)\\1"}) {
        auto e = Grammar::from_regex(bad);
        ASSERT_FALSE(e.has_value()) << bad;
        EXPECT_EQ(e.error().code(), ErrorCode::kInvalidArgument) << bad;
        EXPECT_EQ(e.error().message().rfind("constrain: regex: ", 0), 0u) << e.error().message();
    }
}

}  // namespace
}  // namespace gannet::constrain

namespace gannet::constrain {
namespace {

// A GBNF grammar through the masks of a real vocabulary: its sentences are allowed token by token,
// others refused, and random walks never dead-end and end in sentences.
TEST(ConstrainTest, GbnfGrammar) {
    auto g = Grammar::from_gbnf(
        "root ::= \"move \" dir \" \" steps (\", then \" dir \" \" steps){0,2} \".\"\n"
        "dir ::= \"north\" | \"south\" | \"east\" | \"west\"\n"
        "steps ::= [1-9] [0-9]?\n");
    ASSERT_TRUE(g.has_value()) << g.error().message();
    EXPECT_TRUE(walk_tokens(*g, "move north 3."));
    EXPECT_TRUE(walk_tokens(*g, "move east 12, then south 4, then west 99."));
    EXPECT_FALSE(walk_tokens(*g, "move up 3."));
    EXPECT_FALSE(walk_tokens(*g, "move north 0."));
    std::mt19937 rng(5);
    for (int run = 0; run < 10; ++run) {
        Constraint c(*g, gpt2().vocab, {kEos});
        TokenMask mask;
        bool is_done = false;
        for (int step = 0; step < 60 && !is_done; ++step) {
            c.compute_mask(mask);
            std::vector<int32_t> allowed;
            for (int32_t t = 0; t < gpt2().vocab->n_vocab(); ++t) {
                if (mask.test(t))
                    allowed.push_back(t);
            }
            ASSERT_FALSE(allowed.empty()) << "dead end after: " << c.text();
            const int32_t t = mask.test(kEos) && (rng() & 1) ? kEos : allowed[rng() % allowed.size()];
            is_done = t == kEos;
            ASSERT_TRUE(c.accept(t).ok());
        }
        ASSERT_TRUE(is_done) << c.text();
        EXPECT_TRUE(c.validate(c.text()).ok()) << c.text();
    }
    auto bad = Grammar::from_gbnf("root ::= x\n");
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error().message(), "constrain: gbnf: rule 'x' is not defined");
}

}  // namespace
}  // namespace gannet::constrain
