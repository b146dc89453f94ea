// Summaries of a replay: the numbers for one concurrency level, and their JSON form (the last line
// of `gannet bench replay`'s stdout). Owner: bench helper. Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "bench/replay.h"
#include "bench/stats.h"

namespace gannet::bench {

struct LevelReport {
    int n_agents = 0;
    int64_t n_steps = 0;  // measured requests
    int64_t n_errors = 0;
    std::string first_error;
    double wall_s = 0;
    int64_t n_tokens_prompt = 0;  // usage.prompt_tokens summed (steps that reported it)
    int64_t n_tokens_cached = 0;  // cached prompt tokens summed (steps that reported it)
    int64_t n_steps_with_cached = 0;
    int64_t n_tokens_completion = 0;  // tokens received: usage where reported, else chunks
    int64_t n_chunks = 0;             // content chunks received
    int64_t n_steps_with_usage = 0;
    Percentiles ttft_ms, tpot_ms, itl_ms, e2e_ms;
    Percentiles request_tok_s;  // per-request output speed 1000 / tpot
    Percentiles agent_tok_s;    // per-agent speed at the SLO percentile (AgentSlo::tok_s)
    int agents_meeting_slo = 0;
    double throughput_tok_s = 0;                              // completion tokens / wall time
    double goodput_tok_s = 0;                                 // completion tokens of agents meeting the SLO / wall time
    double server_prefix_cache_hit_rate = -1;                 // from the server's /metrics; -1 unknown
    double power_w = -1, power_gpu_w = -1, power_cpu_w = -1;  // mean over the level; -1 unknown

    double share_meeting_slo() const { return n_agents > 0 ? static_cast<double>(agents_meeting_slo) / n_agents : 0; }
    // "usage", "chunks" or "mixed": where n_tokens_completion came from.
    std::string completion_tokens_source() const;
};

LevelReport summarize(const ReplayResult& result, const SloConfig& slo);

// Flat JSON object for one level; unknown values are null.
nlohmann::json level_json(const LevelReport& r);

// One human-readable line per level (stdout without --json).
std::string level_line(const LevelReport& r);

}  // namespace gannet::bench
