// gannet bench: single-stream prefill and decode speed of a model on random token ids, ending with
// one JSON line on stdout. On the CPU it is one request through the engine (the program users run);
// --device cuda still times the contiguous CUDA forward until the CUDA runner has its fast paths.
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "agent/efc_command.h"
#include "bench/replay_command.h"
#include "command.h"
#include "flags.h"
#include "model/model.h"
#include "model_cli.h"
#include "server/model_runtime.h"
#ifdef GANNET_CUDA
#include "memory/placement.h"
#include "model/cuda/cuda_model.h"
#endif

namespace gannet::app {

int bench_constrain_main(const std::vector<std::string>& args);  // cmd_bench_constrain.cc
int bench_attention_main(const std::vector<std::string>& args);  // cmd_bench_attention.cc

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

// The CPU measurement is one request through the engine, as `gannet serve` runs it: a prompt of
// n_prompt random ids prefilled in one step (the timing of the first token), then n_gen - 1 decode
// steps (first token to last), greedy and ignoring end-of-generation so every step runs.
Status bench(const std::string& model_path, int64_t n_prompt, int64_t n_gen, int n_threads,
             const std::string& kv_type_name) {
    {
        // The context check first, from the metadata alone, so it names -p and -n.
        GANNET_ASSIGN_OR_RETURN(gguf::File f, gguf::File::open(model_path));
        GANNET_ASSIGN_OR_RETURN(model::ModelConfig c, model::read_model_config(f));
        GANNET_RETURN_IF_ERROR(check_context(n_prompt, n_gen, c.n_ctx_train));
    }
    const int64_t n_ctx = n_prompt + std::max<int64_t>(n_gen, 1);
    GANNET_ASSIGN_OR_RETURN(std::shared_ptr<server::OpenAiRuntime> rt,
                            server::ModelRuntime::create({.model_path = model_path,
                                                          .n_ctx = n_ctx,
                                                          .n_kv_contexts = 1,
                                                          .max_batch_tokens = std::max<int64_t>(n_prompt, 1),
                                                          .n_threads = n_threads,
                                                          .kv_type = kv_type_name}));
    const model::Model& m = *rt->model;
    // Greedy, and end-of-generation ignored, so every requested step runs.
    engine::EngineRequest req;
    req.params.temperature = 0.0f;
    req.params.ignore_eos = true;
    // Warm-up: one step reads every weight once, so the timed passes do not pay for the first touch
    // of the memory-mapped file (page faults) or the thread pool's start.
    req.prompt = {0};
    req.params.max_tokens = 1;
    GANNET_RETURN_IF_ERROR(rt->engine->generate(req).error());
    req.prompt = random_prompt(m.config().n_vocab, n_prompt);
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
        "{\"model\":%s,\"dtype\":%s,\"kv_type\":%s,\"threads\":%d,\"prefill_tok_s\":%.3f,"
        "\"decode_tok_s\":%.3f,\"decode_gb_s\":%.3f,\"n_prompt\":%lld,\"n_gen\":%lld}\n",
        json_string(model_path).c_str(), json_string(m.dtype_name()).c_str(), json_string(kv_type_name).c_str(),
        n_threads, prefill_tok_s, decode_tok_s, gb_per_token * decode_tok_s, static_cast<long long>(n_prompt),
        static_cast<long long>(n_gen));
    return Status();
}

#ifdef GANNET_CUDA
using Clock = std::chrono::steady_clock;

struct Timing {
    double prefill_s = 0.0;
    double decode_s = 0.0;
};

// What the CUDA bench times: warm_up(tokens, positions) first (untimed; it must leave the cache
// empty), then one prefill of n_prompt random ids and n_gen one-token decode steps through
// forward(tokens, positions).
template <typename Forward, typename WarmUp>
Result<Timing> time_prefill_and_decode(int64_t n_vocab, int64_t n_prompt, int64_t n_gen, Forward forward,
                                       WarmUp warm_up) {
    std::mt19937_64 rng(0);
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(n_vocab - 1));
    std::vector<int32_t> tokens(static_cast<size_t>(n_prompt));
    std::vector<int32_t> positions(static_cast<size_t>(n_prompt));
    for (int64_t i = 0; i < n_prompt; ++i) {
        tokens[static_cast<size_t>(i)] = pick(rng);
        positions[static_cast<size_t>(i)] = static_cast<int32_t>(i);
    }
    GANNET_RETURN_IF_ERROR(warm_up(std::span<const int32_t>(tokens), std::span<const int32_t>(positions)));
    Timing t;
    const Clock::time_point t0 = Clock::now();
    GANNET_RETURN_IF_ERROR(forward(std::span<const int32_t>(tokens), std::span<const int32_t>(positions)));
    t.prefill_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const Clock::time_point t1 = Clock::now();
    for (int64_t i = 0; i < n_gen; ++i) {
        const int32_t id = pick(rng);
        const int32_t pos = static_cast<int32_t>(n_prompt + i);
        GANNET_RETURN_IF_ERROR(forward(std::span<const int32_t>(&id, 1), std::span<const int32_t>(&pos, 1)));
    }
    t.decode_s = std::chrono::duration<double>(Clock::now() - t1).count();
    return t;
}

// The same measurement on the GPU (weights in device memory, decode steps replayed as a CUDA graph).
// One warm-up prefill and decode step come first (graph capture, cuBLAS setup) and are not timed.
// placement / vram_budget_bytes: where the weights live (src/memory/placement.h; -1: free memory).
Status bench_cuda(const std::string& model_path, int64_t n_prompt, int64_t n_gen, memory::Placement placement,
                  int64_t vram_budget_bytes) {
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<model::Model> cpu, model::Model::load(model_path));
    const model::ModelConfig& c = cpu->config();
    GANNET_RETURN_IF_ERROR(model::check_cuda_support(c));
    GANNET_RETURN_IF_ERROR(check_context(n_prompt, n_gen, c.n_ctx_train));
    GANNET_ASSIGN_OR_RETURN(
        std::unique_ptr<model::cuda::CudaModel> m,
        model::cuda::CudaModel::create(
            *cpu, {.n_ctx = n_prompt + n_gen, .placement = placement, .vram_budget_bytes = vram_budget_bytes}));
    std::fprintf(stderr, "bench (cuda): placement %s\n", m->placement().describe().c_str());
    auto forward = [&](std::span<const int32_t> tokens, std::span<const int32_t> positions) {
        return m->forward(tokens, positions, model::LogitsMode::kLast).error();
    };
    // Warm-up: the prompt and one decode step (graph capture, cuBLAS setup), then rewind.
    auto warm_up = [&](std::span<const int32_t> tokens, std::span<const int32_t> positions) {
        GANNET_RETURN_IF_ERROR(forward(tokens, positions));
        const int32_t id = tokens.empty() ? 0 : tokens[0];
        const int32_t pos = static_cast<int32_t>(n_prompt);
        GANNET_RETURN_IF_ERROR(forward(std::span(&id, 1), std::span(&pos, 1)));
        m->set_n_pos(0);
        return Status();
    };
    GANNET_ASSIGN_OR_RETURN(const Timing t, time_prefill_and_decode(c.n_vocab, n_prompt, n_gen, forward, warm_up));
    const double prefill_s = t.prefill_s;
    const double decode_s = t.decode_s;
    const double prefill_tok_s = static_cast<double>(n_prompt) / prefill_s;
    const double decode_tok_s = n_gen > 0 ? static_cast<double>(n_gen) / decode_s : 0.0;
    const double gb_per_token = static_cast<double>(model::weight_bytes_per_token(cpu->weights())) / 1e9;
    std::fprintf(stderr, "bench (cuda): prefill %lld tokens in %.3f s, decode %lld tokens in %.3f s\n",
                 static_cast<long long>(n_prompt), prefill_s, static_cast<long long>(n_gen), decode_s);
    std::printf(
        "{\"model\":%s,\"dtype\":%s,\"device\":\"cuda\",\"placement\":\"%s\",\"prefill_tok_s\":%.3f,"
        "\"decode_tok_s\":%.3f,\"decode_gb_s\":%.3f,\"n_prompt\":%lld,\"n_gen\":%lld}\n",
        json_string(model_path).c_str(), json_string(cpu->dtype_name()).c_str(),
        memory::placement_name(m->placement().placement), prefill_tok_s, decode_tok_s, gb_per_token * decode_tok_s,
        static_cast<long long>(n_prompt), static_cast<long long>(n_gen));
    return Status();
}
#endif

int run_bench(const std::vector<std::string>& args) {
    // `gannet bench constrain ...` runs MaskBench over JSON Schema files (src/constrain/).
    if (!args.empty() && args[0] == "constrain") {
        return bench_constrain_main({args.begin() + 1, args.end()});
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
    std::string device = "cpu";
    std::string placement_text = "device";
    std::string budget_text;
    flags.add_string("--device", &device, "cpu (default) or cuda");
#ifdef GANNET_CUDA
    flags.add_string("--placement", &placement_text,
                     "cuda weights: device (default), mapped (host memory read over the bus) or stream "
                     "(layers copied in turn)");
    flags.add_string("--vram-budget", &budget_text, "cuda: GB of device memory for weights (default: free memory)");
#endif
    if (wants_help(args)) {
        std::printf("gannet bench: prefill and decode speed of a model (random token ids)\n%s", flags.usage().c_str());
        return 0;
    }
    Status s = flags.parse(args);
    if (s.ok()) {
        s = require_flag(flags.was_set("--model"), "-m/--model");
    }
    if (s.ok() && (n_prompt < 1 || n_gen < 0)) {
        s = make_error(ErrorCode::kInvalidArgument, "-p must be >= 1 and -n >= 0");
    }
    if (s.ok() && device != "cpu" && device != "cuda") {
        s = make_error(ErrorCode::kInvalidArgument, "--device: '%s' is not cpu or cuda", device.c_str());
    }
    if (s.ok()) {
        s = parse_kv_type(kv_type_name, &kv_type);
    }
    if (s.ok() && device == "cuda" && kv_type != tensor::DType::kF32) {
        s = make_error(ErrorCode::kUnimplemented, "--kv-type %s is CPU-only; the cuda bench keeps its own f32 cache",
                       kv_type_name.c_str());
    }
    Result<int> n_threads = resolve_threads(threads);
    if (s.ok() && !n_threads.has_value()) {
        s = n_threads.error();
    }
#ifdef GANNET_CUDA
    Result<memory::Placement> placement = memory::parse_placement(placement_text);
    if (s.ok() && !placement.has_value()) {
        s = placement.error();
    }
    int64_t vram_budget_bytes = -1;
    if (s.ok() && flags.was_set("--vram-budget")) {
        Result<uint64_t> b = memory::parse_vram_budget_gb(budget_text);
        s = b.error();
        vram_budget_bytes = b.has_value() ? static_cast<int64_t>(*b) : -1;
    }
    if (s.ok() && device != "cuda" && (flags.was_set("--placement") || flags.was_set("--vram-budget"))) {
        s = make_error(ErrorCode::kInvalidArgument, "--placement and --vram-budget need --device cuda");
    }
    if (s.ok() && device == "cuda") {
        s = bench_cuda(model_path, n_prompt, n_gen, *placement, vram_budget_bytes);
        return s.ok() ? 0 : fail("bench", s);
    }
#endif
    if (s.ok() && device == "cuda") {
        s = make_error(ErrorCode::kUnimplemented, "--device cuda: this gannet was built without CUDA");
    }
    if (s.ok()) {
        s = bench(model_path, n_prompt, n_gen, *n_threads, tensor::dtype_name(kv_type));
    }
    return s.ok() ? 0 : fail("bench", s);
}

}  // namespace

GANNET_COMMAND("bench",
               "prefill/decode speed of a model (ends with a JSON line); `bench replay`: agent trajectory replay; "
               "`bench efc`: feedback that predicts success; `bench constrain`: MaskBench",
               run_bench);

}  // namespace gannet::app
