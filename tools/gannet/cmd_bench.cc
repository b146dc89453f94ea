// gannet bench: single-stream prefill and decode speed of a model on random token ids, ending with
// one JSON line on stdout: one request through the engine, as `gannet serve` runs it, on the CPU
// runner or (--device cuda) the CUDA runner; a diffusion model's (#18) --batch concurrent requests
// report tokens_per_forward too.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "agent/efc_command.h"
#include "bench/replay_command.h"
#include "command.h"
#include "flags.h"
#include "memory/placement.h"
#include "model/model.h"
#include "model_cli.h"
#include "server/model_runtime.h"

namespace gannet::app {

int bench_constrain_main(const std::vector<std::string>& args);    // cmd_bench_constrain.cc
int bench_determinism_main(const std::vector<std::string>& args);  // cmd_bench_determinism.cc
int bench_attention_main(const std::vector<std::string>& args);    // cmd_bench_attention.cc

namespace {

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

Status check_context(int64_t n_prompt, int64_t n_gen, int64_t n_ctx_train) {
    if (n_prompt + n_gen > n_ctx_train) {
        return make_error(ErrorCode::kInvalidArgument, "-p %lld plus -n %lld exceed the context length of %lld",
                          static_cast<long long>(n_prompt), static_cast<long long>(n_gen),
                          static_cast<long long>(n_ctx_train));
    }
    return Status();
}

// n_prompt token ids from a fixed seed: the timing should not depend on which ids were drawn, but
// runs stay comparable.
std::vector<int32_t> random_prompt(int64_t n_vocab, int64_t n_prompt) {
    std::mt19937_64 rng(0);
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(n_vocab - 1));
    std::vector<int32_t> tokens(static_cast<size_t>(n_prompt));
    for (int32_t& t : tokens) {
        t = pick(rng);
    }
    return tokens;
}

// A diffusion model (#18): `batch` concurrent requests through the engine (their canvases share
// each decoder pass), each n_prompt random ids then n_gen tokens rounded up to whole canvases,
// end-of-generation ignored. decode_tok_s counts every request's tokens over the wall time of the
// denoising; tokens_per_forward is tokens / decoder passes (transformers' metric), per request.
Status bench_diffusion(const std::string& model_path, const model::ModelConfig& c, int64_t n_prompt, int64_t n_gen,
                       int64_t batch, int n_threads, const std::string& kv_type_name) {
    const int64_t n_canvases = std::max<int64_t>(1, (n_gen + c.canvas_length - 1) / c.canvas_length);
    const int64_t n_ctx = n_prompt + n_canvases * c.canvas_length;
    if (n_ctx > c.n_ctx_train) {
        return make_error(ErrorCode::kInvalidArgument, "-p %lld + %lld canvases of %lld exceed the context of %lld",
                          static_cast<long long>(n_prompt), static_cast<long long>(n_canvases),
                          static_cast<long long>(c.canvas_length), static_cast<long long>(c.n_ctx_train));
    }
    GANNET_ASSIGN_OR_RETURN(std::shared_ptr<server::OpenAiRuntime> rt,
                            server::ModelRuntime::create({.model_path = model_path,
                                                          .n_ctx = n_ctx,
                                                          .n_kv_contexts = batch,
                                                          .n_threads = n_threads,
                                                          .kv_type = kv_type_name}));
    engine::EngineRequest warm;
    warm.prompt = {0};
    warm.params.max_tokens = 1;
    warm.params.diffusion_steps = 1;
    GANNET_RETURN_IF_ERROR(rt->engine->generate(warm).error());
    std::vector<std::future<Result<engine::FinishInfo>>> runs;
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < batch; ++i) {
        engine::EngineRequest req;
        req.prompt = random_prompt(c.n_vocab, n_prompt);
        req.params.max_tokens = static_cast<int32_t>(n_canvases * c.canvas_length);
        req.params.ignore_eos = true;
        req.params.seed = static_cast<uint64_t>(i);
        runs.push_back(std::async(std::launch::async,
                                  [&rt, r = std::move(req)]() mutable { return rt->engine->generate(std::move(r)); }));
    }
    int64_t tokens = 0;
    int64_t passes = 0;
    double prefill_s = 0.0;
    for (auto& f : runs) {
        GANNET_ASSIGN_OR_RETURN(engine::FinishInfo info, f.get());
        tokens += info.completion_tokens;
        passes += info.decoder_passes;
        prefill_s = std::max(prefill_s, info.first_token_s);
    }
    const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double decode_s = wall_s - prefill_s;
    std::fprintf(stderr, "bench (diffusion): %lld requests, %lld tokens, %lld decoder passes in %.3f s\n",
                 static_cast<long long>(batch), static_cast<long long>(tokens), static_cast<long long>(passes), wall_s);
    std::printf(
        "{\"model\":%s,\"dtype\":%s,\"kv_type\":%s,\"threads\":%d,\"batch\":%lld,\"canvas_length\":%lld,"
        "\"prefill_tok_s\":%.3f,\"decode_tok_s\":%.3f,\"tokens_per_forward\":%.3f,\"decoder_passes\":%lld,"
        "\"n_prompt\":%lld,\"n_gen\":%lld}\n",
        json_string(model_path).c_str(), json_string(rt->model->dtype_name()).c_str(),
        json_string(kv_type_name).c_str(), n_threads, static_cast<long long>(batch),
        static_cast<long long>(c.canvas_length),
        prefill_s > 0.0 ? static_cast<double>(n_prompt * batch) / prefill_s : 0.0,
        decode_s > 0.0 ? static_cast<double>(tokens) / decode_s : 0.0,
        passes > 0 ? static_cast<double>(tokens) / static_cast<double>(passes) : 0.0, static_cast<long long>(passes),
        static_cast<long long>(n_prompt), static_cast<long long>(n_canvases * c.canvas_length));
    return Status();
}

// The measurement is one request through the engine, as `gannet serve` runs it: a prompt of
// n_prompt random ids prefilled in one step (the timing of the first token), then n_gen - 1 decode
// steps (first token to last), greedy and ignoring end-of-generation so every step runs.
// `where` names the device, and on cuda the weights' placement.
// A diffusion model goes to bench_diffusion (CPU only); --batch applies to it alone.
Status bench(const std::string& model_path, int64_t n_prompt, int64_t n_gen, int64_t batch, int n_threads,
             const std::string& kv_type_name, const server::ModelRuntimeOptions& where) {
    {
        // The context check first, from the metadata alone, so it names -p and -n.
        GANNET_ASSIGN_OR_RETURN(gguf::File f, gguf::File::open(model_path));
        GANNET_ASSIGN_OR_RETURN(model::ModelConfig c, model::read_model_config(f));
        if (c.is_diffusion()) {
            if (where.device != "cpu") {
                return make_error(ErrorCode::kUnimplemented, "--device %s: diffusion models run on the CPU engine only",
                                  where.device.c_str());
            }
            return bench_diffusion(model_path, c, n_prompt, n_gen, batch, n_threads, kv_type_name);
        }
        if (batch != 1) {
            return make_error(ErrorCode::kInvalidArgument, "--batch applies to diffusion models only");
        }
        GANNET_RETURN_IF_ERROR(check_context(n_prompt, n_gen, c.n_ctx_train));
    }
    const int64_t n_ctx = n_prompt + std::max<int64_t>(n_gen, 1);
    const bool on_cuda = where.device == "cuda";
    GANNET_ASSIGN_OR_RETURN(std::shared_ptr<server::OpenAiRuntime> rt,
                            server::ModelRuntime::create({.model_path = model_path,
                                                          .n_ctx = n_ctx,
                                                          .n_kv_contexts = 1,
                                                          .max_batch_tokens = std::max<int64_t>(n_prompt, 1),
                                                          .n_threads = n_threads,
                                                          .device = where.device,
                                                          .kv_type = kv_type_name,
                                                          .placement = where.placement,
                                                          .vram_budget_bytes = where.vram_budget_bytes}));
    const model::Model& m = *rt->model;
    const int64_t n_vocab = m.config().n_vocab;
    // Greedy, and end-of-generation ignored, so every requested step runs.
    engine::EngineRequest req;
    req.params.temperature = 0.0f;
    req.params.ignore_eos = true;
    // Warm-up: one step reads every weight once, so the timed passes do not pay for the first touch
    // of the memory-mapped file (page faults) or the thread pool's start. On the GPU it is a prompt
    // as long as the timed one (other ids, so the prefix cache cannot serve the timed one) and two
    // decode steps: cuBLAS setup and the decode graph of that context length are made untimed.
    req.prompt = {0};
    req.params.max_tokens = 1;
    if (on_cuda) {
        req.prompt = random_prompt(n_vocab, n_prompt);
        for (int32_t& id : req.prompt) {
            id = static_cast<int32_t>((id + 1) % n_vocab);
        }
        req.params.max_tokens = static_cast<int32_t>(std::min<int64_t>(3, std::max<int64_t>(n_gen, 1)));
    }
    GANNET_RETURN_IF_ERROR(rt->engine->generate(req).error());
    req.prompt = random_prompt(n_vocab, n_prompt);
    req.params.max_tokens = static_cast<int32_t>(std::max<int64_t>(n_gen, 1));
    GANNET_ASSIGN_OR_RETURN(engine::FinishInfo info, rt->engine->generate(std::move(req)));
    const double prefill_s = info.first_token_s;
    const double decode_s = info.decode_s;
    const int64_t n_steps = std::max<int32_t>(info.completion_tokens - 1, 0);
    const double prefill_tok_s = static_cast<double>(n_prompt) / prefill_s;
    const double decode_tok_s = n_gen > 1 && decode_s > 0.0 ? static_cast<double>(n_steps) / decode_s : 0.0;
    const double gb_per_token = static_cast<double>(model::weight_bytes_per_token(m.weights())) / 1e9;
    std::fprintf(stderr, "bench: prefill %lld tokens in %.3f s, %lld decode steps in %.3f s\n",
                 static_cast<long long>(n_prompt), prefill_s, static_cast<long long>(n_steps), decode_s);
    std::printf(
        "{\"model\":%s,\"dtype\":%s,\"device\":%s,\"placement\":%s,\"kv_type\":%s,\"threads\":%d,"
        "\"prefill_tok_s\":%.3f,\"decode_tok_s\":%.3f,\"decode_gb_s\":%.3f,\"n_prompt\":%lld,\"n_gen\":%lld}\n",
        json_string(model_path).c_str(), json_string(m.dtype_name()).c_str(), json_string(where.device).c_str(),
        json_string(on_cuda ? where.placement : "host").c_str(), json_string(kv_type_name).c_str(), n_threads,
        prefill_tok_s, decode_tok_s, gb_per_token * decode_tok_s, static_cast<long long>(n_prompt),
        static_cast<long long>(n_gen));
    return Status();
}

int run_bench(const std::vector<std::string>& args) {
    // `gannet bench constrain ...` runs MaskBench over JSON Schema files (src/constrain/).
    if (!args.empty() && args[0] == "constrain") {
        return bench_constrain_main({args.begin() + 1, args.end()});
    }
    // `gannet bench determinism ...` measures batch-size flips and MarginGate (src/engine/).
    if (!args.empty() && args[0] == "determinism") {
        return bench_determinism_main({args.begin() + 1, args.end()});
    }
    // `gannet bench attention ...` times one layer's block-sparse vs dense attention (src/model/).
    if (!args.empty() && args[0] == "attention") {
        return bench_attention_main({args.begin() + 1, args.end()});
    }
    // `gannet bench replay ...` replays agent trajectories against a server (src/bench/).
    if (!args.empty() && args[0] == "replay") {
        return bench_replay_main({args.begin() + 1, args.end()});
    }
    // `gannet bench efc ...` scores recorded trajectories for effective feedback (src/agent/).
    if (!args.empty() && args[0] == "efc") {
        return agent::bench_efc_main({args.begin() + 1, args.end()});
    }
    std::string model_path;
    int64_t n_prompt = 512;
    int64_t n_gen = 128;
    int64_t threads = 0;
    std::string kv_type_name = "f32";
    tensor::DType kv_type = tensor::DType::kF32;
    Flags flags("bench");
    flags.add_string("-m,--model", &model_path, "GGUF model file");
    flags.add_int("-p,--n-prompt", &n_prompt, "prompt tokens to prefill (default 512)");
    flags.add_int("-n,--n-gen", &n_gen, "tokens to decode (default 128)");
    flags.add_int("-t,--threads", &threads, "threads (default: all)");
    flags.add_string("--kv-type", &kv_type_name, kKvTypeHelp);
    server::ModelRuntimeOptions where;
    int64_t batch = 1;
    flags.add_int("--batch", &batch, "diffusion models: concurrent requests sharing each decoder pass (default 1)");
    std::string budget_text;
    flags.add_string("--device", &where.device, "cpu (default) or cuda");
    flags.add_string("--placement", &where.placement,
                     "cuda weights: device (default), mapped (host memory read over the bus) or stream "
                     "(layers copied in turn)");
    flags.add_string("--vram-budget", &budget_text, "cuda: GB of device memory for weights (default: free memory)");
    if (wants_help(args)) {
        std::printf("gannet bench: prefill and decode speed of a model (random token ids)\n%s", flags.usage().c_str());
        return 0;
    }
    Status s = flags.parse(args);
    if (s.ok()) {
        s = require_flag(flags.was_set("--model"), "-m/--model");
    }
    if (s.ok() && (n_prompt < 1 || n_gen < 0 || batch < 1 || batch > 256)) {
        s = make_error(ErrorCode::kInvalidArgument, "-p must be >= 1, -n >= 0 and --batch in 1..256");
    }
    if (s.ok() && where.device != "cpu" && where.device != "cuda") {
        s = make_error(ErrorCode::kInvalidArgument, "--device: '%s' is not cpu or cuda", where.device.c_str());
    }
    if (s.ok()) {
        s = parse_kv_type(kv_type_name, &kv_type);
    }
    Result<int> n_threads = resolve_threads(threads);
    if (s.ok() && !n_threads.has_value()) {
        s = n_threads.error();
    }
    if (s.ok() && flags.was_set("--vram-budget")) {
        Result<uint64_t> b = memory::parse_vram_budget_gb(budget_text);
        s = b.error();
        where.vram_budget_bytes = b.has_value() ? static_cast<int64_t>(*b) : -1;
    }
    if (s.ok()) {
        s = bench(model_path, n_prompt, n_gen, batch, *n_threads, tensor::dtype_name(kv_type), where);
    }
    return s.ok() ? 0 : fail("bench", s);
}

}  // namespace

GANNET_COMMAND("bench",
               "prefill/decode speed of a model (ends with a JSON line); `bench replay`: agent trajectory replay; "
               "`bench efc`: feedback that predicts success; `bench constrain`: MaskBench; `bench determinism`: "
               "batch-size flips and MarginGate",
               run_bench);

}  // namespace gannet::app
