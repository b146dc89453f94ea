// Scheduler overhead per engine step: step() + on_step_done() with N sequences decoding, and the
// admission of a long prompt that hits the prefix cache. This is pure bookkeeping that runs between
// forwards, so it should stay far below a decode forward's milliseconds. Refuses to run outside
// Release builds.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "sched/scheduler.h"

namespace gannet::sched {
namespace {

constexpr int32_t kBlockSize = 16;
constexpr int32_t kPromptTokens = 512;
constexpr int32_t kMaxNewTokens = 4096;

std::vector<TokenId> prompt_for(int32_t i) {
    std::vector<TokenId> p(kPromptTokens);
    std::iota(p.begin(), p.end(), i * kPromptTokens);
    return p;
}

// N sequences decoding; a finished one is replaced at once, so the batch stays full.
void BM_DecodeStep(benchmark::State& state) {
    const auto n_seqs = static_cast<int32_t>(state.range(0));
    SchedulerConfig config;
    config.max_batch_tokens = 8192;
    config.max_running_seqs = n_seqs;
    config.blocks = {.n_blocks = n_seqs * (kPromptTokens + kMaxNewTokens) / kBlockSize + 64, .block_size = kBlockSize};
    Scheduler s = Scheduler::create(config).value();
    for (int32_t i = 0; i < n_seqs; ++i) {
        (void)s.add_request({.prompt = prompt_for(i), .max_new_tokens = kMaxNewTokens}).value();
    }
    std::vector<SampledToken> sampled;
    sampled.reserve(static_cast<size_t>(n_seqs));
    int64_t n = 0;
    for (auto _ : state) {
        const SchedulerOutput& out = s.step(n);
        sampled.clear();
        for (const ScheduledSeq& e : out.seqs) {
            if (e.is_logits_needed) {
                const Sequence* q = s.find(e.seq_id);
                sampled.push_back({e.seq_id, 7, q->n_tokens_generated() + 1 == q->max_new_tokens});
            }
        }
        s.on_step_done(sampled);
        while (s.n_waiting() + s.n_running() < n_seqs) {
            (void)s.add_request(
                {.prompt = prompt_for(static_cast<int32_t>(++n % n_seqs)), .max_new_tokens = kMaxNewTokens});
        }
    }
    state.SetItemsProcessed(state.iterations() * n_seqs);  // items = decode tokens scheduled
}
BENCHMARK(BM_DecodeStep)->Arg(1)->Arg(32)->Arg(256);

// Admitting a request whose 8k-token prompt is all in the prefix cache (hash and compare 512 blocks).
void BM_AdmitCachedPrompt(benchmark::State& state) {
    constexpr int32_t kTokens = 8192;
    SchedulerConfig config;
    config.max_batch_tokens = kTokens + 1;
    config.blocks = {.n_blocks = 2 * kTokens / kBlockSize + 8, .block_size = kBlockSize};
    Scheduler s = Scheduler::create(config).value();
    std::vector<TokenId> prompt(kTokens);
    std::iota(prompt.begin(), prompt.end(), 0);
    prompt.push_back(1);  // one uncached token: the rest are whole blocks
    auto run_once = [&]() {
        const SeqId id = s.add_request({.prompt = prompt, .max_new_tokens = 1}).value();
        const SchedulerOutput& out = s.step(0);
        s.on_step_done(std::vector<SampledToken>{{id, 0, true}});
        return out.n_tokens;
    };
    run_once();  // fills the cache
    for (auto _ : state) {
        benchmark::DoNotOptimize(run_once());
    }
    state.SetItemsProcessed(state.iterations() * kTokens);  // items = prompt tokens looked up
}
BENCHMARK(BM_AdmitCachedPrompt);

}  // namespace
}  // namespace gannet::sched

int main(int argc, char** argv) {
    if (std::string(GANNET_BUILD_TYPE) != "Release") {
        std::fprintf(stderr, "scheduler_bench: refusing to run a %s build; configure with -DCMAKE_BUILD_TYPE=Release\n",
                     GANNET_BUILD_TYPE);
        return 1;
    }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
