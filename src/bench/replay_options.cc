#include "bench/replay_options.h"

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <map>

namespace gannet::bench {
namespace {

Result<double> to_double(const std::string& flag, const std::string& v, double lo, double hi) {
    char* end = nullptr;
    errno = 0;
    const double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || errno != 0 || !(d >= lo && d <= hi)) {
        return make_error(ErrorCode::kInvalidArgument, "%s needs a number in [%g, %g], got '%s'", flag.c_str(), lo, hi,
                          v.c_str());
    }
    return d;
}

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

Result<ToolDelay> parse_delay(const std::string& v, ToolDelay base) {
    if (v == "recorded") {
        base.kind = ToolDelay::Kind::kRecorded;
    } else if (v == "none") {
        base.kind = ToolDelay::Kind::kNone;
    } else if (v.starts_with("lognormal:")) {
        base.kind = ToolDelay::Kind::kLognormal;
        GANNET_ASSIGN_OR_RETURN(base.ms, to_double("--tool-delay lognormal:", v.substr(10), 0, 3.6e6));
    } else {
        base.kind = ToolDelay::Kind::kFixed;
        Result<double> ms = to_double("--tool-delay", v, 0, 3.6e6);
        if (!ms.has_value()) {
            return make_error(ErrorCode::kInvalidArgument,
                              "--tool-delay needs recorded, none, MS or lognormal:MEDIAN_MS, got '%s'", v.c_str());
        }
        base.ms = *ms;
    }
    return base;
}

}  // namespace

std::string replay_usage() {
    return "usage: gannet bench replay --endpoint BASE_URL --trajectories DIR [--agents N | --sweep]\n"
           "         [--slo TOK_S] [--max-steps N] [--max-tokens N] [--duration S] [--json] [--plot FILE.png]\n"
           "Replays recorded agent trajectories against an OpenAI-compatible server (AgentPerf-style) and\n"
           "reports TTFT, time per output token and how many agents stay above a per-token speed floor.\n"
           "  --endpoint URL          base URL, e.g. http://127.0.0.1:8080/v1 (http only)\n"
           "  --trajectories DIR      folder with *.steps.jsonl + *.text.jsonl.gz (shared data format)\n"
           "  --agents N              concurrent agents (default 1)\n"
           "  --sweep                 run 1, 2, 4, ... agents until the share meeting the SLO drops\n"
           "  --max-agents N          sweep ceiling (default 64)\n"
           "  --refine                after the sweep, bisect between the last passing and first failing level\n"
           "  --slo TOK_S             per-agent output speed floor (default 20)\n"
           "  --slo-ttft-ms MS        TTFT ceiling (default 10000)\n"
           "  --slo-percentile P      share of an agent's requests that must meet both (default 90)\n"
           "  --slo-target SHARE      share of agents that must meet the SLO in a sweep (default 0.9)\n"
           "  --max-steps N           steps per trajectory (default all)\n"
           "  --max-tokens N          cap on the recorded output length (default 4096; 0 = none)\n"
           "  --duration S            run each level S seconds, agents moving on to further trajectories\n"
           "                          (default: each agent walks one trajectory)\n"
           "  --warmup S              run but do not measure the first S seconds\n"
           "  --tool-delay D          recorded (gap minus measured latency; default), none, MS, lognormal:MEDIAN_MS\n"
           "  --time-scale X          multiply every tool delay (default 1)\n"
           "  --stagger-ms MS         start agent i at i*MS (default 100)\n"
           "  --seed N                seed for lognormal delays (default 1)\n"
           "  --model NAME            \"model\" field of requests (default: the first id the server lists)\n"
           "  --no-ignore-eos         do not send \"ignore_eos\": true (for servers that reject it)\n"
           "  --api-key KEY           sent as a Bearer token\n"
           "  --connect-timeout-ms MS (default 3000)   --request-timeout-s S (default 600)\n"
           "  --json                  stdout carries only the JSON summary line\n"
           "  --quiet                 no progress line on stderr\n"
           "  --plot FILE.png         draw agents vs per-agent tok/s with the SLO line\n";
}

Result<ReplayOptions> parse_replay_args(const std::vector<std::string>& args) {
    ReplayOptions o;
    bool has_agents = false;
    using Setter = std::function<Status(const std::string&, const std::string&)>;
    auto set_int = [](auto* out, int64_t lo, int64_t hi) -> Setter {
        return [out, lo, hi](const std::string& f, const std::string& v) {
            GANNET_ASSIGN_OR_RETURN(int64_t n, to_int(f, v, lo, hi));
            *out = static_cast<std::remove_pointer_t<decltype(out)>>(n);
            return Status();
        };
    };
    auto set_double = [](double* out, double lo, double hi) -> Setter {
        return [out, lo, hi](const std::string& f, const std::string& v) {
            GANNET_ASSIGN_OR_RETURN(*out, to_double(f, v, lo, hi));
            return Status();
        };
    };
    auto set_string = [](std::string* out) -> Setter {
        return [out](const std::string&, const std::string& v) {
            *out = v;
            return Status();
        };
    };
    const std::map<std::string, Setter> valued = {
        {"--endpoint", set_string(&o.endpoint)},
        {"--trajectories", set_string(&o.trajectories_dir)},
        {"--agents",
         [&](const std::string& f, const std::string& v) {
             has_agents = true;
             return set_int(&o.n_agents, 1, 4096)(f, v);
         }},
        {"--max-agents", set_int(&o.max_agents, 1, 4096)},
        {"--slo", set_double(&o.slo.tok_s, 0, 1e6)},
        {"--slo-ttft-ms", set_double(&o.slo.ttft_ms, 0, 1e9)},
        {"--slo-percentile", set_double(&o.slo.percentile, 0, 100)},
        {"--slo-target", set_double(&o.slo.target_share, 0, 1)},
        {"--max-steps", set_int(&o.max_steps, 0, int64_t{1} << 30)},
        {"--max-tokens", set_int(&o.max_tokens, 0, int64_t{1} << 24)},
        {"--duration", set_double(&o.duration_s, 0, 1e7)},
        {"--warmup", set_double(&o.warmup_s, 0, 1e7)},
        {"--tool-delay",
         [&](const std::string&, const std::string& v) -> Status {
             GANNET_ASSIGN_OR_RETURN(o.delay, parse_delay(v, o.delay));
             return Status();
         }},
        {"--time-scale", set_double(&o.delay.time_scale, 0, 1e6)},
        {"--stagger-ms", set_double(&o.stagger_ms, 0, 1e7)},
        {"--seed", set_int(&o.seed, 0, INT64_MAX)},
        {"--model", set_string(&o.model)},
        {"--api-key", set_string(&o.api_key)},
        {"--connect-timeout-ms", set_int(&o.connect_timeout_ms, 1, 600000)},
        {"--request-timeout-s", set_int(&o.request_timeout_s, 1, 86400)},
        {"--plot", set_string(&o.plot_path)},
    };
    const std::map<std::string, bool*> switches = {
        {"--sweep", &o.is_sweep}, {"--refine", &o.is_refine}, {"--json", &o.is_json},
        {"--quiet", &o.is_quiet}, {"--help", &o.is_help},     {"-h", &o.is_help},
    };
    bool no_ignore_eos = false;
    for (size_t i = 0; i < args.size(); ++i) {
        std::string name = args[i];
        std::string value;
        bool has_value = false;
        if (const size_t eq = name.find('='); name.starts_with("--") && eq != std::string::npos) {
            value = name.substr(eq + 1);
            name.resize(eq);
            has_value = true;
        }
        if (name == "--no-ignore-eos") {
            no_ignore_eos = true;
        } else if (auto s = switches.find(name); s != switches.end() && !has_value) {
            *s->second = true;
        } else if (auto v = valued.find(name); v != valued.end()) {
            if (!has_value) {
                if (i + 1 >= args.size()) {
                    return make_error(ErrorCode::kInvalidArgument, "%s needs a value", name.c_str());
                }
                value = args[++i];
            }
            GANNET_RETURN_IF_ERROR(v->second(name, value));
        } else {
            return make_error(ErrorCode::kInvalidArgument, "unknown argument '%s' (see --help)", args[i].c_str());
        }
    }
    o.is_ignore_eos = !no_ignore_eos;
    if (o.is_help) {
        return o;
    }
    if (o.endpoint.empty() || o.trajectories_dir.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "--endpoint and --trajectories are required (see --help)");
    }
    if (has_agents && o.is_sweep) {
        return make_error(ErrorCode::kInvalidArgument, "--agents and --sweep exclude each other");
    }
    return o;
}

}  // namespace gannet::bench
