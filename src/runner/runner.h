// Runner: executes one scheduler step on the CPU. Owns the paged KV memory (KvStorage, f32), applies
// the step's block copies, and runs Model::forward_batch over every scheduled sequence at once.
// Sampling stays with the engine (each sequence has its own sampler and seed).
// Not thread-safe: owned by the engine loop.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "kvcache/kv_storage.h"
#include "model/model.h"
#include "sched/scheduler.h"

namespace gannet::runner {

struct RunnerConfig {
    int32_t n_blocks = 256;
    int32_t block_size = 16;
    int n_threads = 1;
};

class Runner {
public:
    // kInvalidArgument for bad sizes; kResourceExhausted when the KV memory cannot be allocated.
    static Result<std::unique_ptr<Runner>> create(model::Model& model, const RunnerConfig& config);

    // Runs the step: block copies, then the forward. Returns logits [n_rows, n_vocab], one row per
    // is_logits_needed entry of out.seqs, in that order (empty when none). Valid until the next run().
    Result<std::span<const float>> run(const sched::SchedulerOutput& out);

    kvcache::KvStorage& storage() { return kv_; }
    const RunnerConfig& config() const { return config_; }
    int64_t n_vocab() const { return model_.config().n_vocab; }

private:
    Runner(model::Model& model, const RunnerConfig& config, kvcache::KvStorage kv)
        : model_(model), config_(config), kv_(std::move(kv)), pool_(config.n_threads) {}

    model::Model& model_;
    RunnerConfig config_;
    kvcache::KvStorage kv_;
    ThreadPool pool_;
    std::vector<model::BatchSeq> batch_;
};

}  // namespace gannet::runner
