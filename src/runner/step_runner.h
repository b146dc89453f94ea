// StepRunner: what the engine needs from a runner — execute one scheduler step (block copies, then
// the batched forward) and hand back the logits of the rows that need them. Runner (CPU, runner.h)
// and CudaRunner (runner/cuda, built with GANNET_CUDA) implement it, so the engine does not care
// where the KV cache lives. Not thread-safe: owned by the engine loop.
#pragma once

#include <cstdint>
#include <span>

#include "base/result.h"
#include "sched/scheduler.h"

namespace gannet::runner {

class StepRunner {
public:
    virtual ~StepRunner() = default;
    // Returns logits [n_rows, n_vocab], one row per is_logits_needed entry of out.seqs, in that order
    // (empty when none). Valid until the next run().
    virtual Result<std::span<const float>> run(const sched::SchedulerOutput& out) = 0;
    virtual int64_t n_vocab() const = 0;
};

}  // namespace gannet::runner
