#include "model/kv_cache.h"

#include <new>

#include "base/check.h"
#include "tensor/kv_quant.h"

namespace gannet::model {

Result<KvCache> KvCache::create(int64_t n_layers, int64_t n_ctx, int64_t k_dim, int64_t v_dim, tensor::DType dtype) {
    if (n_layers <= 0 || n_ctx <= 0 || k_dim <= 0 || v_dim <= 0) {
        return make_error(ErrorCode::kInvalidArgument, "kv cache: sizes must be > 0 (layers %lld, ctx %lld)",
                          static_cast<long long>(n_layers), static_cast<long long>(n_ctx));
    }
    KvCache c;
    c.n_layers_ = n_layers;
    c.n_ctx_ = n_ctx;
    c.k_dim_ = k_dim;
    c.v_dim_ = v_dim;
    c.dtype_ = dtype;
    GANNET_ASSIGN_OR_RETURN(c.k_row_bytes_, tensor::kv_row_size_bytes(dtype, k_dim));
    GANNET_ASSIGN_OR_RETURN(c.v_row_bytes_, tensor::kv_row_size_bytes(dtype, v_dim));
    const size_t rows = static_cast<size_t>(n_layers * n_ctx);
    // std::vector reports exhaustion by throwing; errors are values here, so convert at the boundary.
    try {
        c.k_.resize(rows * c.k_row_bytes_);
        c.v_.resize(rows * c.v_row_bytes_);
    } catch (const std::bad_alloc&) {
        return make_error(ErrorCode::kResourceExhausted, "kv cache: cannot allocate %.1f MiB for %lld positions",
                          static_cast<double>(rows * (c.k_row_bytes_ + c.v_row_bytes_)) / (1 << 20),
                          static_cast<long long>(n_ctx));
    }
    return c;
}

void KvCache::set_n_pos(int64_t n) {
    GANNET_CHECK(n >= 0 && n <= n_ctx_);
    n_pos_ = n;
}

}  // namespace gannet::model
