// Building blocks for a quantized KV cache: one cached key or value row (the head_dim (or
// n_kv_heads * head_dim) floats written per token) to and from F16, Q8_0 or Q4_0. `--kv-type`
// parses with kv_type_from_name; the paged KvStorage stores rows with tensor::quantize_row /
// dequantize_row.
// Owner: quantize helper. Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "base/result.h"
#include "tensor/dtype.h"

namespace gannet::tensor {

// F32, F16, Q8_0 and Q4_0: the cache types worth offering (Q8_0 halves F16's bytes at ~0.3%
// relative error; Q4_0 quarters them at ~7%, see kv_quant_test.cc).
bool is_kv_type(DType dtype);
// "f16", "q8_0", "q4_0" (case-insensitive) -> dtype; kInvalidArgument naming the accepted types.
Result<DType> kv_type_from_name(std::string_view name);

// Bytes one row of n elements takes. kInvalidArgument when dtype is not a KV type or n is not a
// whole number of its blocks (head dims are multiples of 32 in every supported model).
Result<size_t> kv_row_size_bytes(DType dtype, int64_t n);
// dst gets kv_row_size_bytes(dtype, n) bytes. Errors as kv_row_size_bytes.
Status quantize_kv_row(DType dtype, const float* src, void* dst, int64_t n);
// dst[0..n) = the row's values. Errors as kv_row_size_bytes.
Status dequantize_kv_row(DType dtype, const void* src, float* dst, int64_t n);

}  // namespace gannet::tensor
