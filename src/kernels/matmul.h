// Matrix products against weight matrices of any supported dtype: the op that dominates every
// forward pass. y = x · Wᵀ, W stored row-major as n_out rows of n_in elements (GGUF/ggml layout:
// a tensor of shape [n_in, n_out] in ggml order). matmul() picks the fastest implementation this
// CPU supports at run time (AVX-512, AVX2, or the portable reference) and splits rows over threads.
// Owner: matmul helper. Thread-safety: pure; the pool must not be used by another thread during the call.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/status.h"
#include "base/thread_pool.h"
#include "tensor/dtype.h"

namespace gannet::kernels {

struct MatmulArgs {
    const void* w = nullptr;  // [n_out rows][n_in elements of w_dtype], host memory
    tensor::DType w_dtype = tensor::DType::kF32;
    int64_t n_in = 0;          // row length; a multiple of block_size(w_dtype)
    int64_t n_out = 0;         // rows of W
    int64_t n_tokens = 0;      // rows of x and y; 0 is a no-op
    const float* x = nullptr;  // [n_tokens, n_in]
    float* y = nullptr;        // [n_tokens, n_out], overwritten; must not overlap x or w
    // Optional scratch for the int8-quantized activations (quantized weights), at least
    // matmul_scratch_size_bytes(args) bytes, 64-byte aligned, owned by the caller. When null or too
    // small, a thread_local buffer of the calling thread is used instead: it grows to the largest
    // shape seen and is then reused, so steady-state calls never touch the heap either way.
    void* scratch = nullptr;
    size_t scratch_size_bytes = 0;
};

// Instruction sets the kernels are written for. kAvx512 needs AVX-512 F/BW/VL/VNNI (Ice Lake,
// Zen 4 and later); kAvx2 needs AVX2/FMA/F16C (Haswell, Zen 1 and later).
enum class Isa {
    kAuto,      // best supported by this CPU
    kPortable,  // the reference, one row at a time (no SIMD intrinsics)
    kAvx2,
    kAvx512,
};

const char* isa_name(Isa isa);
// The ISA kAuto resolves to on this CPU.
Isa best_isa();
bool isa_supported(Isa isa);

// kUnimplemented for a dtype without a kernel; kInvalidArgument when n_in is not a whole number of
// blocks, a size is negative/zero (n_tokens may be 0) or a pointer is null.
Status matmul(const MatmulArgs& a, ThreadPool& pool);

// As matmul(), forced onto one ISA (tests and benches compare paths with this); kUnimplemented
// when this CPU lacks `isa`. Dtypes without a SIMD kernel run the reference on every ISA.
Status matmul(const MatmulArgs& a, ThreadPool& pool, Isa isa);

// Bytes of scratch matmul() uses for these args (0 for float weights).
size_t matmul_scratch_size_bytes(const MatmulArgs& a);

// The portable reference: dequantize each weight row to float and accumulate in double-free,
// straightforward float32 order. Used by the tests as the ground truth for the SIMD versions.
Status matmul_reference(const MatmulArgs& a);

}  // namespace gannet::kernels
