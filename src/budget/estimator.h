// Token estimators: how many tokens to reserve before a model call, so that the reservation is at
// least what the server will bill (the paper's assumption A1, ../shared/specs/papers.md §9).
// - ByteEstimator: UTF-8 bytes x margin (2.0 by default: the worst audited case needed 1.875x;
//   byte-level BPE never makes more tokens than bytes, so x2 also covers the chat template's tags).
// - TokenizerEstimator: the model's own tokenizer over the rendered prompt, exact for prompts.
// - P99OutputEstimator: output tokens to reserve, the p99 of recent completions (adaptive) or the
//   request's max_tokens (static) until enough completions were seen. The caller sends the
//   reservation as max_tokens, so the server enforces it and A1 holds for output by construction.
// Owned by src/budget/. Prompt estimators are immutable (thread-safe); P99OutputEstimator is
// thread-safe (internally locked).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "base/result.h"

namespace gannet::budget {

class PromptEstimator {
public:
    virtual ~PromptEstimator() = default;
    // Tokens to reserve for the prompt `text` (the request body's messages, or the rendered prompt).
    virtual Result<uint64_t> estimate(std::string_view text) const = 0;
    virtual std::string name() const = 0;
};

class ByteEstimator final : public PromptEstimator {
public:
    // kMargin2: the default. REQUIRES: margin >= 1.
    explicit ByteEstimator(double margin = 2.0);
    Result<uint64_t> estimate(std::string_view text) const override;  // ceil(bytes * margin)
    std::string name() const override;

private:
    double margin_;
};

// `count` returns the exact token count of a text (e.g. chat template render + tokenizer encode).
class TokenizerEstimator final : public PromptEstimator {
public:
    using CountFn = std::function<Result<uint64_t>(std::string_view text)>;
    explicit TokenizerEstimator(CountFn count) : count_(std::move(count)) {}
    Result<uint64_t> estimate(std::string_view text) const override { return count_(text); }
    std::string name() const override { return "tokenizer"; }

private:
    CountFn count_;
};

class P99OutputEstimator {
public:
    // max_tokens: the cap, reserved until n_warmup completions were observed. window: how many
    // recent completions the p99 is taken over.
    P99OutputEstimator(uint64_t max_tokens, size_t n_warmup = 20, size_t window = 200);

    // Output tokens to reserve (and send as max_tokens): in [1, max_tokens].
    uint64_t reserve() const;
    // A finished call's billed completion tokens.
    void observe(uint64_t completion_tokens);

private:
    const uint64_t max_tokens_;
    const size_t n_warmup_;
    const size_t window_;
    mutable std::mutex mu_;
    std::deque<uint64_t> recent_;  // guarded by mu_; the last `window_` completions
};

}  // namespace gannet::budget
