// Constraint: constrained decoding for one request. A Grammar (compiled once: SchemaGraph, matcher
// options, the exact validator) plus a TokenVocab (built once per tokenizer) give each request a
// Constraint, the engine's LogitProcessor: it masks every token whose bytes the matcher refuses,
// allows end-of-generation only when the value is complete, and advances on the drawn token.
// What the matcher only approximates is checked at the end by validate(). Owner: constrain.
// Thread-safety: Grammar and TokenVocab are immutable and shared; a Constraint is one per sequence.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "constrain/gbnf.h"
#include "constrain/json_matcher.h"
#include "constrain/schema_graph.h"
#include "constrain/token_mask.h"
#include "jsonschema/validator.h"
#include "sampling/logit_processor.h"

namespace gannet::constrain {

struct Grammar {
    SchemaGraph graph;
    MatcherOptions options;
    std::optional<jsonschema::Validator> validator;  // null for json_object
    mutable MaskCache masks;                         // shared by the grammar's requests
    // Set for a regex grammar (the `regex` response format): the whole output must match it;
    // graph and validator are unused, regex_exact (PCRE2, ^(?:...)$) is the final check.
    std::shared_ptr<const RegexDfa> regex;
    std::optional<jsonschema::Regex> regex_exact;
    // Set for a GBNF grammar (the `grammar` response format): the output is a sentence of it.
    std::shared_ptr<const Gbnf> gbnf;

    // Errors: kInvalidArgument when the schema is not valid 2020-12 for the validator or cannot be
    // compiled into a graph (messages "constrain: ..."); kResourceExhausted for a huge schema.
    static Result<std::shared_ptr<const Grammar>> from_schema(const nlohmann::json& schema,
                                                              const MatcherOptions& options);
    // Any JSON object.
    static std::shared_ptr<const Grammar> json_object(const MatcherOptions& options);
    // Text matching an ECMA-262 regex as a whole. Errors: kInvalidArgument for a bad pattern or a
    // construct outside the regular subset (lookaround, backreferences, \b, \p), and
    // kResourceExhausted for one too large, each "constrain: regex: ...".
    static Result<std::shared_ptr<const Grammar>> from_regex(std::string_view pattern);
    // Sentences of a GBNF grammar (llama.cpp's syntax, start rule `root`). Errors: as Gbnf::parse,
    // prefixed "constrain: ".
    static Result<std::shared_ptr<const Grammar>> from_gbnf(std::string_view text);
};

class Constraint : public sampling::LogitProcessor {
public:
    // eos_ids: the tokens that end generation (allowed only once the value is complete).
    Constraint(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const TokenVocab> vocab,
               std::vector<int32_t> eos_ids);

    // The tokens allowed next (end-of-generation tokens included when complete).
    void compute_mask(TokenMask& mask);
    // Advances by one token; kInvalidArgument when the grammar refuses it (state unchanged).
    Status accept(int32_t token) override;
    // Advances by raw bytes (tests, benchmarks); false (state unchanged) when refused.
    bool accept_bytes(std::string_view bytes);
    bool is_complete() const;
    void process(std::span<float> logits) override;

    // The exact check of the whole output against the schema (each wrapped value, for a tool-call
    // wrapper): OK, or kInvalidArgument naming the first failing keyword.
    Status validate(std::string_view text) const;
    const std::string& text() const { return text_; }

private:
    std::shared_ptr<const Grammar> grammar_;
    std::shared_ptr<const TokenVocab> vocab_;
    std::vector<int32_t> eos_ids_;
    JsonMatcher matcher_;
    MatcherState state_;
    MatcherState next_;
    MaskWalker walker_;
    TokenMask mask_;
    std::string text_;
    int32_t regex_state_ = -1;  // regex grammars: the DFA state
    // GBNF grammars: the parse state, and the per-depth states of the mask walk.
    void gbnf_walk(const ByteTrie& trie, int32_t node, size_t depth, TokenMask& mask);
    Gbnf::State gbnf_state_;
    std::vector<Gbnf::State> gbnf_levels_;
    // Masks per parse state at a character boundary: free text such as [^\n]* returns to the same
    // state after every character, and a walk of a 128k vocabulary costs about 30 ms. At most
    // kMaxGbnfMemo entries (16 KiB each at 128k tokens).
    static constexpr size_t kMaxGbnfMemo = 64;
    std::map<std::vector<std::vector<int32_t>>, TokenMask> gbnf_memo_;
};

}  // namespace gannet::constrain
