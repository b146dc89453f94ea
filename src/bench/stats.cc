#include "bench/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gannet::bench {

double percentile(std::vector<double> values, double p) {
    if (values.empty()) {
        return std::numeric_limits<double>::quiet_NaN();
    }
    std::sort(values.begin(), values.end());
    const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(rank));
    const size_t hi = std::min(lo + 1, values.size() - 1);
    const double frac = rank - static_cast<double>(lo);
    if (frac == 0 || values[hi] == values[lo]) {
        return values[lo];  // also keeps inf (a request without output) from turning into NaN
    }
    return values[lo] + (values[hi] - values[lo]) * frac;
}

Percentiles percentiles(const std::vector<double>& values) {
    return {percentile(values, 50), percentile(values, 90), percentile(values, 99)};
}

AgentSlo evaluate_agent(const std::vector<StepSample>& samples, int64_t n_errors, const SloConfig& slo) {
    std::vector<double> rates;
    std::vector<double> ttfts;
    for (const StepSample& s : samples) {
        const double tpot = s.tpot_ms();
        if (tpot > 0) {
            rates.push_back(1000.0 / tpot);
        }
        // A request that produced no content never got a first token: count it as infinitely late.
        ttfts.push_back(s.ttft_ms >= 0 ? s.ttft_ms : std::numeric_limits<double>::infinity());
    }
    AgentSlo out;
    out.tok_s = percentile(rates, 100.0 - slo.percentile);
    out.ttft_ms = percentile(ttfts, slo.percentile);
    // No request with two or more token chunks: the output came with its first token, so speed
    // cannot be measured and TTFT alone decides.
    const bool is_fast_enough = rates.empty() || out.tok_s >= slo.tok_s;
    out.meets = n_errors == 0 && !samples.empty() && is_fast_enough && out.ttft_ms <= slo.ttft_ms;
    return out;
}

}  // namespace gannet::bench
