// `gannet bench determinism`: MarginGate's measurement (issue 19). Parses flags, reads the prompt
// file (one prompt per line), builds one model runtime per mode and runs
// engine::run_determinism_bench; `--calibrate` runs off and always and prints tau.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "engine/determinism_bench.h"
#include "flags.h"
#include "model_cli.h"
#include "server/model_runtime.h"
#include "tokenizer/prompt.h"

namespace gannet::app {
namespace {

Result<std::vector<int32_t>> parse_sizes(const std::string& text) {
    std::vector<int32_t> out;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t comma = text.find(',', start);
        const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        char* end = nullptr;
        const long v = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || v < 1 || v > 1024) {
            return make_error(ErrorCode::kInvalidArgument,
                              "--batch-sizes must be a comma-separated list of integers in [1, 1024], got '%s'",
                              text.c_str());
        }
        out.push_back(static_cast<int32_t>(v));
        if (comma == std::string::npos) {
            break;
        }
        start = comma + 1;
    }
    return out;
}

Result<std::vector<engine::Determinism>> parse_modes(const std::string& text) {
    std::vector<engine::Determinism> out;
    size_t start = 0;
    while (true) {
        const size_t comma = text.find(',', start);
        const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        GANNET_ASSIGN_OR_RETURN(engine::Determinism m, engine::determinism_from_name(item, "--mode"));
        out.push_back(m);
        if (comma == std::string::npos) {
            return out;
        }
        start = comma + 1;
    }
}

Result<std::vector<std::string>> read_prompts(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return make_error(ErrorCode::kNotFound, "--prompts: cannot read '%s'", path.c_str());
    }
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) {
            lines.push_back(line);
        }
    }
    if (lines.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "--prompts: '%s' has no prompt lines", path.c_str());
    }
    return lines;
}

struct Options {
    std::string model, prompts_path, device = "cpu";
    std::vector<int32_t> batch_sizes;
    int64_t max_tokens = 32, n_threads = 0, seed = 1;
    double tau = engine::kDefaultMarginTau;
};

Result<engine::DeterminismReport> run_mode(const Options& o, engine::Determinism mode,
                                           const std::vector<std::string>& texts) {
    GANNET_ASSIGN_OR_RETURN(int n_threads, resolve_threads(o.n_threads));
    int32_t n_max_batch = 1;
    for (int32_t b : o.batch_sizes) {
        n_max_batch = std::max(n_max_batch, b);
    }
    const engine::DeterminismBenchOptions bo{.batch_sizes = o.batch_sizes,
                                             .max_tokens = static_cast<int32_t>(o.max_tokens),
                                             .seed = static_cast<uint64_t>(o.seed)};
    // The context must hold the longest prompt (or filler) plus the completion.
    GANNET_ASSIGN_OR_RETURN(std::shared_ptr<server::OpenAiRuntime> probe,
                            server::ModelRuntime::create({.model_path = o.model, .n_ctx = 0, .n_kv_contexts = 1}));
    std::vector<std::vector<int32_t>> prompts;
    int64_t longest = bo.filler_max_tokens;
    for (const std::string& t : texts) {
        prompts.push_back(tokenizer::encode_prompt(*probe->tokenizer, t, tokenizer::PromptKind::kPlain));
        longest = std::max<int64_t>(longest, static_cast<int64_t>(prompts.back().size()));
    }
    probe.reset();
    GANNET_ASSIGN_OR_RETURN(std::shared_ptr<server::OpenAiRuntime> rt,
                            server::ModelRuntime::create({.model_path = o.model,
                                                          .n_ctx = longest + o.max_tokens,
                                                          .n_kv_contexts = n_max_batch,
                                                          .n_threads = n_threads,
                                                          .determinism = mode,
                                                          .margin_tau = static_cast<float>(o.tau),
                                                          .device = o.device}));
    return engine::run_determinism_bench(*rt->engine, prompts, bo);
}

void print_table(const engine::DeterminismReport& r) {
    std::printf("mode %s (tau %g), %d prompts\n", engine::determinism_name(r.mode), static_cast<double>(r.tau),
                r.n_prompts);
    std::printf("%6s %10s %12s %12s %10s %8s\n", "batch", "flip_rate", "identical_%", "trigger_rate", "tok_s",
                "overrides");
    for (const engine::BatchSizeResult& b : r.batches) {
        std::printf("%6d %10.4g %12.1f %12.4f %10.1f %8lld\n", b.batch_size, b.flip_rate(),
                    100.0 * b.n_identical / std::max(1, r.n_prompts), b.trigger_rate(), b.tok_s(),
                    static_cast<long long>(b.n_overrides));
    }
}

}  // namespace

int bench_determinism_main(const std::vector<std::string>& args) {
    Flags flags("bench determinism");
    Options o;
    std::string sizes = "1,4,16,64", modes = "margin";
    bool is_json = false, is_calibrate = false, is_help = false;
    flags.add_string("-m,--model", &o.model, "GGUF model (default: the shipped model)");
    flags.add_string("--prompts", &o.prompts_path, "text file, one prompt per line (required)");
    flags.add_string("--batch-sizes", &sizes, "comma-separated batch sizes (default 1,4,16,64; batch 1 always runs)");
    flags.add_string("--mode", &modes, "off, always, margin or invariant, or a comma list (default margin)");
    flags.add_string("--device", &o.device, "cpu (default) or cuda");
    flags.add_int("--max-tokens", &o.max_tokens, "tokens generated per sequence (default 32)");
    flags.add_float("--tau", &o.tau, "margin mode: verify rows whose top-1/top-2 margin is below this (default 1)");
    flags.add_int("--seed", &o.seed, "seed of the filler prompts (default 1)");
    flags.add_int("-t,--threads", &o.n_threads, "compute threads (default 0: all)");
    flags.add_bool("--calibrate", &is_calibrate, "run off and always and print tau with 100% flip recall");
    flags.add_bool("--json", &is_json, "print one JSON line per mode (the last line is the last mode's)");
    flags.add_bool("-h,--help", &is_help, "show this help");
    if (Status s = flags.parse(args); !s.ok()) {
        return fail("bench determinism", s);
    }
    if (is_help) {
        std::printf(
            "usage: gannet bench determinism [-m MODEL] --prompts FILE [--batch-sizes 1,4,16,64]\n"
            "       [--mode off|always|margin|invariant[,...]] [--device cpu|cuda] [--max-tokens N] [--tau T]\n"
            "       [--calibrate] [--json]\n\n%s",
            flags.usage().c_str());
        return 0;
    }
    Result<std::vector<int32_t>> bs = parse_sizes(sizes);
    Result<std::vector<engine::Determinism>> ms = parse_modes(modes);
    for (const Status& s : {bs.error(), ms.error()}) {
        if (!s.ok()) {
            return fail("bench determinism", s);
        }
    }
    o.batch_sizes = *bs;
    if (is_calibrate && (flags.was_set("--mode") || flags.was_set("--tau"))) {
        return fail("bench determinism", make_error(ErrorCode::kInvalidArgument,
                                                    "--calibrate runs off and always and finds tau: it takes no "
                                                    "--mode or --tau"));
    }
    if (o.prompts_path.empty()) {
        return fail("bench determinism", make_error(ErrorCode::kInvalidArgument, "--prompts FILE is required"));
    }
    if (!(o.tau >= 0.0) || o.max_tokens < 1 || o.max_tokens > 4096) {
        return fail("bench determinism", make_error(ErrorCode::kInvalidArgument,
                                                    "--tau must be >= 0 and --max-tokens in [1, 4096], got %g, %lld",
                                                    o.tau, static_cast<long long>(o.max_tokens)));
    }
    if (o.model.empty()) {
        Result<std::string> def = default_model_path();
        if (!def.has_value()) {
            return fail("bench determinism", def.error());
        }
        o.model = *def;
    }
    Result<std::vector<std::string>> texts = read_prompts(o.prompts_path);
    if (!texts.has_value()) {
        return fail("bench determinism", texts.error());
    }
    if (is_calibrate) {
        Result<engine::DeterminismReport> off = run_mode(o, engine::Determinism::kOff, *texts);
        Result<engine::DeterminismReport> always =
            off.has_value() ? run_mode(o, engine::Determinism::kAlways, *texts) : off.error();
        if (!always.has_value()) {
            return fail("bench determinism", always.error());
        }
        const engine::Calibration c = engine::calibrate_tau(*off, *always);
        if (!is_json) {
            std::printf(
                "tau %.9g: %lld flips and %lld overrides on %zu prompts, largest margin %g, trigger rate %.4f, "
                "largest reference difference %g\n",
                static_cast<double>(c.tau), static_cast<long long>(c.n_flips), static_cast<long long>(c.n_overrides),
                texts->size(), static_cast<double>(c.max_margin), c.trigger_rate);
        }
        std::printf("%s\n", c.json().c_str());
        return 0;
    }
    for (engine::Determinism m : *ms) {
        Result<engine::DeterminismReport> r = run_mode(o, m, *texts);
        if (!r.has_value()) {
            return fail("bench determinism", r.error());
        }
        if (is_json) {
            std::printf("%s\n", r->json().c_str());
        } else {
            print_table(*r);
        }
        std::fflush(stdout);
    }
    return 0;
}

}  // namespace gannet::app
