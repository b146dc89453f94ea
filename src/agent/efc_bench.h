// `gannet bench efc`'s measurement: EFC of each recorded trajectory (shared format, bench/trajectory.h)
// and how well EFC/D_task, raw tokens, tool calls and steps predict the recorded outcome.
// Owner: efc helper. Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "agent/efc_scorer.h"
#include "agent/efc_stats.h"
#include "bench/png_writer.h"
#include "bench/trajectory.h"

namespace gannet::agent {

struct TrajectoryEfc {
    std::string id;
    bool is_resolved = false;
    double efc = 0;
    double d_task = 1;
    double efc_per_demand = 0;
    int64_t n_tokens_raw = 0;  // sum over model calls of provider prompt + output tokens (what was billed)
    int64_t n_tool_calls = 0;  // tool results the agent read (format rejections included)
    int64_t n_steps = 0;       // model calls
    int64_t n_credited = 0;    // tool results with credit > 0
};

// The task statement of a trajectory: the text between <pr_description> and </pr_description> of
// the first user message (mini-swe-agent), else that whole message.
std::string task_statement(const bench::Trajectory& t);

// Replays the trajectory into an EfcScorer: each assistant message is an action, the messages after
// it up to the next assistant message are its tool results. Messages after the last assistant
// message were never sent to the model and are not scored.
TrajectoryEfc score_trajectory(const bench::Trajectory& t, const EfcConfig& config);

struct MeasureFit {
    double auc = 0;  // P(measure of a resolved run > that of an unresolved one)
    BinnedFit fit;
};

struct EfcSummary {
    int n_trajectories = 0;
    int n_resolved = 0;
    MeasureFit efc_per_demand, efc, tokens, tool_calls, steps;
    double auc_efc_per_call = 0;  // EFC / tool calls: the share of feedback that counted
    // AUCs over pairs of runs in the same step-count quintile (spend held nearly fixed, as in the
    // paper's matched-budget comparison).
    double auc_efc_matched_steps = 0, auc_tokens_matched_steps = 0;
    // Discrimination regardless of sign: max(auc, 1 - auc) of the best raw measure.
    double best_raw_discrimination = 0;
};

// REQUIRES: every row has a known outcome.
EfcSummary summarize_efc(const std::vector<TrajectoryEfc>& rows, int n_bins);

// Two panels: failure rate per bin against EFC/D_task (left) and against raw tokens (right), with
// the fitted line and the AUC in each title.
bench::Image draw_efc_plot(const EfcSummary& s);

}  // namespace gannet::agent
