// Int8 activations for matvec's dp4a path (matvec.h, "int8 x"), written by matvec itself, by
// quantize_x_int8, and fused into the ops that produce a product's input (rms_norm, glu), so the
// rounding is one function everywhere. Layout of the scratch for n_elems = n_tokens * n_in
// elements (the 32-blocks are consecutive runs of the flat [n_tokens, n_in] array, n_in % 32 == 0):
//   xq int8 [n_elems], padded to 256 bytes; then xd float [n_elems / 32] (one scale per block).
// Owner: CUDA backend. Header-only device code; include from .cu files only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/common.cuh"

namespace gannet::kernels::cuda {

// Bytes of xq before xd starts.
__host__ __device__ inline size_t int8_x_xq_bytes(int64_t n_elems) {
    return (static_cast<size_t>(n_elems) + 255) / 256 * 256;
}

// Called by a whole warp whose lanes hold the 32 elements of block `blk` (lane l: element 32 blk + l):
// d = max|x| / 127, q = rint(x / d) (q = 0 for an all-zero block). A NaN or infinity in the block
// makes its scale NaN, so it reaches y as on the f32 path (fmaxf would drop a NaN, rint turn it into 0).
__device__ __forceinline__ void quantize_block32(float v, int64_t blk, int8_t* __restrict__ xq,
                                                 float* __restrict__ xd) {
    const int lane = threadIdx.x % 32;
    const float amax = warp_max(fabsf(v));
    const bool is_finite = __all_sync(kFullMask, isfinite(v));
    const float d = is_finite ? amax / 127.0f : NAN;
    int q = 0;
    if (d > 0.0f && isfinite(d)) {
        q = __float2int_rn(v / d);
        q = q > 127 ? 127 : (q < -127 ? -127 : q);
    }
    xq[blk * 32 + lane] = static_cast<int8_t>(q);
    if (lane == 0) {
        xd[blk] = d;
    }
}

}  // namespace gannet::kernels::cuda
