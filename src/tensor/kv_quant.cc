#include "tensor/kv_quant.h"

#include "tensor/quant.h"

// Thin checks over quantize_row/dequantize_row: the cache must reject a type or a head size early
// (at startup, from a flag) rather than fail inside the first decode step.

namespace gannet::tensor {
namespace {

Status check_kv(DType dtype, int64_t n) {
    if (!is_kv_type(dtype)) {
        return make_error(ErrorCode::kInvalidArgument, "kv cache: type %s is not a cache type (f32, f16, q8_0, q4_0)",
                          dtype_name(dtype));
    }
    if (n <= 0 || n % block_size(dtype) != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "kv cache: row of %lld elements is not a whole number of %s blocks (%lld)",
                          static_cast<long long>(n), dtype_name(dtype), static_cast<long long>(block_size(dtype)));
    }
    return Status();
}

}  // namespace

bool is_kv_type(DType dtype) {
    return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kQ8_0 || dtype == DType::kQ4_0;
}

Result<DType> kv_type_from_name(std::string_view name) {
    const std::optional<DType> t = dtype_from_name(name);
    if (!t || !is_kv_type(*t)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "kv cache: unknown cache type '%.*s' (expected f32, f16, q8_0 or q4_0)",
                          static_cast<int>(name.size()), name.data());
    }
    return *t;
}

Result<size_t> kv_row_size_bytes(DType dtype, int64_t n) {
    GANNET_RETURN_IF_ERROR(check_kv(dtype, n));
    return row_size_bytes(dtype, n);
}

Status quantize_kv_row(DType dtype, const float* src, void* dst, int64_t n) {
    GANNET_RETURN_IF_ERROR(check_kv(dtype, n));
    return quantize_row(dtype, src, dst, n);
}

Status dequantize_kv_row(DType dtype, const void* src, float* dst, int64_t n) {
    GANNET_RETURN_IF_ERROR(check_kv(dtype, n));
    return dequantize_row(dtype, src, dst, n);
}

}  // namespace gannet::tensor
