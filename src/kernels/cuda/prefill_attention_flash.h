// Internal to prefill_attention: the tensor-core flash kernel's launcher, in its own .cu so the
// reference kernel stays small. Owner: CUDA backend. Thread-safety: pure.
#pragma once

#include <cuda_runtime_api.h>

#include "base/status.h"
#include "kernels/cuda/prefill_attention.h"

namespace gannet::kernels::cuda::detail {

// REQUIRES: args validated by prefill_attention() and prefill_attention_flash_supported(a).
Status prefill_attention_flash(const PrefillAttentionArgs& a, cudaStream_t stream);

// Dynamic shared memory of the flash kernel for this head dim; 0 for an unsupported one.
size_t prefill_attention_flash_smem_bytes(int64_t head_dim);

}  // namespace gannet::kernels::cuda::detail
