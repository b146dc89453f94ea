// Command-line options of `gannet bench replay` and their parser (src/ cannot use tools/'s Flags).
// Owner: bench helper. Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "bench/replay.h"
#include "bench/stats.h"

namespace gannet::bench {

struct ReplayOptions {
    std::string endpoint;          // --endpoint, OpenAI base URL
    std::string trajectories_dir;  // --trajectories
    int n_agents = 1;              // --agents
    bool is_sweep = false;         // --sweep: 1, 2, 4, ... agents until the SLO share drops
    int max_agents = 64;           // --max-agents: sweep ceiling
    bool is_refine = false;        // --refine: bisect between the last passing and first failing level
    SloConfig slo;
    int64_t max_steps = 0;          // --max-steps per trajectory; 0 = all
    int64_t max_tokens = 4096;      // --max-tokens cap on the recorded output length; 0 = none
    double duration_s = 0;          // --duration per level
    double warmup_s = 0;            // --warmup
    ToolDelay delay;                // --tool-delay, --time-scale
    double stagger_ms = 100;        // --stagger-ms
    uint64_t seed = 1;              // --seed
    std::string model;  // --model; empty: the first model the server lists at GET /models
    bool is_ignore_eos = true;      // --no-ignore-eos clears it
    std::string api_key;            // --api-key
    int connect_timeout_ms = 3000;  // --connect-timeout-ms
    int request_timeout_s = 600;    // --request-timeout-s
    bool is_json = false;           // --json: stdout carries only the JSON line
    bool is_quiet = false;          // --quiet: no progress line on stderr
    std::string plot_path;          // --plot
    bool is_help = false;           // --help / -h
};

// Errors: kInvalidArgument with one line naming the flag and the bad value.
Result<ReplayOptions> parse_replay_args(const std::vector<std::string>& args);

std::string replay_usage();

}  // namespace gannet::bench
