// gannet bench attention: one layer's attention time, block-sparse (msa or quest) against dense,
// on random data with a Llama-3-8B-like head layout (src/model/attention_bench.h); one JSON line on
// stdout.
#include <cstdio>
#include <string>
#include <vector>

#include "command.h"
#include "flags.h"
#include "model/attention_bench.h"
#include "model_cli.h"
#ifdef GANNET_CUDA
#include "kernels/cuda/sparse_attention_bench.h"
#endif

namespace gannet::app {

int bench_attention_main(const std::vector<std::string>& args) {
    model::AttentionBenchOptions o;
    std::string sparse = "msa";
    std::string device = "cpu";
    std::string kv_type_name = "f32";
    int64_t threads = 0;
    bool is_json = false;
    Flags flags("bench attention");
    flags.add_int("--ctx", &o.ctx, "context length N: a prefill over N tokens and a decode step at N (default 32768)");
    flags.add_string("--sparse", &sparse, "msa (default), quest or off");
    flags.add_string("--device", &device, "cpu (default) or cuda");
    flags.add_string("--kv-type", &kv_type_name, kKvTypeHelp);
    flags.add_int("--topk", &o.topk, "blocks kept per (query, KV group) (default 16)");
    flags.add_int("--exact-prefill-max", &o.exact_prefill_max,
                  "longest prefill run in full; longer ones are estimated from sampled queries (default 2048)");
    flags.add_int("--sample-queries", &o.sample_queries, "queries per sampled prefill position (default 32)");
    flags.add_int("-t,--threads", &threads, "threads (default: all)");
    flags.add_bool("--json", &is_json, "print only the JSON line");
    if (wants_help(args)) {
        std::printf("gannet bench attention: sparse vs dense attention time of one layer (random data)\n%s",
                    flags.usage().c_str());
        return 0;
    }
    Status s = flags.parse(args);
    Result<model::SparseMode> mode = model::parse_sparse_mode(sparse);
    if (s.ok() && (!mode.has_value() || *mode == model::SparseMode::kDefault)) {
        s = make_error(ErrorCode::kInvalidArgument, "--sparse: '%s' is not msa, quest or off", sparse.c_str());
    }
    if (s.ok()) {
        s = parse_kv_type(kv_type_name, &o.kv_type);
    }
    if (s.ok() && device != "cpu" && device != "cuda") {
        s = make_error(ErrorCode::kInvalidArgument, "--device: '%s' is not cpu or cuda", device.c_str());
    }
#ifdef GANNET_CUDA
    if (s.ok() && device == "cuda" && o.kv_type != tensor::DType::kF32) {
        s = make_error(ErrorCode::kUnimplemented, "bench attention --device cuda: --kv-type f32 only");
    }
    if (s.ok() && device == "cuda" && *mode == model::SparseMode::kQuest) {
        s = make_error(ErrorCode::kUnimplemented, "bench attention --device cuda: msa or off (quest is CPU-only)");
    }
#else
    if (s.ok() && device == "cuda") {
        s = make_error(ErrorCode::kUnimplemented, "bench attention --device cuda: this gannet was built without CUDA");
    }
#endif
    Result<int> n_threads = resolve_threads(threads);
    if (s.ok() && !n_threads.has_value()) {
        s = n_threads.error();
    }
    if (!s.ok()) {
        return fail("bench attention", s);
    }
    o.mode = *mode;
#ifdef GANNET_CUDA
    if (device == "cuda") {
        Result<kernels::cuda::SparseBenchResult> g = kernels::cuda::bench_sparse_attention(
            {.ctx = o.ctx, .is_sparse = o.mode != model::SparseMode::kOff, .topk = o.topk});
        if (!g.has_value()) {
            return fail("bench attention", g.error());
        }
        const model::AttentionBenchResult cr{.prefill_ms = g->prefill_ms,
                                             .decode_ms = g->decode_ms,
                                             .dense_prefill_ms = g->dense_prefill_ms,
                                             .dense_decode_ms = g->dense_decode_ms,
                                             .decode_select_ms = g->decode_select_ms,
                                             .is_prefill_sampled = g->is_prefill_sampled,
                                             .prefill_queries_run = g->prefill_queries_run,
                                             .decode_keys_per_head = o.mode == model::SparseMode::kOff
                                                                         ? static_cast<double>(o.ctx)
                                                                         : static_cast<double>(o.topk * o.block)};
        std::printf("%s\n", model::attention_bench_json(o, cr, device).c_str());
        return 0;
    }
#endif
    ThreadPool pool(*n_threads);
    Result<model::AttentionBenchResult> r = model::bench_attention(o, pool);
    if (!r.has_value()) {
        return fail("bench attention", r.error());
    }
    if (!is_json) {
        std::fprintf(stderr,
                     "attention at %lld tokens (%s, %s cache, %d threads): decode %.3f ms vs dense %.3f ms (%.1fx), "
                     "prefill %.1f "
                     "ms vs %.1f ms (%.1fx)%s\n",
                     static_cast<long long>(o.ctx), sparse.c_str(), kv_type_name.c_str(), *n_threads, r->decode_ms,
                     r->dense_decode_ms, r->dense_decode_ms / r->decode_ms, r->prefill_ms, r->dense_prefill_ms,
                     r->dense_prefill_ms / r->prefill_ms,
                     r->is_prefill_sampled ? " (prefill estimated from samples)" : "");
    }
    std::printf("%s\n", model::attention_bench_json(o, *r, device).c_str());
    return 0;
}

}  // namespace gannet::app
