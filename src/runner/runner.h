// Runner: executes one scheduler step on the CPU. Owns the paged KV memory (KvStorage, of
// RunnerConfig::kv_type: f32 by default, or f16/q8_0/q4_0 rows), applies
// the step's block copies, and runs Model::forward_batch over every scheduled sequence at once.
// Sampling stays with the engine (each sequence has its own sampler and seed). run_sequence() is the
// same forward for one sequence outside the scheduler, with logits of every position: what
// `gannet logits`, `gannet perplexity`, calibration and the model tests use. run_reference() is
// MarginGate's verifier: the same forward for one token alone, its K/V written into a scratch
// block (one more than config.n_blocks) that commit_reference() copies over the sequence's block.
// Not thread-safe: owned by the engine loop.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "kvcache/kv_storage.h"
#include "model/model.h"
#include "runner/step_runner.h"
#include "sched/scheduler.h"

namespace gannet::runner {

struct RunnerConfig {
    int32_t n_blocks = 256;
    int32_t block_size = 16;
    int n_threads = 1;
    tensor::DType kv_type = tensor::DType::kF32;  // f32, f16, q8_0 or q4_0 (tensor::kv_type_from_name)
};

// The paged-cache type of a KV cache type. kInvalidArgument naming the accepted types otherwise.
Result<kvcache::KvDType> kv_dtype_of(tensor::DType kv_type);

// The paged layout a Runner makes for model with config (its n_blocks, block_size and kv_type).
// kInvalidArgument as Runner::create: an unknown type, or a head size that is not a multiple of 32
// with q8_0/q4_0.
Result<kvcache::KvCacheLayout> paged_layout(const model::Model& model, const RunnerConfig& config);

class Runner final : public StepRunner {
public:
    // kInvalidArgument for bad sizes or a kv_type the model's head size cannot take; kResourceExhausted
    // when the KV memory cannot be allocated.
    static Result<std::unique_ptr<Runner>> create(model::Model& model, const RunnerConfig& config);

    // Runs the step: block copies, then the forward. Returns logits [n_rows, n_vocab], one row per
    // is_logits_needed entry of out.seqs, in that order (empty when none). Valid until the next run().
    Result<std::span<const float>> run(const sched::SchedulerOutput& out) override;

    // One sequence outside the scheduler: tokens at positions [pos, pos + n) over blocks 0, 1, ... of
    // this runner's cache, in order (positions before pos must have been computed by earlier calls).
    // Returns the last token's logits [n_vocab] (kLast) or every token's [n, n_vocab] (kAll), valid
    // until the next call; with OutputKind::kHidden, the final-normed hidden states instead ([n_embd]
    // or [n, n_embd]). REQUIRES: no engine drives this runner meanwhile (it would own the blocks).
    // Errors: kInvalidArgument for no tokens, pos < 0 or pos + n beyond the cache (the message gives
    // the sizes); those of Model::forward_batch. soft: multimodal soft-token rows (BatchSeq::soft).
    Result<std::span<const float>> run_sequence(std::span<const int32_t> tokens, int32_t pos, model::LogitsMode mode,
                                                model::OutputKind output = model::OutputKind::kLogits,
                                                model::SoftTokenRows soft = {});

    // Multimodal soft tokens of a scheduled sequence, applied to its chunks by run() until forgotten
    // (the engine forgets a sequence when it leaves). Only this CPU runner has them: the engine
    // refuses media requests over another StepRunner.
    void set_soft_tokens(sched::SeqId id, std::shared_ptr<const model::SoftTokens> soft);
    void forget_soft_tokens(sched::SeqId id) { soft_.erase(id); }
    void forget_all_soft_tokens() { soft_.clear(); }

    kvcache::KvStorage& storage() { return kv_; }
    const RunnerConfig& config() const { return config_; }
    int64_t n_vocab() const override { return model_.config().n_vocab; }

    // Every row of forward_batch is computed independently of the batch (model.h).
    bool is_batch_invariant() const override { return true; }
    Status check_reference_path() const override { return Status(); }
    // StepRunner's contract. The reference is forward_batch over one token at seq's last position, with
    // seq's block table except that the block holding that position is replaced by the scratch block,
    // after copying it there (earlier positions of the block read the same K/V). Errors:
    // kInvalidArgument for a seq without tokens; those of Model::forward_batch.
    Result<std::span<const float>> run_reference(const sched::ScheduledSeq& seq) override;
    // Copies the scratch block over the block run_reference() replaced (K, V and key summary).
    // kInvalidArgument when no run_reference() is pending.
    Status commit_reference() override;
    // The scratch block id (= config.n_blocks): the scheduler never hands it out.
    kvcache::BlockId scratch_block() const { return config_.n_blocks; }

private:
    Runner(model::Model& model, const RunnerConfig& config, kvcache::KvStorage kv)
        : model_(model), config_(config), kv_(std::move(kv)), pool_(config.n_threads) {
        for (kvcache::BlockId b = 0; b < config.n_blocks; ++b) {
            sequence_table_.push_back(b);
        }
    }

    model::Model& model_;
    RunnerConfig config_;
    kvcache::KvStorage kv_;
    ThreadPool pool_;
    std::vector<model::BatchSeq> batch_;
    std::vector<kvcache::BlockId> sequence_table_;   // 0, 1, ..., n_blocks - 1: run_sequence's blocks
    std::vector<kvcache::BlockId> reference_table_;  // run_reference's table: seq's, scratch at its last block
    kvcache::BlockId reference_block_ = -1;          // the block commit_reference() overwrites; -1: none pending
    std::unordered_map<sched::SeqId, std::shared_ptr<const model::SoftTokens>> soft_;
};

}  // namespace gannet::runner
