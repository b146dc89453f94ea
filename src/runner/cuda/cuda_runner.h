// CudaRunner: the Runner contract (runner.h) on the GPU. Owns a paged KV cache (f32, f16 or bf16) in
// device memory with the CPU runner's KvCacheLayout, plus one spare block that the padding rows of
// captured decode graphs write to; applies the step's block copies on the device (copy-on-write of
// shared prefix blocks), and runs CudaModel::forward_batch over every scheduled sequence at once:
// one product per matrix over all the step's tokens, flash prefill or split-KV paged attention
// through each sequence's block table, decode steps replayed as CUDA graphs. With is_deterministic,
// every product runs one token at a time through the same kernel and every token through split-KV
// attention, so a sequence's tokens do not depend on what it was batched with (slower).
// The device cache keeps no key summaries (the CPU runner's block-sparse metadata).
// Not thread-safe: owned by the engine loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/cuda/device_buffer.h"
#include "base/result.h"
#include "kvcache/kv_layout.h"
#include "model/cuda/cuda_model.h"
#include "runner/step_runner.h"
#include "sched/scheduler.h"

namespace gannet::runner {

struct CudaRunnerConfig {
    int32_t n_blocks = 256;
    int32_t block_size = 16;
    bool is_deterministic = false;
    kvcache::KvDType kv_dtype = kvcache::KvDType::kF32;  // kF32, kF16 or kBF16
};

class CudaRunner final : public StepRunner {
public:
    // Borrows model (it must outlive the runner). kInvalidArgument for bad sizes or a model whose
    // K and V heads differ in size; kResourceExhausted when the device cache cannot be allocated.
    static Result<std::unique_ptr<CudaRunner>> create(model::cuda::CudaModel& model, const CudaRunnerConfig& config);
    // The same, owning the model.
    static Result<std::unique_ptr<CudaRunner>> create(std::unique_ptr<model::cuda::CudaModel> model,
                                                      const CudaRunnerConfig& config);

    // Block copies, then the forward. Logits [n_rows, n_vocab] in host memory, one row per
    // is_logits_needed entry of out.seqs, in that order (empty when none). Valid until the next run().
    // kInvalidArgument for a block id, token id or position the cache or model cannot take.
    Result<std::span<const float>> run(const sched::SchedulerOutput& out) override;
    int64_t n_vocab() const override { return model_.config().n_vocab; }
    // With is_deterministic every product runs one token at a time and every token goes through
    // split-KV attention: a sequence's logits do not depend on its batch.
    bool is_batch_invariant() const override { return config_.is_deterministic; }
    // MarginGate's reference path (step_runner.h): the chunk's last token alone, on the
    // deterministic path, its K/V written into a scratch block (block config.n_blocks, never
    // scheduled) that starts as a copy of the block holding that position; commit_reference()
    // copies the scratch block back over it.
    Status check_reference_path() const override { return Status(); }
    Result<std::span<const float>> run_reference(const sched::ScheduledSeq& seq) override;
    Status commit_reference() override;

    const kvcache::KvCacheLayout& layout() const { return layout_; }
    const CudaRunnerConfig& config() const { return config_; }
    // The whole device cache copied to the host (layout().total_bytes() bytes), for tests.
    Result<std::vector<std::byte>> download_kv();
    // One sequence outside the scheduler (gannet logits / perplexity): tokens at positions
    // [pos, pos + n) over blocks 0, 1, ... of this cache. Logits of the last token [n_vocab] (kLast)
    // or of every token [n, n_vocab] (kAll), valid until the next call. REQUIRES: no engine drives
    // this runner meanwhile. kInvalidArgument for no tokens, pos < 0 or pos + n beyond the cache.
    Result<std::span<const float>> run_sequence(std::span<const int32_t> tokens, int32_t pos, model::LogitsMode mode);
    model::cuda::CudaModel& model() { return model_; }

private:
    CudaRunner(model::cuda::CudaModel& model, const CudaRunnerConfig& config, const kvcache::KvCacheLayout& layout)
        : model_(model), config_(config), layout_(layout) {}

    std::unique_ptr<model::cuda::CudaModel> owned_;
    model::cuda::CudaModel& model_;
    CudaRunnerConfig config_;
    kvcache::KvCacheLayout layout_;
    gannet::cuda::DeviceBuffer kv_;
    std::vector<model::BatchSeq> batch_;
    std::vector<kvcache::BlockId> sequence_table_;   // 0, 1, ..., n_blocks - 1: run_sequence's blocks
    std::vector<kvcache::BlockId> reference_table_;  // run_reference's table: seq's, scratch at its last block
    kvcache::BlockId reference_block_ = -1;          // the block commit_reference() overwrites; -1: none pending
    kvcache::BlockId scratch_block() const { return config_.n_blocks; }
};

}  // namespace gannet::runner
