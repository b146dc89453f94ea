#include "bench/report.h"

#include <cmath>

namespace gannet::bench {
namespace {

using Json = nlohmann::json;

Json number_or_null(double v) {
    return std::isfinite(v) && v >= 0 ? Json(v) : Json(nullptr);
}

// Rounded to 0.01: microsecond noise in a summary line only makes diffs noisy.
Json rounded(double v) {
    return std::isfinite(v) ? Json(std::round(v * 100.0) / 100.0) : Json(nullptr);
}

Json pct_json(const Percentiles& p) {
    return {{"p50", rounded(p.p50)}, {"p90", rounded(p.p90)}, {"p99", rounded(p.p99)}};
}

}  // namespace

std::string LevelReport::completion_tokens_source() const {
    if (n_steps_with_usage == n_steps) {
        return "usage";
    }
    return n_steps_with_usage == 0 ? "chunks" : "mixed";
}

LevelReport summarize(const ReplayResult& result, const SloConfig& slo) {
    LevelReport r;
    r.n_agents = static_cast<int>(result.agents.size());
    r.wall_s = result.wall_s;
    std::vector<double> ttft, tpot, itl, e2e, rate, agent_rate;
    int64_t n_tokens_good = 0;
    for (const AgentRun& a : result.agents) {
        r.n_errors += a.n_errors;
        if (r.first_error.empty()) {
            r.first_error = a.first_error;
        }
        int64_t n_tokens_agent = 0;
        for (const StepSample& s : a.samples) {
            ++r.n_steps;
            n_tokens_agent += s.n_tokens();
            r.n_chunks += s.n_chunks;
            r.n_steps_with_usage += s.has_usage() ? 1 : 0;
            r.n_tokens_prompt += std::max<int64_t>(s.n_tokens_prompt, 0);
            if (s.n_tokens_cached >= 0) {
                r.n_tokens_cached += s.n_tokens_cached;
                ++r.n_steps_with_cached;
            }
            if (s.ttft_ms >= 0) {
                ttft.push_back(s.ttft_ms);
            }
            e2e.push_back(s.e2e_ms);
            if (s.tpot_ms() > 0) {
                tpot.push_back(s.tpot_ms());
                rate.push_back(1000.0 / s.tpot_ms());
            }
            itl.insert(itl.end(), s.itl_ms.begin(), s.itl_ms.end());
        }
        r.n_tokens_completion += n_tokens_agent;
        const AgentSlo verdict = evaluate_agent(a.samples, a.n_errors, slo);
        if (std::isfinite(verdict.tok_s)) {
            agent_rate.push_back(verdict.tok_s);
        }
        if (verdict.meets) {
            ++r.agents_meeting_slo;
            n_tokens_good += n_tokens_agent;
        }
    }
    r.ttft_ms = percentiles(ttft);
    r.tpot_ms = percentiles(tpot);
    r.itl_ms = percentiles(itl);
    r.e2e_ms = percentiles(e2e);
    r.request_tok_s = percentiles(rate);
    r.agent_tok_s = percentiles(agent_rate);
    if (r.wall_s > 0) {
        r.throughput_tok_s = static_cast<double>(r.n_tokens_completion) / r.wall_s;
        r.goodput_tok_s = static_cast<double>(n_tokens_good) / r.wall_s;
    }
    return r;
}

Json level_json(const LevelReport& r) {
    Json j;
    j["agents"] = r.n_agents;
    j["steps"] = r.n_steps;
    j["errors"] = r.n_errors;
    j["first_error"] = r.first_error.empty() ? Json(nullptr) : Json(r.first_error);
    j["duration_s"] = rounded(r.wall_s);
    j["prompt_tokens"] = r.n_tokens_prompt;
    j["cached_prompt_tokens"] = r.n_steps_with_cached > 0 ? Json(r.n_tokens_cached) : Json(nullptr);
    j["prompt_cache_hit_rate"] =
        r.n_steps_with_cached > 0 && r.n_tokens_prompt > 0
            ? Json(std::round(static_cast<double>(r.n_tokens_cached) / r.n_tokens_prompt * 1e4) / 1e4)
            : Json(nullptr);
    j["completion_tokens"] = r.n_tokens_completion;
    j["completion_tokens_source"] = r.completion_tokens_source();
    j["content_chunks"] = r.n_chunks;
    j["ttft_ms"] = pct_json(r.ttft_ms);
    j["tpot_ms"] = pct_json(r.tpot_ms);
    j["itl_ms"] = pct_json(r.itl_ms);
    j["e2e_ms"] = pct_json(r.e2e_ms);
    j["request_tok_s"] = pct_json(r.request_tok_s);
    j["agent_tok_s"] = pct_json(r.agent_tok_s);
    j["agents_meeting_slo"] = r.agents_meeting_slo;
    j["share_meeting_slo"] = rounded(r.share_meeting_slo());
    j["throughput_tok_s"] = rounded(r.throughput_tok_s);
    j["goodput_tok_s"] = rounded(r.goodput_tok_s);
    j["server_prefix_cache_hit_rate"] = number_or_null(r.server_prefix_cache_hit_rate);
    j["power_w"] = r.power_w >= 0 ? rounded(r.power_w) : Json(nullptr);
    j["power_gpu_w"] = r.power_gpu_w >= 0 ? rounded(r.power_gpu_w) : Json(nullptr);
    j["power_cpu_w"] = r.power_cpu_w >= 0 ? rounded(r.power_cpu_w) : Json(nullptr);
    return j;
}

std::string level_line(const LevelReport& r) {
    return str_printf(
        "agents=%d steps=%lld errors=%lld prompt_tokens=%lld completion_tokens=%lld ttft_ms p50=%.1f p90=%.1f "
        "tpot_ms p50=%.2f p90=%.2f agent_tok_s p50=%.1f meeting_slo=%d/%d (%.0f%%) goodput_tok_s=%.1f",
        r.n_agents, static_cast<long long>(r.n_steps), static_cast<long long>(r.n_errors),
        static_cast<long long>(r.n_tokens_prompt), static_cast<long long>(r.n_tokens_completion), r.ttft_ms.p50,
        r.ttft_ms.p90, r.tpot_ms.p50, r.tpot_ms.p90, r.agent_tok_s.p50, r.agents_meeting_slo, r.n_agents,
        r.share_meeting_slo() * 100, r.goodput_tok_s);
}

}  // namespace gannet::bench
