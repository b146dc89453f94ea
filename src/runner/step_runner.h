// StepRunner: what the engine needs from a runner — execute one scheduler step (block copies, then
// the batched forward) and hand back the logits of the rows that need them. Runner (CPU, runner.h)
// and CudaRunner (runner/cuda, built with GANNET_CUDA) implement it, so the engine does not care
// where the KV cache lives. The reference path (run_reference/commit_reference) is MarginGate's
// verifier (engine/margin_gate.h); a runner without one keeps the defaults, which refuse with
// kUnimplemented. Not thread-safe: owned by the engine loop.
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
    // (empty when none). Valid until the next run() or run_reference().
    virtual Result<std::span<const float>> run(const sched::SchedulerOutput& out) = 0;
    virtual int64_t n_vocab() const = 0;

    // True when every row of run() is computed independently of its batch-mates (the CPU forward),
    // so `deterministic: invariant` needs nothing more from this runner.
    virtual bool is_batch_invariant() const { return false; }

    // OK when run_reference()/commit_reference() work; kUnimplemented (naming the runner) otherwise.
    virtual Status check_reference_path() const { return unimplemented(); }

    // Recomputes the last token of seq's chunk (an is_logits_needed entry of the last run(), at
    // position seq.pos + n - 1) alone: one token, batch 1, the batch-invariant kernels with fp32
    // accumulation, reading the K/V of earlier positions from the cache. The K/V it computes for that
    // position are held aside, not written over what run() wrote. Returns its logits [n_vocab], valid
    // until the next run() or run_reference(). REQUIRES: seq is from the last run(), which succeeded.
    virtual Result<std::span<const float>> run_reference(const sched::ScheduledSeq& /*seq*/) { return unimplemented(); }
    // Overwrites, in every layer, the K/V that run() wrote at the last run_reference()'s position with
    // the reference's (MarginGate's override: the batched ones must not survive). REQUIRES:
    // run_reference() was the last call and succeeded.
    virtual Status commit_reference() { return unimplemented(); }

private:
    static Status unimplemented() {
        return make_error(ErrorCode::kUnimplemented,
                          "runner: this runner has no reference path (deterministic margin or always); use the cpu "
                          "device, or deterministic invariant");
    }
};

}  // namespace gannet::runner
