// AVX-512 VL + VNNI build of the fused int8 kernels (matmul_kquants_fused_dots.h, read its header
// comment): 256-bit registers as in the AVX2 build (Zen 4 runs 512-bit integer ops as two halves,
// and the K-quant sub-block structure is 256 bits wide); VNNI removes one instruction from every
// u8 x s8 dot and every scale multiply-add. Results are bit-identical to the AVX2 build.
#define GANNET_FUSED_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#define GANNET_FUSED_VNNI 1
#define GANNET_UNROLL _Pragma("GCC unroll 8")
#include "kernels/matmul_kquants_fused_dots.h"

namespace gannet::kernels::detail {

void matmul_rows_kquant_avx512(const MatmulArgs& a, const QuantizedXK& q, int64_t row_begin, int64_t row_end) {
    fused_rows(a, q, row_begin, row_end);
}

}  // namespace gannet::kernels::detail
