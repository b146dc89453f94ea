// The replay engine: N simulated agents, one thread each, each walking recorded trajectories step
// by step against an OpenAI-compatible server. Thread per agent keeps every agent's timing free of
// the others' JSON work and is fine up to a few hundred agents (each thread mostly sleeps in poll
// or in its tool delay; 8 MiB of reserved, untouched stack each). Owner: bench helper.
// Thread-safety: run_replay is called from one thread; it joins every agent before returning.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/chat_stream.h"
#include "bench/http_client.h"
#include "bench/trajectory.h"

namespace gannet::bench {

// Time an agent waits between receiving an answer and sending its next request (the tool call).
struct ToolDelay {
    enum class Kind {
        kRecorded,   // recorded next_request_gap_ms minus this request's measured latency, floored at 0
        kFixed,      // `ms` every time
        kLognormal,  // lognormal with median `ms`, sigma 1 (AgentPerf: tool delays with a 1 s median)
        kNone,
    };
    Kind kind = Kind::kRecorded;
    double ms = 0;
    double time_scale = 1.0;  // multiplies every delay
};

struct ReplayConfig {
    Url url;
    HttpOptions http;
    int n_agents = 1;
    size_t trajectory_offset = 0;  // agent i starts at trajectory (offset + i) % n; sweeps move it per level
    int64_t max_steps = 0;         // per trajectory; 0 = all
    int64_t max_tokens = 4096;     // cap on the recorded output length; 0 = no cap
    double duration_s = 0;         // 0: each agent walks one trajectory; else agents go on until then
    double warmup_s = 0;           // requests started earlier are run but left out of the samples
    double stagger_ms = 100;       // agent i starts at i * stagger_ms (a ramp, not a thundering herd)
    ToolDelay delay;
    uint64_t seed = 1;  // for lognormal delays; agent i uses seed + i
    std::string model = "default";
    bool is_ignore_eos = true;
    std::string api_key;
};

struct AgentRun {
    std::vector<StepSample> samples;  // measured requests (after warm-up), in order
    int64_t n_steps = 0;              // all requests completed, warm-up included
    int64_t n_errors = 0;
    std::string first_error;
};

struct ReplayResult {
    std::vector<AgentRun> agents;  // [n_agents]
    double wall_s = 0;             // first request to last answer
};

// Live counters for a progress line; read from another thread while the replay runs.
struct ReplayProgress {
    std::atomic<int64_t> n_steps{0};
    std::atomic<int64_t> n_tokens{0};
    std::atomic<int64_t> n_errors{0};
    std::atomic<int> n_agents_done{0};
};

// The max_tokens sent for a step: the recorded output length (provider count, which includes the
// hidden reasoning the recorded model spent time on), capped by max_tokens, at least 1.
int64_t step_max_tokens(const TrajectoryStep& step, int64_t max_tokens_cap);

// Runs the agents and returns their samples. `on_tick` is called about every 250 ms from the
// calling thread until every agent is done. A failed request ends that agent's current trajectory
// (the next one in a timed run) and is counted in n_errors with the first message kept.
// REQUIRES: !trajectories.empty(), config.n_agents >= 1.
ReplayResult run_replay(const std::vector<Trajectory>& trajectories, const ReplayConfig& config,
                        ReplayProgress* progress, const std::function<void()>& on_tick);

}  // namespace gannet::bench
