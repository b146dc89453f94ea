#include "agent/efc_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "base/check.h"

namespace gannet::agent {

double roc_auc(const std::vector<double>& scores, const std::vector<bool>& is_positive) {
    GANNET_CHECK(scores.size() == is_positive.size());
    std::vector<size_t> order(scores.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
    // Mid-ranks over tie groups; U = (sum of positive ranks) - n_pos (n_pos + 1) / 2.
    double rank_sum = 0;
    double n_pos = 0;
    for (size_t i = 0; i < order.size();) {
        size_t j = i;
        while (j < order.size() && scores[order[j]] == scores[order[i]]) {
            ++j;
        }
        const double mid_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
        for (size_t k = i; k < j; ++k) {
            if (is_positive[order[k]]) {
                rank_sum += mid_rank;
                n_pos += 1;
            }
        }
        i = j;
    }
    const double n_neg = static_cast<double>(scores.size()) - n_pos;
    if (n_pos == 0 || n_neg == 0) {
        return std::numeric_limits<double>::quiet_NaN();
    }
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg);
}

double stratified_auc(const std::vector<double>& scores, const std::vector<bool>& is_positive,
                      const std::vector<int>& stratum) {
    GANNET_CHECK(scores.size() == is_positive.size() && scores.size() == stratum.size());
    double n_correct = 0;
    double n_pairs = 0;
    // O(n^2) over at most a few thousand runs: simpler than per-stratum ranks and fast enough.
    for (size_t i = 0; i < scores.size(); ++i) {
        if (!is_positive[i]) {
            continue;
        }
        for (size_t j = 0; j < scores.size(); ++j) {
            if (is_positive[j] || stratum[i] != stratum[j]) {
                continue;
            }
            n_pairs += 1;
            n_correct += scores[i] > scores[j] ? 1.0 : scores[i] == scores[j] ? 0.5 : 0.0;
        }
    }
    return n_pairs > 0 ? n_correct / n_pairs : std::numeric_limits<double>::quiet_NaN();
}

std::vector<int> quantile_strata(const std::vector<double>& values, int n_strata) {
    std::vector<size_t> order(values.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
    std::vector<int> out(values.size());
    for (size_t r = 0; r < order.size(); ++r) {
        out[order[r]] = static_cast<int>(r * static_cast<size_t>(n_strata) / order.size());
    }
    return out;
}

BinnedFit binned_failure_fit(const std::vector<double>& x, const std::vector<bool>& is_failure, int n_bins) {
    GANNET_CHECK(x.size() == is_failure.size() && n_bins >= 2);
    std::vector<size_t> order(x.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
    BinnedFit fit;
    const double per_bin = static_cast<double>(x.size()) / n_bins;
    for (size_t i = 0; i < order.size();) {
        size_t j = std::max(i + 1, static_cast<size_t>(std::lround(per_bin * (fit.x_mean.size() + 1))));
        while (j < order.size() && x[order[j]] == x[order[j - 1]]) {
            ++j;  // keep ties in one bin: the same value cannot fall on both sides of a boundary
        }
        j = std::min(j, order.size());
        double sum = 0;
        double n_fail = 0;
        for (size_t k = i; k < j; ++k) {
            sum += x[order[k]];
            n_fail += is_failure[order[k]] ? 1 : 0;
        }
        fit.x_mean.push_back(sum / static_cast<double>(j - i));
        fit.failure_rate.push_back(n_fail / static_cast<double>(j - i));
        i = j;
    }
    const size_t n = fit.x_mean.size();
    double mx = 0, my = 0;
    for (size_t b = 0; b < n; ++b) {
        mx += std::log1p(fit.x_mean[b]) / static_cast<double>(n);
        my += fit.failure_rate[b] / static_cast<double>(n);
    }
    double sxx = 0, sxy = 0, syy = 0;
    for (size_t b = 0; b < n; ++b) {
        const double dx = std::log1p(fit.x_mean[b]) - mx, dy = fit.failure_rate[b] - my;
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    fit.slope = sxx > 0 ? sxy / sxx : 0;
    fit.intercept = my - fit.slope * mx;
    fit.r2 = syy > 0 && sxx > 0 ? sxy * sxy / (sxx * syy) : std::numeric_limits<double>::quiet_NaN();
    return fit;
}

}  // namespace gannet::agent
