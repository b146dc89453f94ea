#include "kernels/cuda/weight_layout.h"

#include <cstring>

#include "base/result.h"

namespace gannet::kernels::cuda {

bool can_split_layout(tensor::DType dtype) {
    return dtype == tensor::DType::kQ4_0;
}

Status repack_q4_0_split(const void* src, void* dst, int64_t n_out, int64_t n_in) {
    if (src == nullptr || dst == nullptr || n_out <= 0 || n_in <= 0 || n_in % 32 != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "repack_q4_0_split: n_out=%lld n_in=%lld (need > 0, n_in %% 32 == 0) or null pointer",
                          static_cast<long long>(n_out), static_cast<long long>(n_in));
    }
    // GGUF block: f16 d at byte 0, qs[16] at bytes 2..17.
    constexpr size_t kBlockBytes = 18;
    const size_t n_blocks = static_cast<size_t>(n_out) * static_cast<size_t>(n_in / 32);
    const auto* s = static_cast<const uint8_t*>(src);
    auto* qs = static_cast<uint8_t*>(dst);
    uint8_t* scales = qs + n_blocks * 16;
    for (size_t i = 0; i < n_blocks; ++i) {
        std::memcpy(scales + 2 * i, s + i * kBlockBytes, 2);
        std::memcpy(qs + 16 * i, s + i * kBlockBytes + 2, 16);
    }
    return Status();
}

}  // namespace gannet::kernels::cuda
