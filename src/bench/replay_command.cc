#include "bench/replay_command.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>

#include "bench/power.h"
#include "bench/replay_options.h"
#include "bench/report.h"
#include "bench/server_metrics.h"
#include "bench/sweep_plot.h"
#include "json/json.h"

namespace gannet {
namespace {

using bench::LevelReport;
using Json = nlohmann::json;

int fail(const Status& s) {
    std::fprintf(stderr, "gannet bench replay: %s\n", s.message().c_str());
    return 1;
}

// Any HTTP answer proves the server is there; only a transport error is fatal. GET /models is
// part of the OpenAI API, so it is cheap everywhere. Returns the first model id the server lists
// ("" when it lists none), for the summary.
Result<std::string> preflight(const bench::Url& url, const bench::HttpOptions& http) {
    bench::HttpRequest req;
    req.path = url.path_prefix + "/models";
    bench::HttpOptions quick = http;
    quick.read_timeout_ms = std::min(quick.read_timeout_ms, 10000);
    GANNET_ASSIGN_OR_RETURN(bench::HttpResponse r, bench::http_fetch(url, req, quick, size_t{1} << 20));
    Result<Json> doc = json::parse(r.body);
    if (r.status != 200 || !doc.has_value() || !doc->is_object() || !doc->contains("data") || !(*doc)["data"].is_array()
        || (*doc)["data"].empty() || !(*doc)["data"][0].is_object()) {
        return std::string();
    }
    const Json& first = (*doc)["data"][0];
    return first.contains("id") && first["id"].is_string() ? first["id"].get<std::string>() : std::string();
}

struct Runner {
    const bench::ReplayOptions& o;
    const bench::Url& url;
    const std::vector<bench::Trajectory>& trajectories;
    bench::PowerMeter power;
    std::string power_note;
    size_t next_offset = 0;  // each level starts on trajectories the previous levels did not use

    Result<LevelReport> run_level(int n_agents) {
        bench::ReplayConfig c;
        c.url = url;
        c.http = {o.connect_timeout_ms, o.request_timeout_s * 1000};
        c.n_agents = n_agents;
        c.trajectory_offset = next_offset;
        next_offset = (next_offset + static_cast<size_t>(n_agents)) % trajectories.size();
        c.max_steps = o.max_steps;
        c.max_tokens = o.max_tokens;
        c.duration_s = o.duration_s;
        c.warmup_s = o.warmup_s;
        c.stagger_ms = o.stagger_ms;
        c.delay = o.delay;
        c.seed = o.seed;
        c.model = o.model;
        c.is_ignore_eos = o.is_ignore_eos;
        c.api_key = o.api_key;

        const std::map<std::string, double> metrics_before = bench::scrape_gannet_metrics(url, c.http);
        bench::ReplayProgress progress;
        const auto t0 = bench::Clock::now();
        auto tick = [&] {
            if (!o.is_quiet) {
                const double s = std::chrono::duration<double>(bench::Clock::now() - t0).count();
                std::fprintf(stderr, "\rbench replay: agents=%d running=%d steps=%lld tokens=%lld errors=%lld %.1fs ",
                             n_agents, n_agents - progress.n_agents_done.load(),
                             static_cast<long long>(progress.n_steps.load()),
                             static_cast<long long>(progress.n_tokens.load()),
                             static_cast<long long>(progress.n_errors.load()), s);
                std::fflush(stderr);
            }
        };
        power.start();
        bench::ReplayResult result = bench::run_replay(trajectories, c, &progress, tick);
        const bench::PowerReading watts = power.stop();
        if (!o.is_quiet) {
            tick();
            std::fprintf(stderr, "\n");
        }
        LevelReport r = bench::summarize(result, o.slo);
        r.server_prefix_cache_hit_rate =
            bench::prefix_cache_hit_rate(metrics_before, bench::scrape_gannet_metrics(url, c.http));
        r.power_gpu_w = watts.gpu_w;
        r.power_cpu_w = watts.cpu_w;
        r.power_w = watts.total_w();
        power_note = watts.note;
        if (r.n_steps == 0 && r.n_errors > 0) {
            return make_error(ErrorCode::kUnavailable, "every request failed at %d agents; first: %s", n_agents,
                              r.first_error.c_str());
        }
        if (!o.is_json) {
            std::printf("%s\n", bench::level_line(r).c_str());
            std::fflush(stdout);
        }
        return r;
    }
};

bool passes(const LevelReport& r, const bench::SloConfig& slo) {
    return r.n_agents > 0 && r.share_meeting_slo() >= slo.target_share;
}

// Levels 1, 2, 4, ... up to max_agents while they pass; with refine, bisect the last gap.
Result<std::vector<LevelReport>> sweep(Runner* runner, const bench::ReplayOptions& o) {
    std::vector<LevelReport> levels;
    int pass_n = 0, fail_n = 0;
    for (int n = 1; n <= o.max_agents; n = n < o.max_agents ? std::min(n * 2, o.max_agents) : n + 1) {
        GANNET_ASSIGN_OR_RETURN(LevelReport r, runner->run_level(n));
        levels.push_back(r);
        if (!passes(r, o.slo)) {
            fail_n = n;
            break;
        }
        pass_n = n;
    }
    while (o.is_refine && fail_n > pass_n + 1) {
        const int mid = (pass_n + fail_n) / 2;
        GANNET_ASSIGN_OR_RETURN(LevelReport r, runner->run_level(mid));
        (passes(r, o.slo) ? pass_n : fail_n) = mid;
        levels.push_back(r);
    }
    std::sort(levels.begin(), levels.end(),
              [](const LevelReport& a, const LevelReport& b) { return a.n_agents < b.n_agents; });
    return levels;
}

Json summary_json(const bench::ReplayOptions& o, const std::vector<LevelReport>& levels, const Runner& runner,
                  size_t n_trajectories) {
    // The headline level: the largest that met the SLO target in a sweep, else the (only) level run.
    int max_sustained = 0;
    const LevelReport* head = &levels.back();
    for (const LevelReport& r : levels) {
        if (passes(r, o.slo) && r.n_agents > max_sustained) {
            max_sustained = r.n_agents;
            head = &r;
        }
    }
    Json j = bench::level_json(*head);
    j["tool"] = "gannet bench replay";
    j["endpoint"] = o.endpoint;
    j["trajectories"] = o.trajectories_dir;
    j["trajectories_loaded"] = n_trajectories;
    j["max_steps"] = o.max_steps;
    j["max_tokens"] = o.max_tokens;
    j["slo_tok_s"] = o.slo.tok_s;
    j["slo_ttft_ms"] = o.slo.ttft_ms;
    j["slo_percentile"] = o.slo.percentile;
    j["slo_target_share"] = o.slo.target_share;
    j["power_note"] = runner.power_note.empty() ? Json(nullptr) : Json(runner.power_note);
    if (o.is_sweep) {
        j["max_agents_sustained"] = max_sustained;
        Json arr = Json::array();
        for (const LevelReport& r : levels) {
            arr.push_back(bench::level_json(r));
        }
        j["sweep"] = std::move(arr);
    }
    const int n_for_power = o.is_sweep ? max_sustained : head->agents_meeting_slo;
    j["agents_per_kw"] =
        head->power_w > 0 ? Json(std::round(n_for_power / (head->power_w / 1000.0) * 100) / 100) : Json(nullptr);
    return j;
}

}  // namespace

int bench_replay_main(const std::vector<std::string>& args) {
    Result<bench::ReplayOptions> parsed = bench::parse_replay_args(args);
    if (!parsed.has_value()) {
        return fail(parsed.error());
    }
    const bench::ReplayOptions& o = *parsed;
    if (o.is_help) {
        std::printf("%s", bench::replay_usage().c_str());
        return 0;
    }
    Result<bench::Url> url = bench::parse_url(o.endpoint);
    if (!url.has_value()) {
        return fail(url.error());
    }
    Result<std::string> server_model = preflight(*url, {o.connect_timeout_ms, o.request_timeout_s * 1000});
    if (!server_model.has_value()) {
        return fail(server_model.error());
    }
    bench::TrajectoryLoadOptions load;
    if (!o.is_sweep && o.duration_s <= 0) {
        load.max_trajectories = static_cast<size_t>(o.n_agents);  // one each; no need to read all 400
    }
    Result<std::vector<bench::Trajectory>> trajectories = bench::load_trajectories(o.trajectories_dir, load);
    if (!trajectories.has_value()) {
        return fail(trajectories.error());
    }
    // Servers that check the model name (gannet, vLLM) need one they serve; default to the first.
    bench::ReplayOptions effective = o;
    if (effective.model.empty()) {
        effective.model = server_model->empty() ? "default" : *server_model;
    }
    Runner runner{effective, *url, *trajectories, {}, {}, 0};
    std::vector<LevelReport> levels;
    if (o.is_sweep) {
        Result<std::vector<LevelReport>> r = sweep(&runner, o);
        if (!r.has_value()) {
            return fail(r.error());
        }
        levels = std::move(*r);
    } else {
        Result<LevelReport> r = runner.run_level(o.n_agents);
        if (!r.has_value()) {
            return fail(r.error());
        }
        levels.push_back(std::move(*r));
    }
    if (!o.plot_path.empty()) {
        std::vector<bench::SweepPoint> points;
        for (const LevelReport& r : levels) {
            points.push_back({r.n_agents, r.agent_tok_s.p50, passes(r, o.slo)});
        }
        if (Status s = bench::write_png(o.plot_path, bench::draw_sweep_plot(points, o.slo.tok_s)); !s.ok()) {
            return fail(s);
        }
    }
    Json summary = summary_json(o, levels, runner, trajectories->size());
    summary["server_model"] = *server_model;
    std::printf("%s\n", json::dump(summary).c_str());
    std::fflush(stdout);
    return 0;
}

}  // namespace gannet
