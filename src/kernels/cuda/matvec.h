// Decode-path matrix products on the GPU: y = x · Wᵀ for a few tokens (n_tokens small, typically 1),
// with W in its GGUF block layout (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, F16, BF16) in device
// memory. Memory-bound: every weight byte is read once per call, so the aim is the HBM roofline
// (bytes of W / bandwidth).
// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K given scratch: x is first quantized to int8 per
// 32-block with an f32 scale (like llama.cpp's Q8_0 activations; relative error of a product ~0.4%
// for uniform x), then integer dot products (dp4a). Without scratch they use the f32-activation
// kernel (exact up to summation order), as do all other weight types (Q2_K, Q3_K, F16, BF16).
// Larger batches go through gemm.h (cuBLAS). Owner: CUDA backend. Thread-safety: pure (stream-ordered).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "base/status.h"
#include "kernels/cuda/weight_layout.h"
#include "tensor/dtype.h"

namespace gannet::kernels::cuda {

// What matvec does with y.
enum class MatvecOutput {
    kOverwrite,   // y = x · Wᵀ
    kAccumulate,  // y += x · Wᵀ (one read-add-write per element: a residual add without a launch)
};

struct MatvecArgs {
    const void* w = nullptr;  // [n_out rows][n_in elements of w_dtype], device, GGUF block layout
    tensor::DType w_dtype = tensor::DType::kQ4_0;
    // kQ4_0Split (weight_layout.h): Q4_0 only, w 16-byte aligned, and needs scratch (int8 path only).
    WeightLayout w_layout = WeightLayout::kGguf;
    int64_t n_in = 0;         // row length; a multiple of block_size(w_dtype)
    int64_t n_out = 0;        // rows of W
    int64_t n_tokens = 0;     // rows of x and y; 0 is a no-op. Any count works; 1..8 is what this path is for
    const void* x = nullptr;  // [n_tokens, n_in] of x_dtype, device
    tensor::DType x_dtype = tensor::DType::kF32;  // kF32 or kBF16
    float* y = nullptr;                           // [n_tokens, n_out], device, overwritten; must not overlap x or w
    // Optional device scratch of matvec_scratch_size_bytes(*this) bytes, 16-byte aligned, for the
    // int8-activation path (matvec_uses_int8_x types). nullptr selects the f32-activation path.
    void* scratch = nullptr;
    size_t scratch_size_bytes = 0;
    // True: scratch already holds x in int8 (quantize_x_int8, or rms_norm / glu with quantized_out,
    // for this x, n_in and n_tokens <= kMatvecMaxTokens), so weight types with an int8 path skip
    // their own quantization and never read x; the others ignore the flag and read x. Lets products
    // that share an input (Q/K/V, gate/up) quantize it once.
    bool is_x_quantized = false;
    MatvecOutput y_mode = MatvecOutput::kOverwrite;
};

// Largest token count one kernel launch handles; more tokens are processed in chunks of this many.
inline constexpr int64_t kMatvecMaxTokens = 8;

// True when matvec has a kernel for weights of this dtype.
bool matvec_supports(tensor::DType w_dtype);

// True when weights of this dtype take the int8-activation path given scratch (Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q4_K, Q5_K, Q6_K).
bool matvec_uses_int8_x(tensor::DType w_dtype);

// Bytes of scratch that int8 x of n_elems = n_tokens * n_in elements (n_in % 32 == 0) occupies; the
// layout is in int8_x.cuh. For n_tokens <= kMatvecMaxTokens it equals matvec_scratch_size_bytes of
// an int8-path matrix with that n_in.
size_t int8_x_size_bytes(int64_t n_elems);

struct QuantizeXArgs {
    const void* x = nullptr;                      // [n_tokens, n_in] of x_dtype, device
    tensor::DType x_dtype = tensor::DType::kF32;  // kF32 or kBF16
    int64_t n_in = 0;                             // a multiple of 32
    int64_t n_tokens = 0;                         // 1..kMatvecMaxTokens (0 is a no-op)
    void* scratch = nullptr;                      // int8_x_size_bytes(n_tokens * n_in) bytes, 16-byte aligned, device
    size_t scratch_size_bytes = 0;
};

// Writes x in int8 into scratch for later matvec calls with is_x_quantized. kInvalidArgument for
// bad sizes, null or misaligned pointers, too small a scratch or more than kMatvecMaxTokens tokens;
// kUnimplemented for another x dtype; kInternal for a launch failure.
Status quantize_x_int8(const QuantizeXArgs& a, cudaStream_t stream);

// Bytes of scratch the int8-activation path needs for these weights and min(n_tokens, kMatvecMaxTokens)
// tokens (scratch is reused per chunk of tokens); 0 for weight types that never use it.
size_t matvec_scratch_size_bytes(const MatvecArgs& a);

// One product of a grouped matvec: its own weights and output; x, n_in and scratch are shared.
struct MatvecGroupEntry {
    const void* w = nullptr;  // as MatvecArgs::w
    tensor::DType w_dtype = tensor::DType::kQ4_0;
    WeightLayout w_layout = WeightLayout::kGguf;
    int64_t n_out = 0;
    float* y = nullptr;  // [n_tokens, n_out], overwritten; must not overlap x, any w or another entry's y
};

inline constexpr int kMatvecMaxGroup = 3;

// Several products that share x (Q, K and V; gate and up): y_e = x · W_eᵀ for each entry, in one
// launch where the entries share dtype and layout and the path has a grouped kernel (Q4_0 GGUF and
// split, Q8_0 with scratch; F16 / BF16), otherwise one matvec per entry. Each row is computed by the
// same code as in matvec, so every y_e is bit-identical to matvec with the same fields.
struct MatvecGroupArgs {
    MatvecGroupEntry entries[kMatvecMaxGroup];
    int n_entries = 0;  // 1..kMatvecMaxGroup
    int64_t n_in = 0;
    int64_t n_tokens = 0;
    const void* x = nullptr;
    tensor::DType x_dtype = tensor::DType::kF32;
    void* scratch = nullptr;  // as MatvecArgs::scratch; large enough for every entry
    size_t scratch_size_bytes = 0;
    bool is_x_quantized = false;  // as MatvecArgs::is_x_quantized
};

// Errors as matvec for each entry, plus kInvalidArgument for n_entries outside 1..kMatvecMaxGroup.
Status matvec_group(const MatvecGroupArgs& a, cudaStream_t stream);

// kUnimplemented for another weight or activation dtype; kInvalidArgument for a bad size, a null
// pointer, n_in not a whole number of blocks, scratch given but too small or misaligned, or
// is_x_quantized on an int8-path type without scratch or with more than kMatvecMaxTokens tokens,
// or a kQ4_0Split layout on another dtype, without scratch or misaligned;
// kInternal for a launch failure. Faults inside the kernel surface at the next synchronization.
Status matvec(const MatvecArgs& a, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
