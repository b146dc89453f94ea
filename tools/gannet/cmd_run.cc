// gannet run: generates text from a prompt, streaming the text to stdout and a timing line to
// stderr. One request through the engine (server::ModelRuntime, Engine::generate): the decode loop,
// the BOS rule and the length stop are the server's.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "command.h"
#include "flags.h"
#include "model_cli.h"
#include "sampling/entropy_bound_sampler.h"
#include "sampling/sampler.h"
#include "server/model_runtime.h"
#include "server/openai_media.h"
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
    std::vector<std::string> images;  // --image FILE (repeatable): PNG, JPEG or WebP
    std::vector<std::string> audios;  // --audio FILE (repeatable): WAV
    int64_t image_tokens = 280;       // --image-tokens: soft tokens per image (70, 140, 280, 560, 1120)
    std::string mmproj;               // --mmproj FILE
    // Diffusion models: the autoregressive sampling flags given explicitly (refused there), whether
    // --temp was given (it scales the denoising temperature schedule), and --diffusion-steps.
    std::vector<std::string> ar_flags_set;
    bool is_temp_set = false;
    int64_t diffusion_steps = 0;
    int64_t self_cond_top_k = 0;  // 0: exact self-conditioning
    std::string sparse_attention = "default";
};

void emit(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

// The files of --image and --audio, decoded, named by flag and path in errors.
Result<std::vector<server::DecodedMedia>> read_media(const RunOptions& o) {
    std::vector<server::DecodedMedia> media;
    if (Status s = multimodal::check_token_budget(static_cast<int>(o.image_tokens)); !s.ok()) {
        return make_error(s.code(), "--image-tokens: %s", s.message().c_str());
    }
    for (const std::string& path : o.images) {
        Result<std::string> bytes = read_file(path);
        if (!bytes.has_value()) {
            return make_error(bytes.error().code(), "--image: %s", bytes.error().message().c_str());
        }
        const std::span<const uint8_t> data(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
        Result<multimodal::Image> image = multimodal::decode_image(data);
        if (!image.has_value()) {
            return make_error(image.error().code(), "--image %s: %s", path.c_str(), image.error().message().c_str());
        }
        server::DecodedMedia m{.param = "--image " + path};
        m.part.image = std::move(*image);
        m.part.max_soft_tokens = static_cast<int>(o.image_tokens);
        media.push_back(std::move(m));
    }
    for (const std::string& path : o.audios) {
        Result<std::string> bytes = read_file(path);
        if (!bytes.has_value()) {
            return make_error(bytes.error().code(), "--audio: %s", bytes.error().message().c_str());
        }
        const std::span<const uint8_t> data(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
        Result<multimodal::Waveform> wave = multimodal::decode_wav(data);
        if (!wave.has_value()) {
            return make_error(wave.error().code(), "--audio %s: %s", path.c_str(), wave.error().message().c_str());
        }
        server::DecodedMedia m{.param = "--audio " + path};
        m.part.kind = multimodal::MediaPart::Kind::kAudio;
        m.part.waveform = multimodal::resample_to_16k(*wave);
        media.push_back(std::move(m));
    }
    return media;
}

// The prompt's token ids (and soft tokens with --image/--audio, which come first, before the
// text); with is_chat, the prompt is rendered as one user message through the model's chat
// template (ChatML when the file has none) first.
Result<std::vector<int32_t>> encode_prompt(server::OpenAiRuntime& rt, const RunOptions& o,
                                           std::shared_ptr<const model::SoftTokens>& soft) {
    GANNET_ASSIGN_OR_RETURN(const std::vector<server::DecodedMedia> media, read_media(o));
    std::string content;
    for (size_t i = 0; i < media.size(); ++i) {
        content += server::media_sentinel();
    }
    content += o.prompt;
    std::string text = content;
    if (o.is_chat) {
        tokenizer::ChatMessage user;
        user.role = "user";
        user.content = content;
        Result<std::string> rendered = rt.chat_template->render({user}, tokenizer::ChatRenderOptions());
        if (!rendered.has_value()) {
            return make_error(rendered.error().code(), "--chat: %s", rendered.error().message().c_str());
        }
        text = *rendered;
    }
    const tokenizer::PromptKind kind = o.is_chat ? tokenizer::PromptKind::kRendered : tokenizer::PromptKind::kPlain;
    if (media.empty()) {
        return tokenizer::encode_prompt(*rt.tokenizer, text, kind);
    }
    std::vector<int32_t> prompt;
    if (auto err = server::build_decoded_media_prompt(rt, text, kind, media, prompt, soft)) {
        return make_error(ErrorCode::kInvalidArgument, "%s", err->message.c_str());
    }
    return prompt;
}

// The diffusion request: the engine refuses the AR-only parameters, so they are never sent, and
// the ones given on the command line are refused here by name.
Status diffusion_params(const RunOptions& o, int64_t max_tokens, engine::GenParams& p) {
    if (!o.ar_flags_set.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "%s: not supported by diffusion models",
                          o.ar_flags_set.front().c_str());
    }
    if (o.diffusion_steps < 0 || o.diffusion_steps > sampling::kMaxDenoisingSteps) {
        return make_error(ErrorCode::kInvalidArgument, "--diffusion-steps is %lld, expected 1..%d (0: the default 48)",
                          static_cast<long long>(o.diffusion_steps), sampling::kMaxDenoisingSteps);
    }
    p = {.max_tokens = static_cast<int32_t>(max_tokens),
         .temperature = o.is_temp_set ? o.sampler.temperature : 1.0f,
         .seed = o.sampler.seed,
         .stop = o.stops,
         .diffusion_steps = static_cast<int32_t>(o.diffusion_steps)};
    return Status();
}

void report(const engine::FinishInfo& info, int64_t n_prompt) {
    if (info.decoder_passes > 0) {  // diffusion: the prompt's encoding, then every canvas's denoising
        std::fprintf(stderr,
                     "prompt: %lld tokens, %.2f tok/s; generation: %d tokens, %.2f tok/s; %lld decoder passes, "
                     "%.2f tokens per forward\n",
                     static_cast<long long>(n_prompt),
                     info.first_token_s > 0.0 ? static_cast<double>(n_prompt) / info.first_token_s : 0.0,
                     info.completion_tokens,
                     info.decode_s > 0.0 ? static_cast<double>(info.completion_tokens) / info.decode_s : 0.0,
                     static_cast<long long>(info.decoder_passes),
                     static_cast<double>(info.completion_tokens) / static_cast<double>(info.decoder_passes));
        return;
    }
    // The first token comes from the prompt's logits, so the decode rate counts the decode steps
    // (tokens after the first), not the tokens.
    const int64_t n_gen = info.completion_tokens;
    std::fprintf(stderr, "prompt: %lld tokens, %.2f tok/s; generation: %lld tokens, %.2f tok/s\n",
                 static_cast<long long>(n_prompt),
                 info.first_token_s > 0.0 ? static_cast<double>(n_prompt) / info.first_token_s : 0.0,
                 static_cast<long long>(n_gen),
                 n_gen > 1 && info.decode_s > 0.0 ? static_cast<double>(n_gen - 1) / info.decode_s : 0.0);
}

Status generate(const RunOptions& o) {
    // Sampler settings are checked before the model loads (the engine would refuse them later).
    GANNET_RETURN_IF_ERROR(sampling::Sampler::create(o.sampler).error());
    if (o.diffusion_steps < 0 || o.self_cond_top_k < 0 || o.self_cond_top_k > INT32_MAX) {
        return make_error(ErrorCode::kInvalidArgument, "--diffusion-steps and --self-cond-top-k must be >= 0");
    }
    GANNET_ASSIGN_OR_RETURN(std::shared_ptr<server::OpenAiRuntime> rt,
                            server::ModelRuntime::create({.model_path = o.model_path,
                                                          .n_kv_contexts = 1,
                                                          .n_threads = o.n_threads,
                                                          .device = o.device,
                                                          .kv_type = o.kv_type,
                                                          .mmproj_path = o.mmproj,
                                                          .sparse_attention = o.sparse_attention}));
    std::shared_ptr<const model::SoftTokens> soft;
    GANNET_ASSIGN_OR_RETURN(std::vector<int32_t> prompt, encode_prompt(*rt, o, soft));
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
        req.soft = soft;
        req.on_text = emit;
        if (rt->model->config().is_diffusion()) {
            // Set before the request is submitted: the engine thread reads it only during a step.
            rt->model->set_self_cond_top_k(static_cast<int32_t>(o.self_cond_top_k));
            // Whole canvases that fit the context.
            const int64_t c = rt->model->config().canvas_length;
            const int64_t fit = (n_ctx - n_prompt) / c * c;
            GANNET_RETURN_IF_ERROR(diffusion_params(o, std::min(max_tokens, fit), req.params));
            if (req.params.max_tokens < 1) {
                return make_error(ErrorCode::kInvalidArgument,
                                  "prompt of %lld tokens leaves no room for a canvas of %lld in the context of %lld",
                                  static_cast<long long>(n_prompt), static_cast<long long>(c),
                                  static_cast<long long>(n_ctx));
            }
            GANNET_ASSIGN_OR_RETURN(info, rt->engine->generate(std::move(req)));
            emit("\n");
            report(info, n_prompt);
            return Status();
        }
        if (o.diffusion_steps != 0 || o.self_cond_top_k != 0) {
            return make_error(ErrorCode::kInvalidArgument,
                              "--diffusion-steps and --self-cond-top-k apply to diffusion models only");
        }
        req.params = {.max_tokens = static_cast<int32_t>(max_tokens),
                      .temperature = o.sampler.temperature,
                      .top_p = o.sampler.top_p,
                      .seed = o.sampler.seed,
                      .stop = o.stops,
                      .top_k = o.sampler.top_k,
                      .min_p = o.sampler.min_p,
                      .repeat_penalty = o.sampler.repeat_penalty,
                      .repeat_last_n = o.sampler.repeat_last_n};
        GANNET_ASSIGN_OR_RETURN(info, rt->engine->generate(std::move(req)));
    }
    emit("\n");
    report(info, n_prompt);
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
    flags.add_strings("--image", &o.images, "image file, PNG/JPEG/WebP (repeatable; placed before the prompt)");
    flags.add_strings("--audio", &o.audios, "16-bit/float WAV file (repeatable; after the images, before the prompt)");
    flags.add_int("--image-tokens", &o.image_tokens, "soft tokens per image: 70, 140, 280 (default), 560 or 1120");
    flags.add_string("--mmproj", &o.mmproj, "projector GGUF for --image/--audio (default: the model file's)");
    flags.add_int("--diffusion-steps", &o.diffusion_steps, "diffusion models: denoising steps per canvas (default 48)");
    flags.add_int("--self-cond-top-k", &o.self_cond_top_k,
                  "diffusion models: approximate self-conditioning with the K likeliest tokens (default 0: exact)");
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
        o.is_temp_set = flags.was_set("--temp");
        for (const char* f : {"--top-k", "--top-p", "--min-p", "--repeat-penalty", "--repeat-last-n"}) {
            if (flags.was_set(f)) {
                o.ar_flags_set.emplace_back(f);
            }
        }
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
