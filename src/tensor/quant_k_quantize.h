// Quantizers for the K-quant formats Q2_K..Q6_K (block layouts in quant_k.h), with optional
// importance weights, plus one entry point that quantizes a row to any type Gannet can write.
// The block FORMAT is exactly llama.cpp's, so its loaders read our output; the scale SEARCH is our
// own (a weighted least-squares fit per sub-block over a small grid of candidate scales), so bytes
// differ from llama-quantize's while the error is comparable (quant_k_quantize_test.cc holds the
// measured RMSE bounds). Owner: quantize helper. Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "tensor/dtype.h"

namespace gannet::tensor {

// True for Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
bool is_k_quant_writable(DType dtype);

// Writes row_size_bytes(dtype, n) bytes at dst for the n floats at src, for every type
// quantize_row() handles plus Q2_K..Q6_K. `importance` (may be null) holds n non-negative weights,
// one per element: the fit minimises sum(importance[i] * (x[i] - x̂[i])^2). For a weight matrix the
// natural choice is the mean squared activation of input column i (an "imatrix"), which makes the
// objective the expected squared error of the matrix's output. Null means uniform weights (plain
// RMSE). Types whose llama.cpp reference quantizer has no search (Q4_0, Q8_0, ...) ignore it.
// Errors: kUnimplemented for a type without a quantizer, kInvalidArgument when n is not a whole
// number of blocks. REQUIRES: finite src values, importance values >= 0 and finite.
Status quantize_row_weighted(DType dtype, const float* src, void* dst, int64_t n, const float* importance);

}  // namespace gannet::tensor
