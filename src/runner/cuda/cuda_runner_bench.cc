// Aggregate decode throughput of the CUDA runner: N sequences (N = 1, 8, 32, 64) prefill a prompt
// of N_PROMPT tokens (steps of at most 512 tokens), then decode N_GEN steps together, each step
// one token per sequence through CudaRunner::run (logits copied to the host, as the engine sees
// them). Tokens are fixed, not sampled, so host-side sampling does not enter the timing.
//   runner_cuda_bench PATH [N_PROMPT=128] [N_GEN=64] [det]
// Prints one JSON line per N: decode tok/s over all sequences, ms per step, prefill tok/s.
// det: is_deterministic (every product one token at a time).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "runner/cuda/cuda_runner.h"

namespace gannet::runner {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int32_t kBlockSize = 16;

Status bench(model::cuda::CudaModel& m, int32_t n_seqs, int32_t n_prompt, int32_t n_gen, bool det) {
    const int32_t blocks_per_seq = (n_prompt + n_gen + kBlockSize - 1) / kBlockSize;
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<CudaRunner> r, CudaRunner::create(m, {.n_blocks = n_seqs * blocks_per_seq,
                                                                                  .block_size = kBlockSize,
                                                                                  .is_deterministic = det}));
    const int64_t n_vocab = m.config().n_vocab;
    std::vector<std::vector<int32_t>> tokens(static_cast<size_t>(n_seqs));
    std::vector<std::vector<kvcache::BlockId>> tables(static_cast<size_t>(n_seqs));
    for (int32_t s = 0; s < n_seqs; ++s) {
        for (int32_t i = 0; i < n_prompt + n_gen; ++i) {
            tokens[static_cast<size_t>(s)].push_back(static_cast<int32_t>((s * 7919 + i * 31 + 1) % n_vocab));
        }
        for (int32_t b = 0; b < blocks_per_seq; ++b) {
            tables[static_cast<size_t>(s)].push_back(s * blocks_per_seq + b);
        }
    }
    // Prefill in steps of at most 512 tokens, whole prompts only (chunks when one prompt is longer).
    const Clock::time_point t0 = Clock::now();
    std::vector<int32_t> done(static_cast<size_t>(n_seqs), 0);
    for (int32_t s = 0; s < n_seqs;) {
        sched::SchedulerOutput out;
        int32_t budget = 512;
        while (s < n_seqs && budget > 0) {
            const size_t i = static_cast<size_t>(s);
            const int32_t n = std::min(budget, n_prompt - done[i]);
            out.seqs.push_back({.seq_id = static_cast<sched::SeqId>(s),
                                .tokens = std::span<const int32_t>(tokens[i]).subspan(static_cast<size_t>(done[i]),
                                                                                      static_cast<size_t>(n)),
                                .pos = done[i],
                                .block_table = tables[i],
                                .is_logits_needed = done[i] + n == n_prompt});
            done[i] += n;
            budget -= n;
            if (done[i] == n_prompt) {
                ++s;
            }
        }
        GANNET_RETURN_IF_ERROR(r->run(out).error());
    }
    const double prefill_s = std::chrono::duration<double>(Clock::now() - t0).count();
    auto decode_step = [&](int32_t g) -> Status {
        sched::SchedulerOutput out;
        for (int32_t s = 0; s < n_seqs; ++s) {
            const size_t i = static_cast<size_t>(s);
            out.seqs.push_back(
                {.seq_id = static_cast<sched::SeqId>(s),
                 .tokens = std::span<const int32_t>(tokens[i]).subspan(static_cast<size_t>(n_prompt + g), 1),
                 .pos = n_prompt + g,
                 .block_table = tables[i],
                 .is_logits_needed = true});
        }
        return r->run(out).error();
    };
    GANNET_RETURN_IF_ERROR(decode_step(0));  // warm-up (buffer growth)
    const Clock::time_point t1 = Clock::now();
    for (int32_t g = 1; g < n_gen; ++g) {
        GANNET_RETURN_IF_ERROR(decode_step(g));
    }
    const double decode_s = std::chrono::duration<double>(Clock::now() - t1).count();
    const int32_t steps = n_gen - 1;
    std::printf(
        "{\"n_seqs\":%d,\"n_prompt\":%d,\"decode_steps\":%d,\"deterministic\":%s,\"prefill_tok_s\":%.1f,"
        "\"decode_tok_s\":%.1f,\"ms_per_step\":%.3f}\n",
        n_seqs, n_prompt, steps, det ? "true" : "false", n_seqs * n_prompt / prefill_s, n_seqs * steps / decode_s,
        1e3 * decode_s / steps);
    std::fflush(stdout);
    return Status();
}

int main_impl(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: runner_cuda_bench PATH [N_PROMPT=128] [N_GEN=64] [det]\n");
        return 2;
    }
    const std::string path = argv[1];
    const int32_t n_prompt = argc > 2 ? std::atoi(argv[2]) : 128;
    const int32_t n_gen = argc > 3 ? std::atoi(argv[3]) : 64;
    const bool det = argc > 4 && std::string(argv[4]) == "det";
    if (n_prompt < 1 || n_gen < 2) {
        std::fprintf(stderr, "runner_cuda_bench: N_PROMPT must be >= 1 and N_GEN >= 2\n");
        return 2;
    }
    auto cpu = model::Model::load(path);
    if (!cpu.has_value()) {
        std::fprintf(stderr, "runner_cuda_bench: %s\n", cpu.error().message().c_str());
        return 1;
    }
    auto m = model::cuda::CudaModel::create(**cpu, {});
    if (!m.has_value()) {
        std::fprintf(stderr, "runner_cuda_bench: %s\n", m.error().message().c_str());
        return 1;
    }
    for (int32_t n : {1, 8, 32, 64}) {
        const Status st = bench(**m, n, n_prompt, n_gen, det);
        if (!st.ok()) {
            std::fprintf(stderr, "runner_cuda_bench: N=%d: %s\n", n, st.message().c_str());
            return 1;
        }
    }
    return 0;
}

}  // namespace
}  // namespace gannet::runner

int main(int argc, char** argv) {
    return gannet::runner::main_impl(argc, argv);
}
