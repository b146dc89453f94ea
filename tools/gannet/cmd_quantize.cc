// gannet quantize IN.gguf OUT.gguf --type TYPE [--plan PLAN.json] [--calibration TEXT]: post-training
// quantization of a GGUF file (src/quantize/ does the work; docs/quantization.md describes it).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "base/thread_pool.h"
#include "command.h"
#include "flags.h"
#include "gguf/gguf_file.h"
#include "model/model.h"
#include "model_cli.h"
#include "quantize/calibration.h"
#include "quantize/quantize_plan.h"
#include "quantize/quantizer.h"
#include "tokenizer/prompt.h"
#include "tokenizer/tokenizer.h"

namespace gannet::app {
namespace {

// Tokenizes the text with the model's own vocabulary and collects per-column input statistics.
Result<quantize::ImportanceMap> calibrate(const std::string& in_path, const std::string& path, int64_t max_tokens,
                                          int n_threads) {
    if (max_tokens < 1) {
        return make_error(ErrorCode::kInvalidArgument, "--calibration-tokens must be >= 1, got %lld",
                          static_cast<long long>(max_tokens));
    }
    GANNET_ASSIGN_OR_RETURN(const std::string text, read_file(path));
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<model::Model> m, model::Model::load(in_path));
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<tokenizer::Tokenizer> tok, tokenizer::Tokenizer::from_gguf(m->file()));
    std::vector<int32_t> tokens = tokenizer::encode_prompt(*tok, text, tokenizer::PromptKind::kPlain);
    if (static_cast<int64_t>(tokens.size()) > max_tokens) {
        tokens.resize(static_cast<size_t>(max_tokens));
    }
    const int64_t n_ctx = std::min<int64_t>(512, m->config().n_ctx_train);
    std::fprintf(stderr, "quantize: calibrating on %zu tokens of %s (windows of %lld)\n", tokens.size(), path.c_str(),
                 static_cast<long long>(n_ctx));
    GANNET_ASSIGN_OR_RETURN(quantize::CalibrationResult r, quantize::collect_importance(*m, tokens, n_ctx, n_threads));
    return std::move(r.importance);
}

Status quantize_main(const std::vector<std::string>& positional, const std::string& type_name,
                     const std::string& plan_path, const std::string& calibration, int64_t calibration_tokens,
                     int64_t threads) {
    if (positional.size() != 2) {
        return make_error(ErrorCode::kInvalidArgument, "expected IN.gguf OUT.gguf, got %zu positional arguments",
                          positional.size());
    }
    std::optional<quantize::Plan> plan;
    if (!plan_path.empty()) {
        GANNET_ASSIGN_OR_RETURN(plan, quantize::Plan::load(plan_path));
    }
    quantize::QuantizeOptions options;
    if (!type_name.empty()) {
        GANNET_ASSIGN_OR_RETURN(options.dtype, quantize::parse_quant_type(type_name));
    } else if (plan && plan->default_dtype()) {
        options.dtype = *plan->default_dtype();
    } else {
        return make_error(ErrorCode::kInvalidArgument, "--type is required (or a plan with a \"default\" type)");
    }
    options.plan = plan ? &*plan : nullptr;
    options.warn = [](const std::string& m) {
        std::fprintf(stderr, "warning: %s\n", m.c_str());
    };
    options.progress = [](size_t i, size_t n, const quantize::TensorChoice& c, uint64_t bytes) {
        std::fprintf(stderr, "[%4zu/%4zu] %-32s %-5s -> %-5s (%s) %8.3f MB\n", i + 1, n, c.name.c_str(),
                     tensor::dtype_name(c.from), tensor::dtype_name(c.to), quantize::choice_reason_name(c.reason),
                     static_cast<double>(bytes) / 1e6);
    };
    GANNET_ASSIGN_OR_RETURN(gguf::File in, gguf::File::open(positional[0]));
    GANNET_ASSIGN_OR_RETURN(const int n_threads, resolve_threads(threads));
    ThreadPool pool(n_threads);
    quantize::ImportanceMap importance;
    if (!calibration.empty()) {
        GANNET_ASSIGN_OR_RETURN(importance, calibrate(positional[0], calibration, calibration_tokens, n_threads));
        options.importance = &importance;
    }
    GANNET_ASSIGN_OR_RETURN(quantize::QuantizeSummary s, quantize::quantize_file(in, positional[1], options, pool));
    std::fprintf(stderr, "quantize: %s -> %s: tensor data %.2f MB -> %.2f MB, file %.2f MB, type %s\n",
                 positional[0].c_str(), positional[1].c_str(), static_cast<double>(s.bytes_in) / 1e6,
                 static_cast<double>(s.bytes_out) / 1e6, static_cast<double>(s.file_size_bytes) / 1e6,
                 tensor::dtype_name(options.dtype));
    return Status();
}

int run_quantize(const std::vector<std::string>& args) {
    std::string type_name;
    std::string plan_path;
    std::string calibration;
    int64_t calibration_tokens = 16384;
    int64_t threads = 0;
    std::vector<std::string> positional;
    Flags flags("quantize");
    flags.add_string("--type", &type_name, std::string("default type: ") + quantize::quant_type_names());
    flags.add_string("--plan", &plan_path, "JSON plan mapping tensor-name patterns to types (first match wins)");
    flags.add_string("--calibration", &calibration, "text file: run the model over it for importance weights");
    flags.add_int("--calibration-tokens", &calibration_tokens, "at most this many calibration tokens (default 16384)");
    flags.add_int("-t,--threads", &threads, "threads (default: all)");
    flags.allow_positional(&positional);
    if (wants_help(args)) {
        std::printf(
            "gannet quantize IN.gguf OUT.gguf --type TYPE [--plan PLAN.json] [--calibration TEXT]\n"
            "Quantizes a GGUF model. Norms and vectors stay as they are; output.weight (or tied token_embd)\n"
            "goes to q6_k when TYPE is below it; plan rules override TYPE per tensor.\n%s",
            flags.usage().c_str());
        return 0;
    }
    Status s = flags.parse(args);
    if (s.ok()) {
        s = quantize_main(positional, type_name, plan_path, calibration, calibration_tokens, threads);
    }
    return s.ok() ? 0 : fail("quantize", s);
}

}  // namespace

GANNET_COMMAND("quantize", "quantize a GGUF model to another type (q4_0, q4_k, q2_k, ... or a plan)", run_quantize);

}  // namespace gannet::app
