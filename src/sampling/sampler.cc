#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gannet::sampling {

int32_t argmax(std::span<const float> logits) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> history, float penalty,
                              int32_t last_n) {
    if (penalty == 1.0f || last_n <= 0) {
        return;
    }
    const size_t n = std::min(history.size(), static_cast<size_t>(last_n));
    const std::span<const int32_t> recent = history.subspan(history.size() - n);
    for (size_t i = 0; i < recent.size(); ++i) {
        const int32_t id = recent[i];
        if (id < 0 || static_cast<size_t>(id) >= logits.size()) {
            continue;
        }
        // Each distinct id is penalized once, however often it repeats (as llama.cpp does).
        if (std::find(recent.begin(), recent.begin() + static_cast<std::ptrdiff_t>(i), id)
            != recent.begin() + static_cast<std::ptrdiff_t>(i)) {
            continue;
        }
        logits[id] = logits[id] > 0.0f ? logits[id] / penalty : logits[id] * penalty;
    }
}

Result<Sampler> Sampler::create(const SamplerConfig& cfg) {
    if (!(cfg.temperature >= 0.0f) || cfg.top_k < 0) {
        return make_error(ErrorCode::kInvalidArgument, "sampling: temperature %g and top_k %d must be >= 0",
                          cfg.temperature, cfg.top_k);
    }
    if (!(cfg.top_p > 0.0f && cfg.top_p <= 1.0f) || !(cfg.min_p >= 0.0f && cfg.min_p <= 1.0f)) {
        return make_error(ErrorCode::kInvalidArgument, "sampling: top_p %g must be in (0, 1] and min_p %g in [0, 1]",
                          cfg.top_p, cfg.min_p);
    }
    if (!(cfg.repeat_penalty > 0.0f)) {
        return make_error(ErrorCode::kInvalidArgument, "sampling: repeat penalty %g must be > 0", cfg.repeat_penalty);
    }
    return Sampler(cfg);
}

std::vector<std::pair<int32_t, float>> log_softmax_top(std::span<const float> logits, int32_t chosen, int32_t top_n,
                                                       float& chosen_logprob) {
    const float max_logit = *std::max_element(logits.begin(), logits.end());
    double total = 0.0;
    for (float l : logits)
        total += std::exp(static_cast<double>(l - max_logit));
    const double log_z = static_cast<double>(max_logit) + std::log(total);
    chosen_logprob = static_cast<float>(static_cast<double>(logits[static_cast<size_t>(chosen)]) - log_z);
    std::vector<std::pair<int32_t, float>> top;
    if (top_n <= 0)
        return top;
    const size_t n = std::min(static_cast<size_t>(top_n), logits.size());
    std::vector<int32_t> ids(logits.size());
    for (size_t i = 0; i < ids.size(); ++i)
        ids[i] = static_cast<int32_t>(i);
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(), [&](int32_t a, int32_t b) {
        return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)]
               || (logits[static_cast<size_t>(a)] == logits[static_cast<size_t>(b)] && a < b);
    });
    for (size_t i = 0; i < n; ++i) {
        top.emplace_back(ids[i], static_cast<float>(static_cast<double>(logits[static_cast<size_t>(ids[i])]) - log_z));
    }
    return top;
}

double Sampler::uniform() {
    return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
    work_.assign(logits.begin(), logits.end());
    apply_repetition_penalty(work_, history, cfg_.repeat_penalty, cfg_.repeat_last_n);
    if (cfg_.temperature == 0.0f) {
        return argmax(work_);
    }
    cand_.resize(work_.size());
    for (size_t i = 0; i < work_.size(); ++i) {
        cand_[i] = {work_[i], static_cast<int32_t>(i)};
    }
    // Descending by logit, ties by id, so the order (and thus a seeded draw) is deterministic.
    auto greater = [](const auto& a, const auto& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    size_t n = cand_.size();
    if (cfg_.top_k > 0 && static_cast<size_t>(cfg_.top_k) < n) {
        n = static_cast<size_t>(cfg_.top_k);
        std::partial_sort(cand_.begin(), cand_.begin() + static_cast<std::ptrdiff_t>(n), cand_.end(), greater);
    } else {
        std::sort(cand_.begin(), cand_.end(), greater);
    }
    const float max_logit = cand_[0].first;
    // Tokens a logit processor forbade (-inf) are never candidates, whatever the rounding below.
    while (n > 1 && cand_[n - 1].first == -std::numeric_limits<float>::infinity())
        --n;
    if (cfg_.top_p < 1.0f) {
        // Mass of the untempered distribution over all kept candidates.
        double total = 0.0;
        for (size_t i = 0; i < n; ++i) {
            total += std::exp(static_cast<double>(cand_[i].first - max_logit));
        }
        double cum = 0.0;
        for (size_t i = 0; i < n; ++i) {
            cum += std::exp(static_cast<double>(cand_[i].first - max_logit)) / total;
            if (cum >= cfg_.top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (cfg_.min_p > 0.0f) {
        // p_i >= min_p * p_max  <=>  logit_i >= max_logit + log(min_p)
        const float threshold = max_logit + std::log(cfg_.min_p);
        size_t keep = 1;
        while (keep < n && cand_[keep].first >= threshold) {
            ++keep;
        }
        n = keep;
    }
    double total = 0.0;
    for (size_t i = 0; i < n; ++i) {
        total += std::exp(static_cast<double>(cand_[i].first - max_logit) / cfg_.temperature);
    }
    const double target = uniform() * total;
    double cum = 0.0;
    for (size_t i = 0; i < n; ++i) {
        cum += std::exp(static_cast<double>(cand_[i].first - max_logit) / cfg_.temperature);
        if (target < cum) {
            return cand_[i].second;
        }
    }
    return cand_[n - 1].second;  // rounding left target at the very top of the range
}

}  // namespace gannet::sampling
