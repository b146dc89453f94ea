// StepRunner: what the engine needs from a runner — execute one scheduler step (block copies, then
// the batched forward) and hand back the logits of the rows that need them. Runner (CPU, runner.h)
// and CudaRunner (runner/cuda, built with GANNET_CUDA) implement it, so the engine does not care
// where the KV cache lives. The reference path (run_reference/commit_reference) is MarginGate's
// verifier (engine/margin_gate.h); a runner without one keeps the defaults, which refuse with
// kUnimplemented. Not thread-safe: owned by the engine loop.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

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

// The step run_reference() recomputes for seq: its chunk's last token at `pos`, read over `table`
// (seq's blocks up to the one holding pos, that one replaced by the runner's scratch block, which
// starts as a copy of `block`). Shared by the runners so both verify the same step.
struct ReferenceStep {
    int32_t pos = 0;
    kvcache::BlockId block = -1;  // the block holding pos: copied to the scratch, overwritten on commit
};
// Fills table; kInvalidArgument for a chunk with no tokens or a table too short for its last token.
inline Result<ReferenceStep> plan_reference(const sched::ScheduledSeq& seq, int32_t block_size,
                                            kvcache::BlockId scratch, std::vector<kvcache::BlockId>& table) {
    if (seq.tokens.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "runner: run_reference of a sequence chunk with no tokens");
    }
    const int32_t pos = seq.pos + static_cast<int32_t>(seq.tokens.size()) - 1;
    const size_t index = static_cast<size_t>(pos / block_size);
    if (index >= seq.block_table.size()) {
        return make_error(ErrorCode::kInvalidArgument, "runner: block table of %zu blocks cannot hold position %d",
                          seq.block_table.size(), pos);
    }
    table.assign(seq.block_table.begin(), seq.block_table.begin() + static_cast<std::ptrdiff_t>(index) + 1);
    table[index] = scratch;
    return ReferenceStep{.pos = pos, .block = seq.block_table[index]};
}

}  // namespace gannet::runner
