// Tolerances of the CUDA kernels against their CPU references, in one place (STYLE.md "Kernel
// parity"). Relative errors are ||gpu - ref||_2 / ||ref||_2 over a whole output; they are set from
// the arithmetic each kernel does differently from the reference, not from what happened to pass.
// Owner: CUDA backend. Thread-safety: constants.
#pragma once

namespace gannet::kernels::cuda {

// f32 accumulation in a different order than the CPU loop: a few ulps times sqrt(n_in).
inline constexpr double kMatvecRelErrF32Act = 1e-5;
// bf16 activations: the GPU rounds x to bf16 (8 bits of mantissa) before the product while the
// reference sees the same bf16 values widened, so only summation order differs.
inline constexpr double kMatvecRelErrBf16Act = 1e-5;
// Int8 activations (matvec's dp4a path for Q4_0/Q8_0/Q4_K/Q5_K): x is rounded per 32-block to d * rint(x / d)
// with d = max|x| / 127, an error uniform in +-d/2. For x uniform in [-1, 1] that is a standard
// deviation of 1 / (254 sqrt 3) = 0.0023 against rms(x) = 0.577, so y's relative L2 error is ~0.004
// (errors independent of W); 1e-2 is 2.5x that. Checked over >= 32 outputs so the ratio concentrates.
inline constexpr double kMatvecRelErrInt8Act = 1e-2;
// dequantize_rows: each value is rounded once to bf16 (half an ulp, 2^-9 relative) from an f32
// product that may be fused (FMA) on the GPU and not on the CPU, so one bf16 ulp (2^-8) per element.
inline constexpr double kDequantBf16RelErr = 1.0 / 256.0;
// Prefill through cuBLAS: weights (dequantized) and activations rounded to bf16 (2^-9 relative each),
// products accumulated in f32: error about 2^-8 / sqrt-averaged, so 1e-2 is the bf16 rule.
inline constexpr double kGemmRelErr = 1e-2;
// Element-wise and normalization ops in f32 (expf/tanhf/rsqrtf differ from glibc by a few ulps).
inline constexpr double kElementwiseRelErr = 1e-5;
// RoPE: cos/sin of angles up to ~1e3 rad; an ulp of the angle is ~6e-5 rad there, and powf on the
// device may differ from std::pow by an ulp, so the rotated values can differ by ~1e-4.
inline constexpr double kRopeRelErr = 5e-4;
// Attention with f32 or f16 K/V: softmax in f32 with a different (online) max and summation order.
inline constexpr double kAttentionRelErr = 1e-4;
// Flash prefill attention: Q, K, V and the probabilities P are rounded to bf16 (2^-9 relative each)
// for the tensor cores; softmax and accumulation stay f32. The output is a weighted mean of V whose
// error is ~2^-9 of its size plus the score error (|score| · 2^-8), so 1e-2 is the bf16 rule again.
inline constexpr double kFlashAttentionRelErr = 1e-2;

}  // namespace gannet::kernels::cuda
