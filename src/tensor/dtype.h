// Element types of tensors, with the numbering GGUF files use (ggml_type), so a type read from a
// file converts with a range check and no table. Quantized types are stored in blocks: a block of
// block_size() elements takes type_size_bytes() bytes. Thread-safe (pure functions).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace gannet::tensor {

enum class DType : uint32_t {
    kF32 = 0,
    kF16 = 1,
    kQ4_0 = 2,
    kQ4_1 = 3,
    kQ5_0 = 6,
    kQ5_1 = 7,
    kQ8_0 = 8,
    kQ8_1 = 9,
    kQ2_K = 10,
    kQ3_K = 11,
    kQ4_K = 12,
    kQ5_K = 13,
    kQ6_K = 14,
    kQ8_K = 15,
    kI8 = 24,
    kI16 = 25,
    kI32 = 26,
    kI64 = 27,
    kF64 = 28,
    kBF16 = 30,
};

// Name as llama.cpp's ggml spells it ("f32", "q4_0", "q4_K", "bf16"); "?" for unknown.
const char* dtype_name(DType t);
// Case-insensitive parse of a name; nullopt when unknown.
std::optional<DType> dtype_from_name(std::string_view name);
// The DType for a raw ggml_type number, nullopt when Gannet does not know it.
std::optional<DType> dtype_from_ggml(uint32_t ggml_type);

// Elements per block (1 for plain types, 32 for Q4_0/Q8_0, 256 for K-quants).
int64_t block_size(DType t);
// Bytes per block.
size_t type_size_bytes(DType t);
// Bytes for a row of n elements; REQUIRES: n % block_size(t) == 0.
size_t row_size_bytes(DType t, int64_t n);
bool is_quantized(DType t);

}  // namespace gannet::tensor
