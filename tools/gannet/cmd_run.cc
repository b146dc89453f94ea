// gannet run: generates text from a prompt, streaming the text to stdout and a timing line to
// stderr. One request through the engine (server::ModelRuntime, Engine::generate): the decode loop,
// the BOS rule and the length stop are the server's.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "flags.h"
#include "model_cli.h"
#include "sampling/sampler.h"
#include "server/model_runtime.h"
#include "tokenizer/prompt.h"

namespace gannet::app {
namespace {

struct RunOptions {
    std::string model_path;
    std::string prompt;
    int64_t n_predict = 128;
    int n_threads = 1;
    bool is_chat = false;
    std::vector<std::string> stops;
    sampling::SamplerConfig sampler;
    std::string kv_type = "f32";
    std::string device = "cpu";
    std::string sparse_attention = "default";
};

void emit(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

// The prompt's token ids; with is_chat, the prompt is rendered as one user message through the
// model's chat template (ChatML when the file has none) first.
Result<std::vector<int32_t>> encode_prompt(const server::OpenAiRuntime& rt, const std::string& prompt, bool is_chat) {
    if (!is_chat) {
        return tokenizer::encode_prompt(*rt.tokenizer, prompt, tokenizer::PromptKind::kPlain);
    }
    tokenizer::ChatMessage user;
    user.role = "user";
    user.content = prompt;
    Result<std::string> text = rt.chat_template->render({user}, tokenizer::ChatRenderOptions());
    if (!text.has_value()) {
        return make_error(text.error().code(), "--chat: %s", text.error().message().c_str());
    }
    return tokenizer::encode_prompt(*rt.tokenizer, *text, tokenizer::PromptKind::kRendered);
}

Status generate(const RunOptions& o) {
    // Sampler settings are checked before the model loads (the engine would refuse them later).
    GANNET_RETURN_IF_ERROR(sampling::Sampler::create(o.sampler).error());
    GANNET_ASSIGN_OR_RETURN(std::shared_ptr<server::OpenAiRuntime> rt,
                            server::ModelRuntime::create({.model_path = o.model_path,
                                                          .n_kv_contexts = 1,
                                                          .n_threads = o.n_threads,
                                                          .device = o.device,
                                                          .kv_type = o.kv_type,
                                                          .sparse_attention = o.sparse_attention}));
    GANNET_ASSIGN_OR_RETURN(std::vector<int32_t> prompt, encode_prompt(*rt, o.prompt, o.is_chat));
    const int64_t n_ctx = rt->engine->config().n_ctx;
    const int64_t n_prompt = static_cast<int64_t>(prompt.size());
    if (n_prompt == 0) {
        return make_error(ErrorCode::kInvalidArgument, "the prompt is empty");
    }
    if (n_prompt > n_ctx) {
        return make_error(ErrorCode::kInvalidArgument, "prompt of %lld tokens exceeds the context length of %lld",
                          static_cast<long long>(n_prompt), static_cast<long long>(n_ctx));
    }
    // Generation ends at -n tokens or the end of the context, whichever comes first.
    const int64_t max_tokens = std::min(o.n_predict, n_ctx - n_prompt);
    engine::FinishInfo info;
    if (max_tokens > 0) {
        engine::EngineRequest req;
        req.prompt = std::move(prompt);
        req.params = {.max_tokens = static_cast<int32_t>(max_tokens),
                      .temperature = o.sampler.temperature,
                      .top_p = o.sampler.top_p,
                      .seed = o.sampler.seed,
                      .stop = o.stops,
                      .top_k = o.sampler.top_k,
                      .min_p = o.sampler.min_p,
                      .repeat_penalty = o.sampler.repeat_penalty,
                      .repeat_last_n = o.sampler.repeat_last_n};
        req.on_text = emit;
        GANNET_ASSIGN_OR_RETURN(info, rt->engine->generate(std::move(req)));
    }
    emit("\n");
    // The first token comes from the prompt's logits, so the decode rate counts the decode steps
    // (tokens after the first), not the tokens.
    const int64_t n_gen = info.completion_tokens;
    std::fprintf(stderr, "prompt: %lld tokens, %.2f tok/s; generation: %lld tokens, %.2f tok/s\n",
                 static_cast<long long>(n_prompt),
                 info.first_token_s > 0.0 ? static_cast<double>(n_prompt) / info.first_token_s : 0.0,
                 static_cast<long long>(n_gen),
                 n_gen > 1 && info.decode_s > 0.0 ? static_cast<double>(n_gen - 1) / info.decode_s : 0.0);
    return Status();
}

int run_run(const std::vector<std::string>& args) {
    RunOptions o;
    int64_t threads = 0;
    int64_t seed = 0;
    int64_t top_k = o.sampler.top_k;
    int64_t repeat_last_n = o.sampler.repeat_last_n;
    double temp = o.sampler.temperature;
    double top_p = o.sampler.top_p;
    double min_p = o.sampler.min_p;
    double repeat_penalty = o.sampler.repeat_penalty;
    tensor::DType kv_type = tensor::DType::kF32;
    Flags flags("run");
    flags.add_string("-m,--model", &o.model_path, "GGUF model file (default: the shipped gannet-default.gguf)");
    flags.add_string("-p,--prompt", &o.prompt, "prompt text");
    flags.add_int("-n,--n-predict", &o.n_predict, "tokens to generate (default 128)");
    flags.add_float("--temp", &temp, "temperature, 0 for greedy (default 0.8)");
    flags.add_int("--seed", &seed, "sampling seed (default 0)");
    flags.add_int("--top-k", &top_k, "top-k, 0 for off (default 40)");
    flags.add_float("--top-p", &top_p, "top-p, 1 for off (default 0.95)");
    flags.add_float("--min-p", &min_p, "min-p, 0 for off (default 0.05)");
    flags.add_float("--repeat-penalty", &repeat_penalty, "repetition penalty, 1 for off (default 1)");
    flags.add_int("--repeat-last-n", &repeat_last_n, "tokens the repetition penalty looks back (default 64)");
    flags.add_strings("--stop", &o.stops, "stop string (repeatable); not printed");
    flags.add_bool("--chat", &o.is_chat, "render the prompt as a user message with the model's chat template");
    flags.add_int("-t,--threads", &threads, "threads (default: all)");
    flags.add_string("--kv-type", &o.kv_type, kKvTypeHelp);
    flags.add_string("--device", &o.device, "cpu (default) or cuda: where the engine runs the model");
    flags.add_string("--sparse-attention", &o.sparse_attention, kSparseAttentionHelp);
    if (wants_help(args)) {
        std::printf("gannet run: generate text from a prompt\n%s", flags.usage().c_str());
        return 0;
    }
    Status s = flags.parse(args);
    if (s.ok()) {
        s = parse_kv_type(o.kv_type, &kv_type);
    }
    if (s.ok() && !flags.was_set("--model")) {
        Result<std::string> fallback = default_model_path();
        if (fallback.has_value()) {
            o.model_path = *fallback;
        } else {
            s = fallback.error();
        }
    }
    if (s.ok()) {
        s = require_flag(flags.was_set("--prompt"), "-p/--prompt");
    }
    if (s.ok()
        && (o.n_predict < 0 || top_k < 0 || top_k > INT32_MAX || repeat_last_n < 0 || repeat_last_n > INT32_MAX)) {
        s = make_error(ErrorCode::kInvalidArgument, "-n, --top-k and --repeat-last-n must be >= 0");
    }
    Result<int> n_threads = resolve_threads(threads);
    if (s.ok() && !n_threads.has_value()) {
        s = n_threads.error();
    }
    if (s.ok()) {
        o.n_threads = *n_threads;
        o.sampler = {.temperature = static_cast<float>(temp),
                     .top_k = static_cast<int32_t>(top_k),
                     .top_p = static_cast<float>(top_p),
                     .min_p = static_cast<float>(min_p),
                     .repeat_penalty = static_cast<float>(repeat_penalty),
                     .repeat_last_n = static_cast<int32_t>(repeat_last_n),
                     .seed = static_cast<uint64_t>(seed)};
        s = generate(o);
    }
    return s.ok() ? 0 : fail("run", s);
}

}  // namespace

GANNET_COMMAND("run", "generate text from a prompt (one request through the engine)", run_run);

}  // namespace gannet::app
