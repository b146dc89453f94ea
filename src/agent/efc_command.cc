#include "agent/efc_command.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "agent/efc_bench.h"
#include "json/json.h"

namespace gannet::agent {
namespace {

using Json = nlohmann::json;

struct EfcOptions {
    std::string trajectories_dir;
    std::string plot_path;
    int n_bins = 10;
    size_t max_trajectories = 0;
    EfcConfig config;
    bool is_json = false;
    bool is_help = false;
};

Result<int64_t> to_int(const std::string& flag, const std::string& v, int64_t lo, int64_t hi) {
    char* end = nullptr;
    errno = 0;
    const long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno != 0 || n < lo || n > hi) {
        return make_error(ErrorCode::kInvalidArgument, "%s needs an integer in [%lld, %lld], got '%s'", flag.c_str(),
                          static_cast<long long>(lo), static_cast<long long>(hi), v.c_str());
    }
    return static_cast<int64_t>(n);
}

Result<EfcOptions> parse_args(const std::vector<std::string>& args) {
    EfcOptions o;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--json") {
            o.is_json = true;
            continue;
        }
        if (a == "--help" || a == "-h") {
            o.is_help = true;
            continue;
        }
        if (i + 1 >= args.size()) {
            return make_error(ErrorCode::kInvalidArgument, "%s: unknown flag or missing value", a.c_str());
        }
        const std::string& v = args[++i];
        if (a == "--trajectories") {
            o.trajectories_dir = v;
        } else if (a == "--plot") {
            o.plot_path = v;
        } else if (a == "--bins") {
            GANNET_ASSIGN_OR_RETURN(int64_t n, to_int(a, v, 2, 1000));
            o.n_bins = static_cast<int>(n);
        } else if (a == "--max-trajectories") {
            GANNET_ASSIGN_OR_RETURN(int64_t n, to_int(a, v, 0, int64_t{1} << 40));
            o.max_trajectories = static_cast<size_t>(n);
        } else if (a == "--redundancy-jaccard") {
            char* end = nullptr;
            o.config.redundancy_jaccard = std::strtod(v.c_str(), &end);
            if (v.empty() || *end != '\0' || !(o.config.redundancy_jaccard > 0 && o.config.redundancy_jaccard <= 1)) {
                return make_error(ErrorCode::kInvalidArgument,
                                  "--redundancy-jaccard needs a number in (0, 1], got '%s'", v.c_str());
            }
        } else if (a == "--context-tokens") {
            GANNET_ASSIGN_OR_RETURN(o.config.context_tokens, to_int(a, v, 1, int64_t{1} << 40));
        } else {
            return make_error(ErrorCode::kInvalidArgument, "unknown flag '%s'", a.c_str());
        }
    }
    if (!o.is_help && o.trajectories_dir.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "--trajectories DIR is required");
    }
    return o;
}

int fail(const std::string& what) {
    std::fprintf(stderr, "gannet bench efc: %s\n", what.c_str());
    return 1;
}

// NaN (an AUC with one class empty) is not JSON; null says "undefined" plainly.
Json number(double v) {
    return std::isfinite(v) ? Json(v) : Json(nullptr);
}

Json summary_json(const EfcSummary& s) {
    Json j = {{"trajectories", s.n_trajectories},
              {"resolved", s.n_resolved},
              {"auc_efc", number(s.efc_per_demand.auc)},
              {"auc_efc_undivided", number(s.efc.auc)},
              {"auc_tokens", number(s.tokens.auc)},
              {"auc_steps", number(s.steps.auc)},
              {"auc_tool_calls", number(s.tool_calls.auc)},
              {"r2_efc", number(s.efc_per_demand.fit.r2)},
              {"r2_efc_undivided", number(s.efc.fit.r2)},
              {"r2_tokens", number(s.tokens.fit.r2)},
              {"r2_steps", number(s.steps.fit.r2)},
              {"r2_tool_calls", number(s.tool_calls.fit.r2)},
              {"auc_efc_per_call", number(s.auc_efc_per_call)},
              {"auc_efc_matched_steps", number(s.auc_efc_matched_steps)},
              {"auc_tokens_matched_steps", number(s.auc_tokens_matched_steps)},
              {"best_raw_discrimination", number(s.best_raw_discrimination)}};
    j["target_met"] = s.efc_per_demand.auc >= s.best_raw_discrimination + 0.10;
    return j;
}

}  // namespace

std::string bench_efc_usage() {
    return "usage: gannet bench efc --trajectories DIR [--json] [--plot FILE.png] [--bins N]\n"
           "Scores every tool result of recorded agent trajectories for Effective Feedback Compute (informative,\n"
           "valid, non-redundant, retained; docs/efc.md) and reports how well EFC/D_task, raw tokens, tool calls\n"
           "and steps predict the recorded outcome (ROC AUC, R2 of the binned failure rate).\n"
           "  --trajectories DIR      folder with *.steps.jsonl + *.text.jsonl.gz (needs \"resolved\" per run)\n"
           "  --json                  per-trajectory lines as JSON objects (the last line is JSON either way)\n"
           "  --plot FILE.png         failure rate against EFC/D_task and against raw tokens\n"
           "  --bins N                equal-count bins for the failure-rate fit (default 10)\n"
           "  --max-trajectories N    the first N only (default all)\n"
           "  --context-tokens N      a result counts as retained only within N tokens (default 131072)\n"
           "  --redundancy-jaccard J  a result is redundant at MinHash Jaccard >= J vs earlier credited ones (default "
           "0.9)\n";
}

int bench_efc_main(const std::vector<std::string>& args) {
    Result<EfcOptions> o = parse_args(args);
    if (!o.has_value()) {
        return fail(o.error().message() + " (see --help)");
    }
    if (o->is_help) {
        std::fputs(bench_efc_usage().c_str(), stdout);
        return 0;
    }
    Result<std::vector<bench::Trajectory>> loaded =
        bench::load_trajectories(o->trajectories_dir, {.max_trajectories = o->max_trajectories});
    if (!loaded.has_value()) {
        return fail(loaded.error().message());
    }
    std::vector<TrajectoryEfc> rows;
    for (const bench::Trajectory& t : *loaded) {
        if (t.outcome == bench::Outcome::kUnknown) {
            return fail("trajectory '" + t.id + "' has no recorded outcome (\"resolved\" in its steps line)");
        }
        rows.push_back(score_trajectory(t, o->config));
        const TrajectoryEfc& r = rows.back();
        if (o->is_json) {
            const Json line = {{"id", r.id},
                               {"resolved", r.is_resolved},
                               {"efc", r.efc},
                               {"d_task", r.d_task},
                               {"efc_per_demand", r.efc_per_demand},
                               {"tokens", r.n_tokens_raw},
                               {"tool_calls", r.n_tool_calls},
                               {"steps", r.n_steps},
                               {"credited", r.n_credited}};
            std::printf("%s\n", line.dump().c_str());
        } else {
            std::printf("%-44s %-5s efc=%7.2f d_task=%4.0f efc/d=%6.3f tokens=%8lld tool_calls=%4lld steps=%4lld\n",
                        r.id.c_str(), r.is_resolved ? "pass" : "fail", r.efc, r.d_task, r.efc_per_demand,
                        static_cast<long long>(r.n_tokens_raw), static_cast<long long>(r.n_tool_calls),
                        static_cast<long long>(r.n_steps));
        }
    }
    if (rows.empty()) {
        return fail("no trajectories in '" + o->trajectories_dir + "'");
    }
    const EfcSummary s = summarize_efc(rows, o->n_bins);
    if (!o->plot_path.empty()) {
        if (Status st = bench::write_png(o->plot_path, draw_efc_plot(s)); !st.ok()) {
            return fail(st.message());
        }
    }
    std::printf("%s\n", summary_json(s).dump().c_str());
    return 0;
}

}  // namespace gannet::agent
