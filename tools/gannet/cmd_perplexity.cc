// gannet perplexity: perplexity of a model on a text file, scored as llama.cpp's tool does
// (non-overlapping windows, second half of each scored); ends with "perplexity: X". Each window is
// one prefill through the device's runner (server::SequenceRunner: the one forward of each backend).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "command.h"
#include "flags.h"
#include "model/model.h"
#include "model/perplexity.h"
#include "model_cli.h"
#include "server/model_runtime.h"
#include "tokenizer/prompt.h"
#include "tokenizer/tokenizer.h"

namespace gannet::app {
namespace {

constexpr int64_t kDefaultWindow = 512;

Status perplexity(const std::string& model_path, const std::string& text_path, int64_t n_ctx, int n_threads,
                  tensor::DType kv_type, const std::string& device) {
    GANNET_ASSIGN_OR_RETURN(std::string text, read_file(text_path));
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<model::Model> m, model::Model::load(model_path));
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<tokenizer::Tokenizer> tok, tokenizer::Tokenizer::from_gguf(m->file()));
    const int64_t n_ctx_train = m->config().n_ctx_train;
    if (n_ctx == 0) {
        n_ctx = std::min(kDefaultWindow, n_ctx_train);
    } else if (n_ctx > n_ctx_train) {
        return make_error(ErrorCode::kInvalidArgument, "-c %lld exceeds the model's context length of %lld",
                          static_cast<long long>(n_ctx), static_cast<long long>(n_ctx_train));
    }
    const std::vector<int32_t> tokens = tok->encode(text, tokenizer::AddBos::kNo);
    std::fprintf(stderr, "perplexity: %zu tokens, %lld windows of %lld\n", tokens.size(),
                 static_cast<long long>(static_cast<int64_t>(tokens.size()) / n_ctx), static_cast<long long>(n_ctx));
    // Each window is one prefill from position 0 through the runner, with every row's logits.
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<server::SequenceRunner> runner,
                            server::SequenceRunner::create(*m, device, n_ctx, n_threads, kv_type));
    const model::WindowLogits window_logits = [&runner](std::span<const int32_t> window) {
        return runner->run(window, 0, model::LogitsMode::kAll);
    };
    GANNET_ASSIGN_OR_RETURN(
        model::PerplexityResult r,
        model::evaluate_perplexity(
            window_logits, m->config().n_vocab, tokens, n_ctx, tokenizer::prompt_bos(*tok),
            [](int64_t w, double ppl) { std::fprintf(stderr, "[%lld]%.4f\n", static_cast<long long>(w + 1), ppl); }));
    std::printf("perplexity: %.4f\n", r.perplexity);
    return Status();
}

int run_perplexity(const std::vector<std::string>& args) {
    std::string model_path;
    std::string text_path;
    int64_t n_ctx = 0;
    int64_t threads = 0;
    std::string kv_type_name = "f32";
    tensor::DType kv_type = tensor::DType::kF32;
    Flags flags("perplexity");
    flags.add_string("-m,--model", &model_path, "GGUF model file");
    flags.add_string("-f,--file", &text_path, "text file to score");
    flags.add_int("-c,--ctx-size", &n_ctx, "window size in tokens (default 512, or the model's context if smaller)");
    flags.add_int("-t,--threads", &threads, "threads (default: all)");
    flags.add_string("--kv-type", &kv_type_name, kKvTypeHelp);
    std::string device = "cpu";
    flags.add_string("--device", &device, "cpu (default) or cuda");
    if (wants_help(args)) {
        std::printf("gannet perplexity: perplexity of a model on a text file\n%s", flags.usage().c_str());
        return 0;
    }
    Status s = flags.parse(args);
    if (s.ok()) {
        s = require_flag(flags.was_set("--model"), "-m/--model");
    }
    if (s.ok()) {
        s = require_flag(flags.was_set("--file"), "-f/--file");
    }
    if (s.ok() && flags.was_set("--ctx-size") && n_ctx < 4) {
        s = make_error(ErrorCode::kInvalidArgument, "-c/--ctx-size is %lld, expected >= 4",
                       static_cast<long long>(n_ctx));
    }
    if (s.ok()) {
        s = parse_kv_type(kv_type_name, &kv_type);
    }
    if (s.ok() && device != "cpu" && device != "cuda") {
        s = make_error(ErrorCode::kInvalidArgument, "--device: '%s' is not cpu or cuda", device.c_str());
    }
    Result<int> n_threads = resolve_threads(threads);
    if (s.ok() && !n_threads.has_value()) {
        s = n_threads.error();
    }
    if (s.ok()) {
        s = perplexity(model_path, text_path, n_ctx, *n_threads, kv_type, device);
    }
    return s.ok() ? 0 : fail("perplexity", s);
}

}  // namespace

GANNET_COMMAND("perplexity", "perplexity of a model on a text file", run_perplexity);

}  // namespace gannet::app
