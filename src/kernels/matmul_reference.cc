// The portable reference matmul: dequantize a weight row with tensor::dequantize_row, then one
// float dot per token in index order. Slow by design (no SIMD, no threads); it is the ground truth
// the SIMD kernels are tested against and the fallback for dtypes without a SIMD kernel.
#include <vector>

#include "base/result.h"
#include "kernels/matmul.h"
#include "kernels/matmul_internal.h"
#include "tensor/quant.h"

namespace gannet::kernels {
namespace detail {

Status validate(const MatmulArgs& a) {
    if (a.n_in <= 0 || a.n_out <= 0 || a.n_tokens < 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "matmul: bad shape: n_in=%lld n_out=%lld n_tokens=%lld (want n_in>0, n_out>0, n_tokens>=0)",
                          static_cast<long long>(a.n_in), static_cast<long long>(a.n_out),
                          static_cast<long long>(a.n_tokens));
    }
    // A value outside the enum would trip the CHECKs inside tensor/, so it is screened first.
    if (!tensor::dtype_from_ggml(static_cast<uint32_t>(a.w_dtype)).has_value()) {
        return make_error(ErrorCode::kUnimplemented, "matmul: unknown weight dtype %u",
                          static_cast<unsigned>(a.w_dtype));
    }
    const int64_t block = tensor::block_size(a.w_dtype);
    if (block <= 0 || tensor::type_size_bytes(a.w_dtype) == 0) {
        return make_error(ErrorCode::kUnimplemented, "matmul: no kernel for weight dtype %s (%u)",
                          tensor::dtype_name(a.w_dtype), static_cast<unsigned>(a.w_dtype));
    }
    if (a.n_in % block != 0) {
        return make_error(ErrorCode::kInvalidArgument, "matmul: n_in=%lld is not a multiple of %s's block size %lld",
                          static_cast<long long>(a.n_in), tensor::dtype_name(a.w_dtype), static_cast<long long>(block));
    }
    if (a.n_tokens > 0 && (a.w == nullptr || a.x == nullptr || a.y == nullptr)) {
        return make_error(ErrorCode::kInvalidArgument, "matmul: null pointer: w=%p x=%p y=%p", a.w,
                          static_cast<const void*>(a.x), static_cast<const void*>(a.y));
    }
    return Status();
}

Status reference_rows(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
    const size_t row_bytes = tensor::row_size_bytes(a.w_dtype, a.n_in);
    std::vector<float> w_row(static_cast<size_t>(a.n_in));
    for (int64_t r = row_begin; r < row_end; ++r) {
        const auto* src = static_cast<const uint8_t*>(a.w) + static_cast<size_t>(r) * row_bytes;
        GANNET_RETURN_IF_ERROR(tensor::dequantize_row(a.w_dtype, src, w_row.data(), a.n_in));
        for (int64_t t = 0; t < a.n_tokens; ++t) {
            const float* x = a.x + t * a.n_in;
            float sum = 0.0f;
            for (int64_t i = 0; i < a.n_in; ++i) {
                sum += w_row[static_cast<size_t>(i)] * x[i];
            }
            a.y[t * a.n_out + r] = sum;
        }
    }
    return Status();
}

}  // namespace detail

Status matmul_reference(const MatmulArgs& a) {
    GANNET_RETURN_IF_ERROR(detail::validate(a));
    if (a.n_tokens == 0) {
        return Status();
    }
    return detail::reference_rows(a, 0, a.n_out);
}

}  // namespace gannet::kernels
