// Percentiles and the SLO test for one agent. Owner: bench helper. Thread-safety: pure functions.
#pragma once

#include <vector>

#include "bench/chat_stream.h"

namespace gannet::bench {

// Linear interpolation between closest ranks (numpy's default): p in [0, 100]. NaN for no values.
double percentile(std::vector<double> values, double p);

struct Percentiles {
    double p50 = 0, p90 = 0, p99 = 0;  // NaN when there were no values
};
Percentiles percentiles(const std::vector<double>& values);

struct SloConfig {
    double tok_s = 20;          // per-agent output speed floor (AgentPerf tiers: 20 and 60)
    double ttft_ms = 10000;     // TTFT ceiling; AgentPerf published none, 10 s suits long agent contexts
    double percentile = 90;     // both tests hold for this share of the agent's requests
    double target_share = 0.9;  // a sweep level passes while this share of agents meets the SLO
};

struct AgentSlo {
    double tok_s = 0;    // the (100 - percentile)-th percentile of the agent's per-request output speed
    double ttft_ms = 0;  // the percentile-th percentile of its TTFT
    bool meets = false;
};

// An agent meets the SLO when at least `percentile`% of its requests decode at >= tok_s and get
// their first token within ttft_ms. Output speed per request is 1000 / tpot_ms; requests whose
// tokens came in fewer than 2 chunks have none and are left out of the speed test (an agent with
// no such request is judged on TTFT alone). An agent with errors, or with no measured request,
// does not meet it.
AgentSlo evaluate_agent(const std::vector<StepSample>& samples, int64_t n_errors, const SloConfig& slo);

}  // namespace gannet::bench
