// Benchmark of the CUDA forward (CudaModel::forward_batch through the CUDA runner) for machines
// without the full `gannet` binary's dependencies (`gannet bench --device cuda` times the same
// forward through the engine):
//   cuda_model_bench copy                       device-to-device copy bandwidth (GB/s, read + write)
//   cuda_model_bench make PATH DTYPE LAYERS [VOCAB]
//                                               writes a Llama-3-8B-shaped random GGUF (4096 wide,
//                                               FFN 14336, 32 heads over 8 kv heads; VOCAB 128256 is
//                                               Llama 3's, default the tiny test vocabulary)
//   cuda_model_bench run PATH N_PROMPT N_GEN [unfused] [gguf] [--placement device|mapped|stream]
//                    [--vram-budget GB]         prefill and decode speed, one JSON line (unfused: no
//                                               fuse_decode_ops; gguf: no Q4_0 repack). With mapped/stream the
//                                               same run measures the host-to-device bound (see h2d) and
//                                               reports decode as a % of it
//   cuda_model_bench h2d                        host-to-device bandwidth: pinned cudaMemcpy and a
//                                               zero-copy kernel reading mapped pinned memory (GB/s)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "base/cuda/cuda_status.h"
#include "base/cuda/device_buffer.h"
#include "memory/cuda/h2d_probe.h"
#include "memory/placement.h"
#include "model/cuda/cuda_model.h"
#include "model/test_models.h"
#include "runner/cuda/cuda_runner.h"

namespace gannet::model::cuda {
namespace {

using Clock = std::chrono::steady_clock;

Result<double> copy_bandwidth_gb_s() {
    constexpr size_t kBytes = size_t{1} << 30;
    GANNET_ASSIGN_OR_RETURN(gannet::cuda::DeviceBuffer a, gannet::cuda::DeviceBuffer::allocate(kBytes));
    GANNET_ASSIGN_OR_RETURN(gannet::cuda::DeviceBuffer b, gannet::cuda::DeviceBuffer::allocate(kBytes));
    GANNET_RETURN_IF_ERROR(gannet::cuda::cuda_status(cudaMemset(a.data(), 1, kBytes), "memset"));
    double best = 0.0;
    for (int i = 0; i < 10; ++i) {
        GANNET_RETURN_IF_ERROR(gannet::cuda::cuda_status(cudaDeviceSynchronize(), "sync"));
        const Clock::time_point t0 = Clock::now();
        GANNET_RETURN_IF_ERROR(
            gannet::cuda::cuda_status(cudaMemcpy(b.data(), a.data(), kBytes, cudaMemcpyDeviceToDevice), "copy"));
        GANNET_RETURN_IF_ERROR(gannet::cuda::cuda_status(cudaDeviceSynchronize(), "sync"));
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        best = std::max(best, 2.0 * kBytes / s / 1e9);
    }
    return best;
}

Status make(const std::string& path, const std::string& dtype, int64_t layers, int64_t vocab) {
    TestModelOptions o;
    o.arch = "llama";
    o.dtype = dtype == "q4_0"   ? tensor::DType::kQ4_0
              : dtype == "q8_0" ? tensor::DType::kQ8_0
              : dtype == "bf16" ? tensor::DType::kBF16
                                : tensor::DType::kF16;
    o.n_layers = layers;
    o.n_ctx = 8192;
    o.n_embd = 4096;
    o.n_ff = 14336;
    o.n_heads = 32;
    o.n_kv_heads = 8;
    o.n_vocab = vocab;
    o.is_fast_random = true;
    return write_test_model(o, path);
}

// --placement / --vram-budget (weight placement, src/memory), unfused and gguf of `run`.
struct PlacementFlags {
    memory::Placement placement = memory::Placement::kDevice;
    int64_t vram_budget_bytes = -1;
    bool fuse_decode_ops = true;
    bool repack_q4_0 = true;
};

constexpr size_t kH2dProbeBytes = size_t{1} << 30;

Status run(const std::string& path, int64_t n_prompt, int64_t n_gen, const PlacementFlags& pf) {
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<Model> cpu, Model::load(path));
    const Clock::time_point tl = Clock::now();
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<CudaModel> m,
                            CudaModel::create(*cpu, {.fuse_decode_ops = pf.fuse_decode_ops,
                                                     .repack_q4_0 = pf.repack_q4_0,
                                                     .placement = pf.placement,
                                                     .vram_budget_bytes = pf.vram_budget_bytes}));
    const double upload_s = std::chrono::duration<double>(Clock::now() - tl).count();
    std::mt19937_64 rng(0);
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(m->config().n_vocab - 1));
    constexpr int32_t kBlockSize = 16;
    const auto n_blocks = static_cast<int32_t>((n_prompt + n_gen + 1 + kBlockSize - 1) / kBlockSize);
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<runner::CudaRunner> r,
                            runner::CudaRunner::create(*m, {.n_blocks = n_blocks, .block_size = kBlockSize}));
    std::vector<kvcache::BlockId> table(static_cast<size_t>(n_blocks));
    for (int32_t b = 0; b < n_blocks; ++b) {
        table[static_cast<size_t>(b)] = b;
    }
    std::vector<int32_t> tokens(static_cast<size_t>(n_prompt));
    for (int32_t& t : tokens) {
        t = pick(rng);
    }
    auto decode = [&](int32_t id, int32_t pos) {
        sched::SchedulerOutput step;
        step.seqs.push_back(
            {.seq_id = 0, .tokens = std::span(&id, 1), .pos = pos, .block_table = table, .is_logits_needed = true});
        return r->run(step).error();
    };
    // Warm-up: one prefill and one decode step (cuBLAS setup, graph capture); the timed pass
    // rewrites the same cache slots.
    GANNET_RETURN_IF_ERROR(r->run_sequence(tokens, 0, LogitsMode::kLast).error());
    GANNET_RETURN_IF_ERROR(decode(tokens[0], static_cast<int32_t>(n_prompt)));
    const Clock::time_point t0 = Clock::now();
    GANNET_RETURN_IF_ERROR(r->run_sequence(tokens, 0, LogitsMode::kLast).error());
    const double prefill_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const Clock::time_point t1 = Clock::now();
    for (int64_t i = 0; i < n_gen; ++i) {
        GANNET_RETURN_IF_ERROR(decode(pick(rng), static_cast<int32_t>(n_prompt + i)));
    }
    const double decode_s = std::chrono::duration<double>(Clock::now() - t1).count();
    const double gb = static_cast<double>(weight_bytes_per_token(cpu->weights())) / 1e9;
    const double decode_tok_s = static_cast<double>(n_gen) / decode_s;
    const memory::Plan& plan = m->placement();
    std::fprintf(stderr, "placement %s\n", plan.describe().c_str());
    if (pf.placement != memory::Placement::kDevice) {
        // The bound of this run, measured in this run: every token moves the mapped bytes (zero-copy
        // reads) and the streamed bytes (copies) over the bus; resident reads are ~60x faster and
        // left out. tok/s bound = H2D GB/s / (mapped + streamed GB per token).
        GANNET_ASSIGN_OR_RETURN(memory::cuda::H2dBandwidth bw, memory::cuda::measure_h2d(kH2dProbeBytes, 3));
        const double bus_gb = static_cast<double>(plan.mapped_bytes + plan.streamed_bytes_per_token) / 1e9;
        const double bound = bus_gb > 0.0 ? bw.copy_gb_s / bus_gb : 0.0;
        std::printf(
            "{\"placement\":\"%s\",\"vram_budget_gb\":%.3f,\"layers_resident\":%lld,\"layers_mapped\":%lld,"
            "\"layers_streamed\":%lld,\"device_gb\":%.3f,\"mapped_gb_per_token\":%.3f,"
            "\"streamed_gb_per_token\":%.3f,\"h2d_gb_s\":%.1f,\"zero_copy_gb_s\":%.1f,"
            "\"bound\":\"tok/s <= h2d_gb_s / (mapped_gb_per_token + streamed_gb_per_token)\","
            "\"bound_tok_s\":%.2f,\"decode_tok_s\":%.2f,\"pct_of_h2d_bound\":%.1f}\n",
            memory::placement_name(plan.placement), static_cast<double>(plan.budget_bytes) / 1e9,
            static_cast<long long>(plan.n_layers_resident), static_cast<long long>(plan.n_layers_mapped),
            static_cast<long long>(plan.n_layers_streamed), static_cast<double>(plan.device_bytes) / 1e9,
            static_cast<double>(plan.mapped_bytes) / 1e9, static_cast<double>(plan.streamed_bytes_per_token) / 1e9,
            bw.copy_gb_s, bw.zero_copy_gb_s, bound, decode_tok_s, bound > 0.0 ? 100.0 * decode_tok_s / bound : 0.0);
    }
    std::printf(
        "{\"model\":\"%s\",\"fused\":%d,\"repack\":%d,\"dtype\":\"%s\",\"layers\":%lld,"
        "\"weight_gb\":%.3f,\"upload_s\":%.2f,"
        "\"prefill_tok_s\":%.1f,\"decode_tok_s\":%.1f,\"decode_gb_s\":%.1f,\"n_prompt\":%lld,\"n_gen\":%lld}\n",
        path.c_str(), pf.fuse_decode_ops ? 1 : 0, pf.repack_q4_0 ? 1 : 0, cpu->dtype_name(),
        static_cast<long long>(m->config().n_layers), gb, upload_s, static_cast<double>(n_prompt) / prefill_s,
        decode_tok_s, gb * decode_tok_s, static_cast<long long>(n_prompt), static_cast<long long>(n_gen));
    return Status();
}

int main_impl(int argc, char** argv) {
    const std::string cmd = argc > 1 ? argv[1] : "";
    Status st;
    if (cmd == "copy" && argc == 2) {
        Result<double> bw = copy_bandwidth_gb_s();
        st = bw.error();
        if (st.ok()) {
            std::printf("{\"copy_gb_s\":%.1f}\n", *bw);
        }
    } else if (cmd == "make" && (argc == 5 || argc == 6)) {
        st = make(argv[2], argv[3], std::atoll(argv[4]), argc == 6 ? std::atoll(argv[5]) : 0);
    } else if (cmd == "h2d" && argc == 2) {
        Result<memory::cuda::H2dBandwidth> bw = memory::cuda::measure_h2d(kH2dProbeBytes, 5);
        st = bw.error();
        if (st.ok()) {
            std::printf("{\"h2d_pinned_copy_gb_s\":%.1f,\"zero_copy_read_gb_s\":%.1f,\"bytes\":%zu}\n", bw->copy_gb_s,
                        bw->zero_copy_gb_s, kH2dProbeBytes);
        }
    } else if (cmd == "run" && argc >= 5) {
        PlacementFlags pf;
        for (int i = 5; i < argc && st.ok(); ++i) {
            const std::string a = argv[i];
            if (a == "unfused") {
                pf.fuse_decode_ops = false;
            } else if (a == "gguf") {
                pf.repack_q4_0 = false;
            } else if ((a == "--placement" || a == "--vram-budget") && i + 1 < argc) {
                const std::string v = argv[++i];
                if (a == "--placement") {
                    Result<memory::Placement> p = memory::parse_placement(v);
                    st = p.error();
                    pf.placement = p.has_value() ? *p : pf.placement;
                } else {
                    Result<uint64_t> b = memory::parse_vram_budget_gb(v);
                    st = b.error();
                    pf.vram_budget_bytes = b.has_value() ? static_cast<int64_t>(*b) : -1;
                }
            } else {
                st = make_error(ErrorCode::kInvalidArgument, "run: unexpected argument '%s'", a.c_str());
            }
        }
        if (st.ok()) {
            st = run(argv[2], std::atoll(argv[3]), std::atoll(argv[4]), pf);
        }
    } else {
        std::fprintf(stderr,
                     "usage: cuda_model_bench copy | h2d | make PATH DTYPE LAYERS [VOCAB] | run PATH N_PROMPT N_GEN "
                     "[unfused] [gguf] [--placement device|mapped|stream] [--vram-budget GB]\n");
        return 2;
    }
    if (!st.ok()) {
        std::fprintf(stderr, "cuda_model_bench: %s\n", st.message().c_str());
        return 1;
    }
    return 0;
}

}  // namespace
}  // namespace gannet::model::cuda

int main(int argc, char** argv) {
    return gannet::model::cuda::main_impl(argc, argv);
}
