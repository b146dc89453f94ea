#include "model/perplexity.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace gannet::model {

double negative_log_likelihood(std::span<const float> logits, int32_t target) {
    const float max_v = *std::max_element(logits.begin(), logits.end());
    double sum = 0.0;
    for (float v : logits) {
        sum += std::exp(static_cast<double>(v) - max_v);
    }
    return std::log(sum) - (static_cast<double>(logits[static_cast<size_t>(target)]) - max_v);
}

Result<PerplexityResult> evaluate_perplexity(const WindowLogits& window_logits, int64_t n_vocab,
                                             std::span<const int32_t> tokens, int64_t n_ctx, int32_t bos_id,
                                             const PerplexityProgress& progress) {
    if (n_ctx < 4 || static_cast<int64_t>(tokens.size()) < n_ctx) {
        return make_error(ErrorCode::kInvalidArgument,
                          "perplexity: the text has %zu tokens, need at least one window of %lld (>= 4)", tokens.size(),
                          static_cast<long long>(n_ctx));
    }
    const int64_t n_windows = static_cast<int64_t>(tokens.size()) / n_ctx;
    std::vector<int32_t> window(static_cast<size_t>(n_ctx));
    PerplexityResult r;
    double nll_sum = 0.0;
    const int64_t first = n_ctx / 2;
    for (int64_t w = 0; w < n_windows; ++w) {
        std::copy_n(tokens.begin() + w * n_ctx, n_ctx, window.begin());
        if (bos_id >= 0) {
            window[0] = bos_id;
        }
        GANNET_ASSIGN_OR_RETURN(std::span<const float> logits, window_logits(window));
        if (static_cast<int64_t>(logits.size()) != n_ctx * n_vocab) {
            return make_error(ErrorCode::kInvalidArgument, "perplexity: got %zu logits for a window, expected %lld",
                              logits.size(), static_cast<long long>(n_ctx * n_vocab));
        }
        // Logits at position i predict the token at i + 1 (the original token, never the BOS).
        for (int64_t i = first; i < n_ctx - 1; ++i) {
            const int32_t target = tokens[static_cast<size_t>(w * n_ctx + i + 1)];
            nll_sum += negative_log_likelihood(logits.subspan(static_cast<size_t>(i * n_vocab), n_vocab), target);
            ++r.n_scored;
        }
        r.n_windows = w + 1;
        if (progress) {
            progress(w, std::exp(nll_sum / static_cast<double>(r.n_scored)));
        }
    }
    r.mean_nll = nll_sum / static_cast<double>(r.n_scored);
    r.perplexity = std::exp(r.mean_nll);
    return r;
}

}  // namespace gannet::model
