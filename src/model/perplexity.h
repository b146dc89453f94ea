// Perplexity over a token stream, scored as llama.cpp's `perplexity` tool does: the stream is cut
// into non-overlapping windows of n_ctx tokens, each evaluated from an empty cache (its first token
// replaced by BOS when the model adds one), and only the second half of each window is scored, so
// every scored token has at least n_ctx / 2 tokens of context. The logits come from the caller
// (`gannet perplexity` passes runner::Runner::run_sequence, the one forward), so this file holds
// only the scoring. Owner: model. Thread-safety: pure apart from the callbacks.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "base/result.h"

namespace gannet::model {

struct PerplexityResult {
    double perplexity = 0.0;  // exp(mean negative log-likelihood)
    double mean_nll = 0.0;    // nats per scored token
    int64_t n_scored = 0;     // tokens scored
    int64_t n_windows = 0;
};

// Called after each window with the window index and the perplexity so far.
using PerplexityProgress = std::function<void(int64_t window, double perplexity)>;

// Logits [n_ctx, n_vocab] of every position of one window, run from an empty cache; the view must
// stay valid until the next call.
using WindowLogits = std::function<Result<std::span<const float>>(std::span<const int32_t> window)>;

// bos_id < 0: windows keep their first token. Errors: kInvalidArgument when n_ctx < 4 or the stream
// holds fewer than n_ctx tokens (the message gives both counts), or when window_logits returns
// other than n_ctx * n_vocab floats; errors of window_logits.
Result<PerplexityResult> evaluate_perplexity(const WindowLogits& window_logits, int64_t n_vocab,
                                             std::span<const int32_t> tokens, int64_t n_ctx, int32_t bos_id,
                                             const PerplexityProgress& progress = nullptr);

// -log softmax(logits)[target], computed in double with the max subtracted.
double negative_log_likelihood(std::span<const float> logits, int32_t target);

}  // namespace gannet::model
