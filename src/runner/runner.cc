#include "runner/runner.h"

namespace gannet::runner {

Result<std::unique_ptr<Runner>> Runner::create(model::Model& model, const RunnerConfig& config) {
    if (config.n_threads < 1) {
        return make_error(ErrorCode::kInvalidArgument, "runner: n_threads must be >= 1, got %d", config.n_threads);
    }
    const model::ModelConfig& c = model.config();
    kvcache::KvCacheLayout layout{.n_blocks = config.n_blocks,
                                  .n_layers = static_cast<int32_t>(c.n_layers),
                                  .n_kv_heads = static_cast<int32_t>(c.n_kv_heads),
                                  .head_dim = static_cast<int32_t>(c.head_dim_k),
                                  .block_size = config.block_size,
                                  .dtype = kvcache::KvDType::kF32,
                                  .key_summary = kvcache::KeySummaryKind::kMinMax};
    GANNET_ASSIGN_OR_RETURN(kvcache::KvStorage kv, kvcache::KvStorage::create(layout));
    return std::unique_ptr<Runner>(new Runner(model, config, std::move(kv)));
}

Result<std::span<const float>> Runner::run(const sched::SchedulerOutput& out) {
    kv_.copy_blocks(out.block_copies);
    if (out.seqs.empty()) {
        return std::span<const float>();
    }
    batch_.clear();
    for (const sched::ScheduledSeq& s : out.seqs) {
        batch_.push_back(model::BatchSeq{.tokens = s.tokens,
                                         .pos = s.pos,
                                         .block_table = s.block_table,
                                         .is_logits_needed = s.is_logits_needed});
    }
    return model_.forward_batch(batch_, kv_, pool_);
}

}  // namespace gannet::runner
