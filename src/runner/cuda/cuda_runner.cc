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
    const kvcache::KvCacheLayout layout{.n_blocks = config.n_blocks,
                                        .n_layers = static_cast<int32_t>(c.n_layers),
                                        .n_kv_heads = static_cast<int32_t>(c.n_kv_heads),
                                        .head_dim = static_cast<int32_t>(c.head_dim_k),
                                        .block_size = config.block_size,
                                        .dtype = kvcache::KvDType::kF32,
                                        .key_summary = kvcache::KeySummaryKind::kNone};
    GANNET_RETURN_IF_ERROR(layout.validate());
    std::unique_ptr<CudaRunner> r(new CudaRunner(model, config, layout));
    GANNET_ASSIGN_OR_RETURN(r->kv_, gannet::cuda::DeviceBuffer::allocate(layout.total_bytes()));
    // Zeroed so a slot read before it is written shows as a wrong number, never as NaN.
    GANNET_RETURN_IF_ERROR(cuda_status(cudaMemset(r->kv_.data(), 0, layout.total_bytes()), "memset kv cache"));
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
    return model_.forward_batch(batch_, kv_.data(), layout_, config_.is_deterministic);
}

Result<std::vector<std::byte>> CudaRunner::download_kv() {
    GANNET_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(model_.stream()), "sync before kv download"));
    std::vector<std::byte> host(layout_.total_bytes());
    GANNET_RETURN_IF_ERROR(
        cuda_status(cudaMemcpy(host.data(), kv_.data(), host.size(), cudaMemcpyDeviceToHost), "download kv"));
    return host;
}

}  // namespace gannet::runner
