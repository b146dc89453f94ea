// KvCache: a contiguous float32 key/value cache for one sequence, [n_layers][n_ctx][k_dim or
// v_dim]. Position p of a layer is row p, so attention reads it as (base pointer, stride). The
// serving path will replace this with the paged cache of src/kvcache. Owner: model.
// Thread-safety: not thread-safe; one sequence, one caller.
#pragma once

#include <cstdint>
#include <vector>

#include "base/result.h"

namespace gannet::model {

class KvCache {
public:
    // kInvalidArgument for non-positive sizes; kResourceExhausted when the memory is not available.
    static Result<KvCache> create(int64_t n_layers, int64_t n_ctx, int64_t k_dim, int64_t v_dim);

    KvCache(KvCache&&) noexcept = default;
    KvCache& operator=(KvCache&&) noexcept = default;
    KvCache(const KvCache&) = delete;
    KvCache& operator=(const KvCache&) = delete;

    float* k(int64_t layer) { return k_.data() + layer * n_ctx_ * k_dim_; }  // [n_ctx, k_dim]
    float* v(int64_t layer) { return v_.data() + layer * n_ctx_ * v_dim_; }  // [n_ctx, v_dim]
    int64_t n_ctx() const { return n_ctx_; }
    int64_t k_dim() const { return k_dim_; }
    int64_t v_dim() const { return v_dim_; }
    int64_t n_layers() const { return n_layers_; }
    // Positions [0, n_pos) hold valid entries. The forward pass advances it; set_n_pos rewinds
    // (to reuse a common prefix or start over). REQUIRES: 0 <= n <= n_ctx.
    int64_t n_pos() const { return n_pos_; }
    void set_n_pos(int64_t n);
    size_t size_bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

private:
    KvCache() = default;

    int64_t n_layers_ = 0;
    int64_t n_ctx_ = 0;
    int64_t k_dim_ = 0;
    int64_t v_dim_ = 0;
    int64_t n_pos_ = 0;
    std::vector<float> k_;
    std::vector<float> v_;
};

}  // namespace gannet::model
