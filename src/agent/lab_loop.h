// The experiment loop of `gannet agent lab` (AutoLab, ../shared/specs/papers.md §8): an agent
// proposes an edit, the loop runs build -> verify -> measure in a fresh copy of the task's workdir,
// scores the metric against the task's anchors, logs the iteration (time, metric, best so far,
// budget used) and hands the result back, until the agent stops or the budget (wall clock or tokens,
// whichever runs out first) is spent. At the end the final state is measured once more (the reward is
// that of the final state, as AutoLab's test.sh scores it) and two failure-mode detectors run.
// Owner: efc helper. Thread-safety: one run per thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/lab_task.h"
#include "agent/reward.h"
#include "base/result.h"

namespace gannet::agent {

struct Proposal {
    std::string description;
    std::vector<std::pair<std::string, std::string>> files;  // (path relative to the workdir, new content)
    bool is_measured = true;                                 // run build, verify and measure after applying it
    int64_t n_tokens = 0;  // tokens the agent spent producing it (reasoning and the edit)
};

struct Measurement {
    bool is_built = false;
    bool is_verified = false;
    std::optional<double> metric;  // none when build, verify or measure failed
    Reward reward;                 // reward.gate says why it is 0 when a step or a gate failed
    std::string output;            // the commands' output (what the agent reads back)
};

struct Observation {
    int n_iterations = 0;
    std::optional<Measurement> last;  // the last iteration's measurement, when it was measured
    double budget_used = 0;           // max(wall-clock share, token share), 0..1+
    double best_reward = 0;
};

// An agent of the loop: scripted (lab_agents.h) or, later, a model behind `gannet agent`.
class LabAgent {
public:
    virtual ~LabAgent() = default;
    // The next edit, or none to stop.
    virtual std::optional<Proposal> next(const Observation& observation) = 0;
};

struct LabIteration {
    int index = 0;
    double t_s = 0;  // wall clock since the run started, at the end of the iteration
    std::string description;
    bool is_measured = false;
    std::optional<double> metric;
    double reward = 0;
    std::string gate;
    double best_reward = 0;  // best measured so far
    std::optional<double> best_metric;
    double budget_used = 0;
    int64_t n_tokens_used = 0;
};

struct DetectorConfig {
    double early_stop_unused = 0.5;  // premature termination: more than this share of the budget left ...
    double early_stop_reward = 0.5;  // ... with a final reward below this
    double burn_used = 0.8;          // budget burn: more than this share used with no measured improvement
};

struct LabOptions {
    std::string run_dir;  // where the workdir is copied; empty: a fresh folder under the temp dir, removed after
    DetectorConfig detectors;
    std::vector<std::string> extra_env;  // NAME=VALUE for the task's commands (e.g. GANNET=the binary)
};

struct LabRun {
    std::string task, agent;
    std::vector<LabIteration> iterations;
    Measurement final;        // the final state, measured after the agent stopped (not charged to the budget)
    std::string stop_reason;  // "agent stopped" | "budget exhausted"
    double elapsed_s = 0;
    int64_t n_tokens_used = 0;
    double budget_used = 0;
    int n_measured = 0;
    double time_to_best_s = 0;              // t_s of the first iteration that reached the best measured reward
    bool has_measured_improvement = false;  // some measured iteration scored reward > 0 (beat the baseline)
    bool is_premature_termination = false;
    bool is_budget_burn = false;
    DetectorConfig detectors;
};

// Errors: kInvalidArgument when the agent writes a file that is not editable; kInternal/kNotFound
// when the run folder cannot be made; a failing build or test is a measurement, not an error.
Result<LabRun> run_lab(const LabTask& task, LabAgent& agent, const std::string& agent_name, const LabOptions& options);

// The detectors over a finished run's numbers (exposed for tests of the thresholds).
void apply_detectors(LabRun* run);

}  // namespace gannet::agent
