// The CPU flash-attention step: the query heads of one token against a run of K/V rows stored in
// the cache's own type (f32, f16, bf16, q8_0, q4_0), folded into each head's online softmax state
// (running max m, running sum l, unnormalised accumulator acc). src/model/paged_attention.h walks
// the paged tiles and calls this once per (run of tokens that see the same rows, run of heads,
// visible part of a tile): the "heads" of one call may be several tokens' heads side by side.
// Owner: kernels. Thread-safety: pure over the state it is given; disjoint states may run at once.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/matmul.h"
#include "tensor/dtype.h"

namespace gannet::kernels {

// Rows folded at once: the chunk's scores live on the stack. A call with more rows (a paged tile of
// more than 256 tokens, a long canvas) is folded in runs of this many from its first row.
inline constexpr int64_t kFlashMaxRows = 256;

struct FlashChunkArgs {
    tensor::DType kv_dtype = tensor::DType::kF32;  // kF32, kF16, kBF16, kQ8_0 or kQ4_0
    const std::byte* k = nullptr;                  // row i at k + i * k_row_bytes: head_dim_k values
    const std::byte* v = nullptr;                  // row i at v + i * v_row_bytes: head_dim_v values
    size_t k_row_bytes = 0;                        // bytes from one K row to the next
    size_t v_row_bytes = 0;                        // bytes from one V row to the next
    int64_t n_rows = 0;                            // >= 1
    int64_t head_dim_k = 0;
    int64_t head_dim_v = 0;
    const float* q = nullptr;  // [n_heads, head_dim_k] the query heads (of one or more tokens), contiguous
    int64_t n_heads = 0;       // 1..
    float scale = 1.0f;        // multiplies q·k before the softcap
    float softcap = 0.0f;      // 0: off; else score = softcap * tanh(score / softcap)
    float* m = nullptr;        // [n_heads] running max, -inf before the first chunk
    float* l = nullptr;        // [n_heads] running sum of exp(score - m), 0 before the first chunk
    float* acc = nullptr;      // [n_heads, head_dim_v] running sum of exp(score - m) * v, 0 at first
};

// Folds rows [0, n_rows) into the state of every head: scores s_i = softcap(scale q·k_i), chunk max
// M = max(m, s_i), then l = l e^(m-M) + Σ e^(s_i-M), acc = acc e^(m-M) + Σ e^(s_i-M) v_i, m = M.
// Each head's arithmetic depends only on its query, the rows and its state, never on n_heads or on
// which other heads share the call (the heads only share K/V loads and conversions): the model's
// determinism contract rests on this. The result after the last chunk is acc / l.
// Rows are read in their stored type inside the loops (f16 via F16C, q8_0 as int8 × scale, q4_0 as
// (nibble - 8) × scale): no dequantized copy of a tile is made.
// REQUIRES: the fields are valid as documented (paged_attention validated the layout), isa is
// supported (isa_supported), q8_0/q4_0 head dims are multiples of 32.
void flash_chunk(const FlashChunkArgs& a, Isa isa);

// The ISA flash_chunk should run on for these head dims: isa (kAuto: best_isa()), stepped down to
// AVX2 when they are not multiples of 16 floats and to kPortable when not multiples of 8.
Isa flash_isa(Isa isa, int64_t head_dim_k, int64_t head_dim_v);

namespace detail {
// One run of 1..kFlashMaxRows rows.
void flash_chunk_portable(const FlashChunkArgs& a);
void flash_chunk_avx2(const FlashChunkArgs& a);
void flash_chunk_avx512(const FlashChunkArgs& a);

// exp(x) for x <= 0 to ~2 ulp (Cephes' expf polynomial); 0 below -87.3. The SIMD paths evaluate the
// same polynomial lane by lane, so every ISA's softmax weights agree to rounding.
float flash_exp(float x);
}  // namespace detail

}  // namespace gannet::kernels
