#include "runner/cuda/cuda_runner.h"

#include "base/cuda/cuda_status.h"

namespace gannet::runner {

using gannet::cuda::cuda_status;

Result<std::unique_ptr<CudaRunner>> CudaRunner::create(model::cuda::CudaModel& model, const CudaRunnerConfig& config) {
    const model::ModelConfig& c = model.config();
    if (c.head_dim_k != c.head_dim_v) {
        return make_error(ErrorCode::kInvalidArgument, "cuda runner: K heads of %lld and V heads of %lld differ",
                          static_cast<long long>(c.head_dim_k), static_cast<long long>(c.head_dim_v));
    }
    // One block more than the scheduler's: run_reference()'s scratch block (MarginGate).
    const kvcache::KvCacheLayout layout{.n_blocks = config.n_blocks + 1,
                                        .n_layers = static_cast<int32_t>(c.n_layers),
                                        .n_kv_heads = static_cast<int32_t>(c.n_kv_heads),
                                        .head_dim = static_cast<int32_t>(c.head_dim_k),
                                        .block_size = config.block_size,
                                        .dtype = config.kv_dtype,
                                        .key_summary = kvcache::KeySummaryKind::kNone};
    GANNET_RETURN_IF_ERROR(layout.validate());
    if (layout.dtype != kvcache::KvDType::kF32 && layout.dtype != kvcache::KvDType::kF16
        && layout.dtype != kvcache::KvDType::kBF16) {
        return make_error(ErrorCode::kUnimplemented, "cuda runner: KV cache type %s (expected f32, f16 or bf16)",
                          kvcache::kv_dtype_name(layout.dtype));
    }
    std::unique_ptr<CudaRunner> r(new CudaRunner(model, config, layout));
    // One block more than the layout: the spare block of the graphs' padding rows.
    const size_t bytes = layout.total_bytes() + layout.block_bytes();
    GANNET_ASSIGN_OR_RETURN(r->kv_, gannet::cuda::DeviceBuffer::allocate(bytes));
    // Zeroed so a slot read before it is written shows as a wrong number, never as NaN.
    GANNET_RETURN_IF_ERROR(cuda_status(cudaMemset(r->kv_.data(), 0, bytes), "memset kv cache"));
    for (kvcache::BlockId b = 0; b < config.n_blocks; ++b) {
        r->sequence_table_.push_back(b);
    }
    // The model's stream may not synchronize with the legacy default stream the memset ran on.
    GANNET_RETURN_IF_ERROR(cuda_status(cudaDeviceSynchronize(), "sync after memset"));
    return r;
}

Result<std::unique_ptr<CudaRunner>> CudaRunner::create(std::unique_ptr<model::cuda::CudaModel> model,
                                                       const CudaRunnerConfig& config) {
    if (model == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "cuda runner: no model");
    }
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<CudaRunner> r, create(*model, config));
    r->owned_ = std::move(model);
    return r;
}

Result<std::span<const float>> CudaRunner::run(const sched::SchedulerOutput& out) {
    // The layout holds one block more (the reference scratch): the scheduler's ids stop before it.
    for (const kvcache::BlockCopy& c : out.block_copies) {
        if (c.src < 0 || c.src >= config_.n_blocks || c.dst < 0 || c.dst >= config_.n_blocks) {
            return make_error(ErrorCode::kInvalidArgument, "cuda runner: block copy %d -> %d outside [0, %d)", c.src,
                              c.dst, config_.n_blocks);
        }
    }
    for (const sched::ScheduledSeq& s : out.seqs) {
        for (kvcache::BlockId b : s.block_table) {
            if (b < 0 || b >= config_.n_blocks) {
                return make_error(ErrorCode::kInvalidArgument, "cuda runner: block id %d outside [0, %d)", b,
                                  config_.n_blocks);
            }
        }
    }
    GANNET_RETURN_IF_ERROR(model_.copy_kv_blocks(out.block_copies, kv_.data(), layout_));
    if (out.seqs.empty()) {
        GANNET_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(model_.stream()), "sync after block copies"));
        return std::span<const float>();
    }
    batch_.clear();
    for (const sched::ScheduledSeq& s : out.seqs) {
        batch_.push_back(model::BatchSeq{
            .tokens = s.tokens, .pos = s.pos, .block_table = s.block_table, .is_logits_needed = s.is_logits_needed});
    }
    return model_.forward_batch(batch_, {.kv = kv_.data(), .layout = layout_, .spare_block = layout_.n_blocks},
                                config_.is_deterministic);
}

Result<std::span<const float>> CudaRunner::run_sequence(std::span<const int32_t> tokens, int32_t pos,
                                                        model::LogitsMode mode) {
    const int64_t capacity = static_cast<int64_t>(config_.n_blocks) * layout_.block_size;
    if (tokens.empty() || pos < 0 || pos + static_cast<int64_t>(tokens.size()) > capacity) {
        return make_error(ErrorCode::kInvalidArgument,
                          "cuda runner: %zu tokens at position %d do not fit a cache of %lld positions (need >= 1 "
                          "token, pos >= 0)",
                          tokens.size(), pos, static_cast<long long>(capacity));
    }
    const int64_t end = pos + static_cast<int64_t>(tokens.size());
    const size_t n_blocks = static_cast<size_t>((end + layout_.block_size - 1) / layout_.block_size);
    const model::BatchSeq seq{.tokens = tokens,
                              .pos = pos,
                              .block_table = std::span<const kvcache::BlockId>(sequence_table_).first(n_blocks),
                              .is_logits_needed = true,
                              .is_all_logits_needed = mode == model::LogitsMode::kAll};
    return model_.forward_batch(std::span<const model::BatchSeq>(&seq, 1),
                                {.kv = kv_.data(), .layout = layout_, .spare_block = layout_.n_blocks},
                                config_.is_deterministic);
}

Result<std::span<const float>> CudaRunner::run_reference(const sched::ScheduledSeq& seq) {
    reference_block_ = -1;
    GANNET_ASSIGN_OR_RETURN(const ReferenceStep step,
                            plan_reference(seq, layout_.block_size, scratch_block(), reference_table_));
    // The scratch block starts as a copy of the block holding pos: the reference reads the positions
    // before pos in it exactly as run() left them, and only its own K/V at pos differ.
    const kvcache::BlockCopy to_scratch{.src = step.block, .dst = scratch_block()};
    GANNET_RETURN_IF_ERROR(
        model_.copy_kv_blocks(std::span<const kvcache::BlockCopy>(&to_scratch, 1), kv_.data(), layout_));
    const model::BatchSeq one{.tokens = seq.tokens.subspan(seq.tokens.size() - 1),
                              .pos = step.pos,
                              .block_table = reference_table_,
                              .is_logits_needed = true};
    GANNET_ASSIGN_OR_RETURN(std::span<const float> logits,
                            model_.forward_batch(std::span<const model::BatchSeq>(&one, 1),
                                                 {.kv = kv_.data(), .layout = layout_, .spare_block = layout_.n_blocks},
                                                 /*is_deterministic=*/true));
    reference_block_ = step.block;
    return logits;
}

Status CudaRunner::commit_reference() {
    if (reference_block_ < 0) {
        return make_error(ErrorCode::kInvalidArgument, "cuda runner: commit_reference without a pending run_reference");
    }
    const kvcache::BlockCopy back{.src = scratch_block(), .dst = reference_block_};
    reference_block_ = -1;
    return model_.copy_kv_blocks(std::span<const kvcache::BlockCopy>(&back, 1), kv_.data(), layout_);
}

Result<std::vector<std::byte>> CudaRunner::download_kv() {
    GANNET_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(model_.stream()), "sync before kv download"));
    std::vector<std::byte> host(layout_.total_bytes());
    GANNET_RETURN_IF_ERROR(
        cuda_status(cudaMemcpy(host.data(), kv_.data(), host.size(), cudaMemcpyDeviceToHost), "download kv"));
    return host;
}

}  // namespace gannet::runner
