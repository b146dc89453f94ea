// Device layouts of weight matrices. kGguf: rows back to back in the GGUF block layout (what the
// file holds; mapped and streamed placements read it as is). kQ4_0Split: Q4_0 with the 16-byte
// nibble arrays and the f16 scales in separate arrays, made once at upload for matrices placed in
// device memory, so matvec loads nibbles as aligned 8/16-byte words instead of 16-bit ones (Q4_0
// blocks are 18 bytes: only 2-byte aligned in the GGUF layout). Owner: CUDA backend.
// Thread-safety: pure.
//
// kQ4_0Split for W [n_out][n_in], nb = n_in / 32 blocks per row, base 16-byte aligned:
//   bytes [0, n_out * nb * 16): qs (16 bytes, low nibbles = weights 0..15, high = 16..31) of block
//     b of row r at (r * nb + b) * 16;
//   then f16 scale d of block b of row r at n_out * nb * 16 + 2 * (r * nb + b).
// Same size as the GGUF layout (18 bytes per block), so placement plans do not change.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/status.h"
#include "tensor/dtype.h"

namespace gannet::kernels::cuda {

enum class WeightLayout {
    kGguf,
    kQ4_0Split,
};

// True when a matrix of this dtype can be repacked into kQ4_0Split (Q4_0 only).
bool can_split_layout(tensor::DType dtype);

// Host memory: writes the kQ4_0Split bytes of the Q4_0 matrix src (GGUF layout, row_size_bytes(kQ4_0,
// n_in) * n_out bytes) into dst (as many bytes). kInvalidArgument for null pointers, sizes <= 0 or
// n_in % 32 != 0.
Status repack_q4_0_split(const void* src, void* dst, int64_t n_out, int64_t n_in);

}  // namespace gannet::kernels::cuda
