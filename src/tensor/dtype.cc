#include "tensor/dtype.h"

#include <array>
#include <cctype>

#include "base/check.h"

namespace gannet::tensor {
namespace {

struct TypeTraits {
    DType dtype;
    const char* name;  // llama.cpp's spelling (ggml type_traits), so logs and CLI flags match its tools
    int64_t block_size;
    size_t type_size_bytes;
    bool is_quantized;
};

// Block sizes and bytes per block follow ggml's block structs (ggml-common.h); the static_asserts
// in quant.h / quant_k.h pin the struct sizes to the same numbers.
constexpr std::array<TypeTraits, 20> kTraits = {{
    {DType::kF32, "f32", 1, 4, false},      {DType::kF16, "f16", 1, 2, false},
    {DType::kQ4_0, "q4_0", 32, 18, true},    // fp16 d + 16 bytes of nibbles
    {DType::kQ4_1, "q4_1", 32, 20, true},    // fp16 d, m + 16 bytes of nibbles
    {DType::kQ5_0, "q5_0", 32, 22, true},    // fp16 d + 4 bytes high bits + 16 bytes nibbles
    {DType::kQ5_1, "q5_1", 32, 24, true},    // fp16 d, m + 4 + 16
    {DType::kQ8_0, "q8_0", 32, 34, true},    // fp16 d + 32 int8
    {DType::kQ8_1, "q8_1", 32, 36, true},    // fp16 d, s + 32 int8
    {DType::kQ2_K, "q2_K", 256, 84, true},   // 16 scales + 64 qs + fp16 d, dmin
    {DType::kQ3_K, "q3_K", 256, 110, true},  // 32 hmask + 64 qs + 12 scales + fp16 d
    {DType::kQ4_K, "q4_K", 256, 144, true},  // fp16 d, dmin + 12 scales + 128 qs
    {DType::kQ5_K, "q5_K", 256, 176, true},  // fp16 d, dmin + 12 scales + 32 qh + 128 qs
    {DType::kQ6_K, "q6_K", 256, 210, true},  // 128 ql + 64 qh + 16 int8 scales + fp16 d
    {DType::kQ8_K, "q8_K", 256, 292, true},  // f32 d + 256 int8 + 16 int16 bsums
    {DType::kI8, "i8", 1, 1, false},        {DType::kI16, "i16", 1, 2, false},
    {DType::kI32, "i32", 1, 4, false},      {DType::kI64, "i64", 1, 8, false},
    {DType::kF64, "f64", 1, 8, false},      {DType::kBF16, "bf16", 1, 2, false},
}};

const TypeTraits* find_traits(DType t) {
    for (const TypeTraits& tr : kTraits) {
        if (tr.dtype == t) {
            return &tr;
        }
    }
    return nullptr;
}

// Every DType value is in kTraits; a value outside the enum can only come from a bad cast (a bug),
// because files go through dtype_from_ggml().
const TypeTraits& traits(DType t) {
    const TypeTraits* tr = find_traits(t);
    GANNET_CHECK(tr != nullptr);
    return *tr;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

}  // namespace

const char* dtype_name(DType t) {
    const TypeTraits* tr = find_traits(t);
    return tr != nullptr ? tr->name : "?";
}

std::optional<DType> dtype_from_name(std::string_view name) {
    for (const TypeTraits& tr : kTraits) {
        if (iequals(name, tr.name)) {
            return tr.dtype;
        }
    }
    return std::nullopt;
}

std::optional<DType> dtype_from_ggml(uint32_t ggml_type) {
    const TypeTraits* tr = find_traits(static_cast<DType>(ggml_type));
    if (tr == nullptr) {
        return std::nullopt;
    }
    return tr->dtype;
}

int64_t block_size(DType t) {
    return traits(t).block_size;
}

size_t type_size_bytes(DType t) {
    return traits(t).type_size_bytes;
}

size_t row_size_bytes(DType t, int64_t n) {
    const TypeTraits& tr = traits(t);
    GANNET_CHECK(n >= 0 && n % tr.block_size == 0);
    return static_cast<size_t>(n / tr.block_size) * tr.type_size_bytes;
}

bool is_quantized(DType t) {
    return traits(t).is_quantized;
}

}  // namespace gannet::tensor
