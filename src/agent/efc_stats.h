// How well one per-trajectory measure predicts the recorded outcome: ROC AUC and the R² of a fit
// of the binned failure rate (docs/efc.md). Owner: efc helper. Thread-safety: pure functions.
#pragma once

#include <vector>

namespace gannet::agent {

// P(score of a random positive > score of a random negative), ties counting 1/2 (the Mann-Whitney
// U statistic over n_pos * n_neg). 0.5 = no information; below 0.5 the measure predicts the other
// way. NaN when either class is empty. REQUIRES: scores.size() == is_positive.size().
double roc_auc(const std::vector<double>& scores, const std::vector<bool>& is_positive);

// ROC AUC over only the pairs that share a stratum (e.g. runs of similar length): does the score still
// separate outcomes when the stratifying quantity is held (nearly) fixed? Pairs are pooled across
// strata. NaN when no stratum holds both classes. REQUIRES: equal sizes.
double stratified_auc(const std::vector<double>& scores, const std::vector<bool>& is_positive,
                      const std::vector<int>& stratum);

// Stratum of each value: its equal-count quantile bin (0 .. n_strata-1) by rank, ties broken by index.
std::vector<int> quantile_strata(const std::vector<double>& values, int n_strata);

struct BinnedFit {
    std::vector<double> x_mean;        // [n_bins] mean of the measure in each bin
    std::vector<double> failure_rate;  // [n_bins]
    double slope = 0, intercept = 0;   // failure_rate ~ intercept + slope * ln(1 + x_mean)
    double r2 = 0;                     // of that line over the bins (NaN when the rates do not vary)
};

// Sorts the trajectories by the measure, cuts them into n_bins equal-count bins (ties kept together
// where possible, so a bin may be larger) and fits a least-squares line of the failure rate against
// ln(1 + bin mean): a monotone law with two parameters for every measure alike. REQUIRES: x >= 0,
// n_bins >= 2, x.size() == is_failure.size().
BinnedFit binned_failure_fit(const std::vector<double>& x, const std::vector<bool>& is_failure, int n_bins);

}  // namespace gannet::agent
