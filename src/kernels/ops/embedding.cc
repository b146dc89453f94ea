#include "kernels/ops/embedding.h"

#include "base/result.h"
#include "tensor/quant.h"

namespace gannet::kernels {

Status embedding(const EmbeddingArgs& a) {
    const size_t row_bytes = tensor::row_size_bytes(a.dtype, a.dim);
    const auto* base = static_cast<const uint8_t*>(a.table);
    for (int64_t t = 0; t < a.n_tokens; ++t) {
        const int32_t id = a.tokens[t];
        if (id < 0 || id >= a.n_vocab) {
            return make_error(ErrorCode::kInvalidArgument, "embedding: token id %d out of range [0, %lld)", id,
                              static_cast<long long>(a.n_vocab));
        }
        GANNET_RETURN_IF_ERROR(
            tensor::dequantize_row(a.dtype, base + static_cast<size_t>(id) * row_bytes, a.out + t * a.dim, a.dim));
    }
    return Status();
}

}  // namespace gannet::kernels
