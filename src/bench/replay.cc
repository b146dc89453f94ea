#include "bench/replay.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>

#include "base/check.h"

namespace gannet::bench {
namespace {

using Ms = std::chrono::duration<double, std::milli>;

double delay_ms(const ToolDelay& d, const TrajectoryStep& step, const StepSample& sample, std::mt19937_64* rng) {
    double ms = 0;
    switch (d.kind) {
        case ToolDelay::Kind::kRecorded:
            // The recorded gap is provider latency + tool + agent overhead; our own latency stands in
            // for the provider's, so what is left approximates tool + overhead.
            ms = step.next_request_gap_ms < 0 ? 0 : std::max(0.0, step.next_request_gap_ms - sample.e2e_ms);
            break;
        case ToolDelay::Kind::kFixed: ms = d.ms; break;
        case ToolDelay::Kind::kLognormal: {
            std::lognormal_distribution<double> dist(std::log(std::max(d.ms, 1e-3)), 1.0);
            ms = dist(*rng);
            break;
        }
        case ToolDelay::Kind::kNone: ms = 0; break;
    }
    return ms * d.time_scale;
}

struct AgentContext {
    const std::vector<Trajectory>* trajectories;
    const ReplayConfig* config;
    ReplayProgress* progress;
    Clock::time_point t0;
    Clock::time_point deadline;  // time_point::max() without --duration
};

// Walks one trajectory. False when the run's deadline has passed (stop the agent).
bool walk(const AgentContext& ctx, const Trajectory& t, std::mt19937_64* rng, AgentRun* run) {
    const ReplayConfig& c = *ctx.config;
    const size_t n_steps = c.max_steps > 0 ? std::min<size_t>(t.steps.size(), c.max_steps) : t.steps.size();
    for (size_t k = 0; k < n_steps; ++k) {
        if (Clock::now() >= ctx.deadline) {
            return false;
        }
        const TrajectoryStep& step = t.steps[k];
        ChatRequest req;
        req.messages = std::span<const Message>(t.messages.data(), step.n_messages_request);
        req.max_tokens = step_max_tokens(step, c.max_tokens);
        req.model = c.model;
        req.is_ignore_eos = c.is_ignore_eos;
        req.api_key = c.api_key;
        Result<StepSample> r = stream_chat(c.url, req, c.http);
        if (!r.has_value()) {
            if (run->n_errors++ == 0) {
                run->first_error = str_printf("%s step %zu: %s", t.id.c_str(), k, r.error().message().c_str());
            }
            ctx.progress->n_errors.fetch_add(1);
            // A server that fails at once would otherwise be hammered in a tight loop in a timed run.
            std::this_thread::sleep_until(std::min(Clock::now() + std::chrono::seconds(1), ctx.deadline));
            return true;  // the conversation cannot go on without this answer; next trajectory
        }
        ++run->n_steps;
        ctx.progress->n_steps.fetch_add(1);
        ctx.progress->n_tokens.fetch_add(r->n_tokens());
        const bool is_measured = Ms(r->t_start - ctx.t0).count() >= c.warmup_s * 1000.0;
        const double wait_ms = k + 1 < n_steps ? delay_ms(c.delay, step, *r, rng) : 0.0;
        if (is_measured) {
            run->samples.push_back(std::move(*r));
        }
        if (wait_ms > 0) {
            const auto wake = Clock::now() + std::chrono::duration_cast<Clock::duration>(Ms(wait_ms));
            std::this_thread::sleep_until(std::min(wake, ctx.deadline));
        }
    }
    return true;
}

void agent_main(const AgentContext& ctx, int agent, AgentRun* run) {
    const ReplayConfig& c = *ctx.config;
    const size_t n = ctx.trajectories->size();
    std::mt19937_64 rng(c.seed + static_cast<uint64_t>(agent));
    std::this_thread::sleep_until(ctx.t0 + std::chrono::duration_cast<Clock::duration>(Ms(agent * c.stagger_ms)));
    // Agent i takes trajectories offset+i, offset+i+N, ...: no two agents share one at a time.
    for (size_t round = 0;; ++round) {
        const size_t idx = (c.trajectory_offset + static_cast<size_t>(agent) + round * c.n_agents) % n;
        if (!walk(ctx, (*ctx.trajectories)[idx], &rng, run) || c.duration_s <= 0) {
            break;
        }
    }
    ctx.progress->n_agents_done.fetch_add(1);
}

}  // namespace

int64_t step_max_tokens(const TrajectoryStep& step, int64_t cap) {
    int64_t n = step.n_tokens_output > 0 ? step.n_tokens_output : step.n_tokens_output_est;
    if (cap > 0) {
        n = std::min(n, cap);
    }
    return std::max<int64_t>(n, 1);
}

ReplayResult run_replay(const std::vector<Trajectory>& trajectories, const ReplayConfig& config,
                        ReplayProgress* progress, const std::function<void()>& on_tick) {
    GANNET_CHECK(!trajectories.empty() && config.n_agents >= 1);
    ReplayResult result;
    result.agents.resize(static_cast<size_t>(config.n_agents));
    AgentContext ctx{&trajectories, &config, progress, Clock::now(), Clock::time_point::max()};
    if (config.duration_s > 0) {
        ctx.deadline = ctx.t0
                       + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(config.duration_s + config.warmup_s));
    }
    std::vector<std::thread> threads;
    threads.reserve(result.agents.size());
    for (int i = 0; i < config.n_agents; ++i) {
        threads.emplace_back(agent_main, std::cref(ctx), i, &result.agents[static_cast<size_t>(i)]);
    }
    // Poll often enough that a short run does not wait out a whole tick; report every 250 ms.
    for (int i = 1; progress->n_agents_done.load() < config.n_agents; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
        if (on_tick && i % 10 == 0) {
            on_tick();
        }
    }
    for (std::thread& t : threads) {
        t.join();
    }
    result.wall_s = std::chrono::duration<double>(Clock::now() - ctx.t0).count() - config.warmup_s;
    return result;
}

}  // namespace gannet::bench
