// KvCache: a contiguous key/value cache for one sequence, [n_layers][n_ctx][k row or v row]. A row
// holds one position's k_dim (v_dim) values in the cache type: f32 (the default: rows are plain
// floats that attention reads in place as (base pointer, stride)), f16, q8_0 or q4_0 (GGUF block
// layout, 34 / 18 bytes per 32 values; Model::forward dequantizes a layer's rows before attention).
// The serving path uses the paged cache of src/kvcache instead. Owner: model.
// Thread-safety: not thread-safe; one sequence, one caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/result.h"
#include "tensor/dtype.h"

namespace gannet::model {

class KvCache {
public:
    // kInvalidArgument for non-positive sizes, a dtype that is not a cache type (tensor::is_kv_type)
    // or a k_dim/v_dim that is not a whole number of its blocks; kResourceExhausted when the memory
    // is not available.
    static Result<KvCache> create(int64_t n_layers, int64_t n_ctx, int64_t k_dim, int64_t v_dim,
                                  tensor::DType dtype = tensor::DType::kF32);

    KvCache(KvCache&&) noexcept = default;
    KvCache& operator=(KvCache&&) noexcept = default;
    KvCache(const KvCache&) = delete;
    KvCache& operator=(const KvCache&) = delete;

    // Float views of an f32 cache. REQUIRES: dtype() == kF32.
    float* k(int64_t layer) { return reinterpret_cast<float*>(k_bytes(layer)); }  // [n_ctx, k_dim]
    float* v(int64_t layer) { return reinterpret_cast<float*>(v_bytes(layer)); }  // [n_ctx, v_dim]
    // Rows of any type: position p of the layer starts k_row_bytes() * p bytes in.
    std::byte* k_bytes(int64_t layer) { return k_.data() + static_cast<size_t>(layer * n_ctx_) * k_row_bytes_; }
    std::byte* v_bytes(int64_t layer) { return v_.data() + static_cast<size_t>(layer * n_ctx_) * v_row_bytes_; }
    size_t k_row_bytes() const { return k_row_bytes_; }
    size_t v_row_bytes() const { return v_row_bytes_; }
    tensor::DType dtype() const { return dtype_; }
    int64_t n_ctx() const { return n_ctx_; }
    int64_t k_dim() const { return k_dim_; }
    int64_t v_dim() const { return v_dim_; }
    int64_t n_layers() const { return n_layers_; }
    // Positions [0, n_pos) hold valid entries. The forward pass advances it; set_n_pos rewinds
    // (to reuse a common prefix or start over). REQUIRES: 0 <= n <= n_ctx.
    int64_t n_pos() const { return n_pos_; }
    void set_n_pos(int64_t n);
    size_t size_bytes() const { return k_.size() + v_.size(); }

private:
    KvCache() = default;

    int64_t n_layers_ = 0;
    int64_t n_ctx_ = 0;
    int64_t k_dim_ = 0;
    int64_t v_dim_ = 0;
    int64_t n_pos_ = 0;
    tensor::DType dtype_ = tensor::DType::kF32;
    size_t k_row_bytes_ = 0;
    size_t v_row_bytes_ = 0;
    // Raw rows; f32 rows are read as floats, so keep float alignment (vector<byte> gives new's).
    std::vector<std::byte> k_;
    std::vector<std::byte> v_;
};

}  // namespace gannet::model
