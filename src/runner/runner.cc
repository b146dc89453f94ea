#include "runner/runner.h"

namespace gannet::runner {

Result<kvcache::KvDType> kv_dtype_of(tensor::DType kv_type) {
    switch (kv_type) {
        case tensor::DType::kF32: return kvcache::KvDType::kF32;
        case tensor::DType::kF16: return kvcache::KvDType::kF16;
        case tensor::DType::kQ8_0: return kvcache::KvDType::kQ8_0;
        case tensor::DType::kQ4_0: return kvcache::KvDType::kQ4_0;
        default: break;
    }
    return make_error(ErrorCode::kInvalidArgument, "runner: %s is not a kv cache type (f32, f16, q8_0, q4_0)",
                      tensor::dtype_name(kv_type));
}

Result<kvcache::KvCacheLayout> paged_layout(const model::Model& model, const RunnerConfig& config) {
    const model::ModelConfig& c = model.config();
    GANNET_ASSIGN_OR_RETURN(kvcache::KvDType dtype, kv_dtype_of(config.kv_type));
    kvcache::KvCacheLayout layout{.n_blocks = config.n_blocks,
                                  .n_layers = static_cast<int32_t>(c.n_layers),
                                  .n_kv_heads = static_cast<int32_t>(c.n_kv_heads),
                                  .head_dim = static_cast<int32_t>(c.head_dim_k),
                                  .block_size = config.block_size,
                                  .dtype = dtype,
                                  .key_summary = kvcache::KeySummaryKind::kMinMax,
                                  .index_dim = c.sparse.has_index ? static_cast<int32_t>(c.sparse.index_dim) : 0};
    GANNET_RETURN_IF_ERROR(layout.validate());
    return layout;
}

Result<std::unique_ptr<Runner>> Runner::create(model::Model& model, const RunnerConfig& config) {
    if (config.n_threads < 1) {
        return make_error(ErrorCode::kInvalidArgument, "runner: n_threads must be >= 1, got %d", config.n_threads);
    }
    GANNET_ASSIGN_OR_RETURN(kvcache::KvCacheLayout layout, paged_layout(model, config));
    layout.n_blocks += 1;  // the scratch block of run_reference(), never scheduled
    GANNET_ASSIGN_OR_RETURN(kvcache::KvStorage kv, kvcache::KvStorage::create(layout));
    return std::unique_ptr<Runner>(new Runner(model, config, std::move(kv)));
}

Result<std::span<const float>> Runner::run(const sched::SchedulerOutput& out) {
    reference_block_ = -1;
    kv_.copy_blocks(out.block_copies);
    if (out.seqs.empty()) {
        return std::span<const float>();
    }
    batch_.clear();
    for (const sched::ScheduledSeq& s : out.seqs) {
        batch_.push_back(model::BatchSeq{.tokens = s.tokens,
                                         .pos = s.pos,
                                         .block_table = s.block_table,
                                         .is_logits_needed = s.is_logits_needed,
                                         .sparse = static_cast<model::SparseMode>(s.attention_mode)});
        if (!soft_.empty()) {
            if (auto it = soft_.find(s.seq_id); it != soft_.end()) {
                batch_.back().soft = it->second->view();
            }
        }
    }
    return model_.forward_batch(batch_, kv_, pool_);
}

void Runner::set_soft_tokens(sched::SeqId id, std::shared_ptr<const model::SoftTokens> soft) {
    soft_[id] = std::move(soft);
}

Result<std::span<const float>> Runner::run_sequence(std::span<const int32_t> tokens, int32_t pos,
                                                    model::LogitsMode mode, model::OutputKind output,
                                                    model::SoftTokenRows soft) {
    const int64_t end = static_cast<int64_t>(pos) + static_cast<int64_t>(tokens.size());
    const int64_t capacity = static_cast<int64_t>(config_.n_blocks) * config_.block_size;
    if (tokens.empty() || pos < 0 || end > capacity) {
        return make_error(ErrorCode::kInvalidArgument,
                          "runner: %zu tokens at position %d do not fit the cache of %lld positions (%d blocks of %d)",
                          tokens.size(), pos, static_cast<long long>(capacity), config_.n_blocks, config_.block_size);
    }
    const model::BatchSeq seq{.tokens = tokens,
                              .pos = pos,
                              .block_table = sequence_table_,
                              .is_logits_needed = true,
                              .is_all_logits_needed = mode == model::LogitsMode::kAll,
                              .output = output,
                              .soft = soft};
    return model_.forward_batch(std::span<const model::BatchSeq>(&seq, 1), kv_, pool_);
}

Result<std::span<const float>> Runner::run_reference(const sched::ScheduledSeq& seq) {
    reference_block_ = -1;
    GANNET_ASSIGN_OR_RETURN(const ReferenceStep step,
                            plan_reference(seq, config_.block_size, scratch_block(), reference_table_));
    // The scratch block starts as a copy of the block holding pos: the reference reads the positions
    // before pos in it exactly as run() left them, and only its own K/V at pos differ.
    const kvcache::BlockCopy to_scratch{.src = step.block, .dst = scratch_block()};
    kv_.copy_blocks(std::span<const kvcache::BlockCopy>(&to_scratch, 1));
    const model::BatchSeq one{.tokens = seq.tokens.subspan(seq.tokens.size() - 1),
                              .pos = step.pos,
                              .block_table = reference_table_,
                              .is_logits_needed = true};
    GANNET_ASSIGN_OR_RETURN(std::span<const float> logits,
                            model_.forward_batch(std::span<const model::BatchSeq>(&one, 1), kv_, pool_));
    reference_block_ = step.block;
    return logits;
}

Status Runner::commit_reference() {
    if (reference_block_ < 0) {
        return make_error(ErrorCode::kInvalidArgument, "runner: commit_reference without a pending run_reference");
    }
    const kvcache::BlockCopy back{.src = scratch_block(), .dst = reference_block_};
    kv_.copy_blocks(std::span<const kvcache::BlockCopy>(&back, 1));
    reference_block_ = -1;
    return Status();
}

}  // namespace gannet::runner
