#include "constrain/constraint.h"

#include <cmath>
#include <limits>

#include "json/json.h"

namespace gannet::constrain {

Result<std::shared_ptr<const Grammar>> Grammar::from_schema(const nlohmann::json& schema,
                                                            const MatcherOptions& options) {
    auto g = std::make_shared<Grammar>();
    GANNET_ASSIGN_OR_RETURN(g->graph, SchemaGraph::compile(schema));
    // Formats are asserted: a structured output that asks for "format": "date" should get a date.
    auto v = jsonschema::Validator::compile(schema, {.format = jsonschema::FormatMode::kAssert});
    if (!v.has_value()) {
        return make_error(v.error().code(), "constrain: schema: %s", v.error().message().c_str());
    }
    g->validator = std::move(*v);
    g->options = options;
    if (!g->graph.node(g->graph.root()).is_sat) {
        return make_error(ErrorCode::kInvalidArgument, "constrain: schema: no JSON value satisfies it");
    }
    return std::shared_ptr<const Grammar>(std::move(g));
}

Result<std::shared_ptr<const Grammar>> Grammar::from_regex(std::string_view pattern) {
    auto exact = jsonschema::Regex::compile("^(?:" + std::string(pattern) + ")$");
    if (!exact.has_value())
        return make_error(ErrorCode::kInvalidArgument, "constrain: regex: %s", exact.error().message().c_str());
    auto dfa = RegexDfa::compile(pattern, RegexDfa::Mode::kFullMatch);
    if (!dfa.has_value()) {
        const ErrorCode code = dfa.error().code() == ErrorCode::kResourceExhausted ? ErrorCode::kResourceExhausted
                                                                                   : ErrorCode::kInvalidArgument;
        return make_error(code, "constrain: %s", dfa.error().message().c_str());
    }
    auto g = std::make_shared<Grammar>();
    g->graph = SchemaGraph::any_object();
    g->regex = std::make_shared<const RegexDfa>(std::move(*dfa));
    g->regex_exact = std::move(*exact);
    return std::shared_ptr<const Grammar>(std::move(g));
}

Result<std::shared_ptr<const Grammar>> Grammar::from_gbnf(std::string_view text) {
    auto gbnf = Gbnf::parse(text);
    if (!gbnf.has_value())
        return make_error(gbnf.error().code(), "constrain: %s", gbnf.error().message().c_str());
    auto g = std::make_shared<Grammar>();
    g->graph = SchemaGraph::any_object();
    g->gbnf = std::make_shared<const Gbnf>(std::move(*gbnf));
    return std::shared_ptr<const Grammar>(std::move(g));
}

std::shared_ptr<const Grammar> Grammar::json_object(const MatcherOptions& options) {
    auto g = std::make_shared<Grammar>();
    g->graph = SchemaGraph::any_object();
    g->options = options;
    return g;
}

Constraint::Constraint(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const TokenVocab> vocab,
                       std::vector<int32_t> eos_ids)
    : grammar_(std::move(grammar)),
      vocab_(std::move(vocab)),
      eos_ids_(std::move(eos_ids)),
      matcher_(grammar_->graph, grammar_->options),
      state_(matcher_.initial()),
      regex_state_(grammar_->regex != nullptr ? grammar_->regex->start() : -1) {
    if (grammar_->gbnf != nullptr)
        gbnf_state_ = grammar_->gbnf->initial();
}

bool Constraint::is_complete() const {
    if (grammar_->gbnf != nullptr)
        return Gbnf::is_accepting(gbnf_state_);
    if (grammar_->regex != nullptr)
        return grammar_->regex->is_accepting(regex_state_);
    return matcher_.is_complete(state_);
}

// The GBNF mask: the same pruned trie walk, stepping the parse state one byte per edge.
void Constraint::gbnf_walk(const ByteTrie& trie, int32_t node, size_t depth, TokenMask& mask) {
    if (gbnf_levels_.size() < depth + 2)
        gbnf_levels_.resize(depth + 2);
    const ByteTrie::TrieNode& n = trie.node(node);
    for (int32_t e = n.first_edge; e < n.first_edge + n.n_edges; ++e) {
        const ByteTrie::Edge& edge = trie.edge(e);
        if (!grammar_->gbnf->step(gbnf_levels_[depth], edge.byte, gbnf_levels_[depth + 1]))
            continue;
        const ByteTrie::TrieNode& c = trie.node(edge.child);
        for (int32_t t = c.first_token; t < c.first_token + c.n_tokens; ++t)
            mask.set(trie.token(t));
        if (c.n_edges > 0)
            gbnf_walk(trie, edge.child, depth + 1, mask);
    }
}

void Constraint::compute_mask(TokenMask& mask) {
    if (grammar_->gbnf != nullptr) {
        const bool can_memo = gbnf_state_.cp_left == 0;
        auto hit = can_memo ? gbnf_memo_.find(gbnf_state_.stacks) : gbnf_memo_.end();
        if (hit != gbnf_memo_.end()) {
            mask = hit->second;
        } else {
            mask.reset(vocab_->n_vocab());
            if (gbnf_levels_.empty())
                gbnf_levels_.resize(2);
            gbnf_levels_[0] = gbnf_state_;
            gbnf_walk(vocab_->trie(), 0, 0, mask);
            if (can_memo && gbnf_memo_.size() < kMaxGbnfMemo)
                gbnf_memo_.emplace(gbnf_state_.stacks, mask);
        }
    } else if (grammar_->regex != nullptr) {
        // Every token whose bytes keep the DFA live: the same per state, so cached.
        const MaskCache::Key key{.vocab = vocab_.get(),
                                 .kind = MaskCache::Kind::kDfaAll,
                                 .state = regex_state_,
                                 .dfa = grammar_->regex.get()};
        std::shared_ptr<const TokenMask> m = grammar_->masks.find(key);
        if (m == nullptr) {
            auto fresh = std::make_shared<TokenMask>();
            fresh->reset(vocab_->n_vocab());
            MaskWalker::walk_dfa(*grammar_->regex, vocab_->trie(), 0, regex_state_, -1, *fresh);
            m = grammar_->masks.insert(key, std::move(fresh));
        }
        mask = *m;
    } else {
        walker_.mask(matcher_, *vocab_, state_, mask, &grammar_->masks);
    }
    if (is_complete()) {
        for (int32_t e : eos_ids_) {
            if (e >= 0 && e < vocab_->n_vocab())
                mask.set(e);
        }
    }
}

bool Constraint::accept_bytes(std::string_view bytes) {
    if (grammar_->gbnf != nullptr) {
        Gbnf::State cur = gbnf_state_, next;
        for (char c : bytes) {
            if (!grammar_->gbnf->step(cur, static_cast<uint8_t>(c), next))
                return false;
            std::swap(cur, next);
        }
        gbnf_state_ = std::move(cur);
        text_.append(bytes);
        return true;
    }
    if (grammar_->regex != nullptr) {
        int32_t s = regex_state_;
        for (char c : bytes) {
            s = grammar_->regex->step(s, static_cast<uint8_t>(c));
            if (s < 0)
                return false;
        }
        regex_state_ = s;
        text_.append(bytes);
        return true;
    }
    MatcherState cur = state_;
    for (char c : bytes) {
        if (!matcher_.step(cur, static_cast<uint8_t>(c), next_))
            return false;
        std::swap(cur, next_);
    }
    state_ = std::move(cur);
    text_.append(bytes);
    return true;
}

Status Constraint::accept(int32_t token) {
    if (token < 0 || token >= vocab_->n_vocab()) {
        return make_error(ErrorCode::kInvalidArgument, "constrain: token %d: out of range [0, %d)", token,
                          vocab_->n_vocab());
    }
    for (int32_t e : eos_ids_) {
        if (token == e) {
            if (is_complete())
                return Status();
            return make_error(ErrorCode::kInvalidArgument, "constrain: end of generation before the value is complete");
        }
    }
    const std::string& b = vocab_->bytes(token);
    if (b.empty() || !accept_bytes(b)) {
        return make_error(ErrorCode::kInvalidArgument, "constrain: token %d (\"%s\"): not allowed after \"%s\"", token,
                          b.c_str(), text_.size() > 40 ? text_.substr(text_.size() - 40).c_str() : text_.c_str());
    }
    return Status();
}

void Constraint::process(std::span<float> logits) {
    compute_mask(mask_);
    const float neg_inf = -std::numeric_limits<float>::infinity();
    const size_t n = std::min(logits.size(), static_cast<size_t>(vocab_->n_vocab()));
    for (size_t i = 0; i < logits.size(); ++i) {
        if (i >= n || !mask_.test(static_cast<int32_t>(i)))
            logits[i] = neg_inf;
    }
}

Status Constraint::validate(std::string_view text) const {
    if (grammar_->gbnf != nullptr) {
        // The parse is exact: re-read the text from the start.
        Gbnf::State s = grammar_->gbnf->initial(), next;
        for (char c : text) {
            if (!grammar_->gbnf->step(s, static_cast<uint8_t>(c), next))
                return make_error(ErrorCode::kInvalidArgument, "constrain: output is not a sentence of the grammar");
            std::swap(s, next);
        }
        if (!Gbnf::is_accepting(s))
            return make_error(ErrorCode::kInvalidArgument, "constrain: output ends before the grammar's sentence does");
        return Status();
    }
    if (grammar_->regex_exact.has_value()) {
        if (grammar_->regex_exact->search(text) == jsonschema::Regex::Match::kYes)
            return Status();
        return make_error(ErrorCode::kInvalidArgument, "constrain: output does not match the regex");
    }
    const MatcherOptions& o = grammar_->options;
    // Split off the wrapper: each value sits between prefix and suffix.
    std::vector<std::string_view> values;
    if (o.prefix.empty() && o.suffix.empty()) {
        values.push_back(text);
    } else {
        size_t pos = 0;
        while (true) {
            const size_t a = text.find(o.prefix, pos);
            if (a == std::string_view::npos)
                break;
            const size_t start = a + o.prefix.size();
            const size_t b = o.suffix.empty() ? text.size() : text.find(o.suffix, start);
            values.push_back(text.substr(start, b == std::string_view::npos ? std::string_view::npos : b - start));
            if (b == std::string_view::npos)
                break;
            pos = b + o.suffix.size();
        }
    }
    for (std::string_view v : values) {
        auto j = gannet::json::parse(v);
        if (!j.has_value()) {
            return make_error(ErrorCode::kInvalidArgument, "constrain: output is not JSON: %s",
                              j.error().message().c_str());
        }
        if (!grammar_->validator.has_value()) {
            if (!j->is_object())
                return make_error(ErrorCode::kInvalidArgument, "constrain: output is not a JSON object");
            continue;
        }
        const jsonschema::ValidationResult r = grammar_->validator->validate(*j, jsonschema::OutputFormat::kBasic);
        if (!r.valid) {
            const std::string what =
                r.errors.empty() ? "invalid" : r.errors[0].keyword_location + ": " + r.errors[0].error;
            return make_error(ErrorCode::kInvalidArgument, "constrain: output fails the schema: %s", what.c_str());
        }
    }
    return Status();
}

}  // namespace gannet::constrain
