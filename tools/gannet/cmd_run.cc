// gannet run: generates text from a prompt with one model on the CPU, streaming the text to stdout
// and a timing line to stderr.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "flags.h"
#include "model/model.h"
#include "model_cli.h"
#include "sampling/sampler.h"
#include "sampling/stop_strings.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace gannet::app {
namespace {

using Clock = std::chrono::steady_clock;

struct RunOptions {
    std::string model_path;
    std::string prompt;
    int64_t n_predict = 128;
    int n_threads = 1;
    bool is_chat = false;
    std::vector<std::string> stops;
    sampling::SamplerConfig sampler;
    tensor::DType kv_type = tensor::DType::kF32;
};

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

void emit(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

// The prompt's token ids; with is_chat, the prompt is rendered as one user message through the
// model's chat template first. Templates usually emit the BOS text themselves, so BOS is added
// only when the rendered text does not already start with it.
Result<std::vector<int32_t>> encode_prompt(const gguf::File& file, const tokenizer::Tokenizer& tok,
                                           const std::string& prompt, bool is_chat) {
    if (!is_chat) {
        return tok.encode(prompt, tokenizer::AddBos::kDefault);
    }
    Result<tokenizer::ChatTemplate> tmpl = tokenizer::ChatTemplate::from_gguf(file, tok);
    if (!tmpl.has_value()) {
        return make_error(tmpl.error().code(), "--chat: %s", tmpl.error().message().c_str());
    }
    tokenizer::ChatMessage user;
    user.role = "user";
    user.content = prompt;
    GANNET_ASSIGN_OR_RETURN(std::string text, tmpl->render({user}, tokenizer::ChatRenderOptions()));
    const std::string& bos_text = tok.bos_id() >= 0 ? tok.token_text(tok.bos_id()) : std::string();
    const bool has_bos = !bos_text.empty() && text.rfind(bos_text, 0) == 0;
    return tok.encode(text, has_bos ? tokenizer::AddBos::kNo : tokenizer::AddBos::kDefault);
}

Status generate(const RunOptions& o) {
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<model::Model> m, model::Model::load(o.model_path));
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<tokenizer::Tokenizer> tok, tokenizer::Tokenizer::from_gguf(m->file()));
    GANNET_ASSIGN_OR_RETURN(sampling::Sampler sampler, sampling::Sampler::create(o.sampler));
    GANNET_ASSIGN_OR_RETURN(std::vector<int32_t> history, encode_prompt(m->file(), *tok, o.prompt, o.is_chat));
    const int64_t n_ctx_train = m->config().n_ctx_train;
    const int64_t n_prompt = static_cast<int64_t>(history.size());
    if (n_prompt == 0) {
        return make_error(ErrorCode::kInvalidArgument, "the prompt is empty");
    }
    if (n_prompt > n_ctx_train) {
        return make_error(ErrorCode::kInvalidArgument, "prompt of %lld tokens exceeds the context length of %lld",
                          static_cast<long long>(n_prompt), static_cast<long long>(n_ctx_train));
    }
    const int64_t n_ctx = std::min(n_ctx_train, n_prompt + o.n_predict);
    GANNET_ASSIGN_OR_RETURN(model::KvCache cache, m->create_cache(n_ctx, o.kv_type));
    ThreadPool pool(o.n_threads);
    std::vector<int32_t> positions(history.size());
    for (size_t i = 0; i < positions.size(); ++i) {
        positions[i] = static_cast<int32_t>(i);
    }
    const Clock::time_point t_prompt = Clock::now();
    GANNET_ASSIGN_OR_RETURN(std::span<const float> logits,
                            m->forward(history, positions, cache, model::LogitsMode::kLast, pool));
    const double prompt_s = seconds_since(t_prompt);

    sampling::StopStringMatcher stops(o.stops);
    int64_t n_gen = 0;
    int64_t n_decode_calls = 0;
    const Clock::time_point t_gen = Clock::now();
    while (n_gen < o.n_predict) {
        const int32_t id = sampler.sample(logits, history);
        if (tok->is_end_of_generation(id)) {
            break;
        }
        history.push_back(id);
        ++n_gen;
        emit(stops.feed(tok->decode_token(id, tokenizer::Tokenizer::RenderSpecial::kNo)));
        if (stops.stopped() || n_gen == o.n_predict || cache.n_pos() == n_ctx) {
            break;
        }
        const int32_t pos = static_cast<int32_t>(cache.n_pos());
        GANNET_ASSIGN_OR_RETURN(
            logits, m->forward(std::span(&id, 1), std::span(&pos, 1), cache, model::LogitsMode::kLast, pool));
        ++n_decode_calls;
    }
    const double gen_s = seconds_since(t_gen);
    emit(stops.flush() + "\n");
    // The first generated token comes from the prompt's logits, so the decode rate counts the
    // forward calls made during generation, not the tokens.
    std::fprintf(stderr, "prompt: %lld tokens, %.2f tok/s; generation: %lld tokens, %.2f tok/s\n",
                 static_cast<long long>(n_prompt), static_cast<double>(n_prompt) / prompt_s,
                 static_cast<long long>(n_gen), n_decode_calls > 0 ? static_cast<double>(n_decode_calls) / gen_s : 0.0);
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
    std::string kv_type_name = "f32";
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
    flags.add_string("--kv-type", &kv_type_name, kKvTypeHelp);
    if (wants_help(args)) {
        std::printf("gannet run: generate text from a prompt\n%s", flags.usage().c_str());
        return 0;
    }
    Status s = flags.parse(args);
    if (s.ok()) {
        s = parse_kv_type(kv_type_name, &o.kv_type);
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

GANNET_COMMAND("run", "generate text from a prompt (CPU)", run_run);

}  // namespace gannet::app
