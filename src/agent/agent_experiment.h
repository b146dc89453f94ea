// The Token Budgets paper's experiments (../shared/specs/papers.md §9), recreated against an
// OpenAI-compatible server (ours: `gannet serve`), since there is no live provider here:
// 1. a single-agent retry loop on an affine budget: does it ever overshoot?
// 2. a 4-way delegation fan-out, children given copies of a plain counter (the naive baseline the
//    paper found in frameworks) vs children given split() budgets: overshoot rate of each;
// 3. stratified runs (temperatures x the three estimators): violations (a call billed more than it
//    reserved, or a run past its cap) and false refusals (a call refused although its exact
//    worst-case cost fitted what remained, or a 429 from the server for a call the harness admitted);
// 4. over-reservation factor (reserved / billed): static (bytes x2 + max_tokens) vs adaptive
//    (the model's tokenizer + a p99 output reservation).
// Owned by src/agent/. Thread-safety: run_budget_experiment() runs its own threads; call it once.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "agent/agent_model.h"
#include "base/result.h"

namespace gannet::agent {

struct ExperimentOptions {
    ModelEndpoint endpoint;
    std::string tokenizer_path;  // GGUF whose tokenizer + chat template the server uses (exact estimator)
    int runs = 30;               // per arm of experiments 1 and 2
    int n_stratified = 160;      // at least this many runs in experiment 3
    uint64_t max_tokens = 64;    // output cap per call (the static output reservation)
    // Calls stop at the first newline, so output lengths vary as an agent's do (this model never
    // emits EOS within a few hundred tokens; without a stop every call would fill its cap).
    std::string stop = "\n";
    uint64_t retry_budget = 600;
    uint64_t fanout_budget = 800;
    uint64_t task_budget = 2000;
    int task_calls = 3;  // model calls per stratified run
    std::vector<double> temperatures = {0.0, 0.5, 1.0, 1.5};
    uint64_t seed = 1;
    bool is_quiet = false;  // no progress on stderr
};

// Returns the summary: {"runs", "naive_overshoot", "split_overshoot", "retry_overshoot", "violations",
// "false_refusals", "stratified_runs", "over_reservation": {"static", "tokenizer", "adaptive"}, ...}.
// Errors: the endpoint unreachable, the tokenizer file unreadable.
Result<nlohmann::json> run_budget_experiment(const ExperimentOptions& options);

}  // namespace gannet::agent
