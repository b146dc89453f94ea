// GGUF v3 writer: metadata of every value type (arrays included) and tensors, laid out with the
// file's alignment so gguf::File (and llama.cpp) can map it. Builds the whole file in memory, which
// suits the small models and test fixtures it is used for. Not thread-safe; one owner builds a file.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "gguf/gguf_file.h"
#include "tensor/dtype.h"

namespace gannet::gguf {

class Writer {
public:
    Writer() = default;

    // Tensor data alignment; anything but the default 32 is also written as general.alignment (u32).
    // REQUIRES: alignment is a power of two.
    void set_alignment(uint32_t alignment);
    uint32_t alignment() const { return alignment_; }

    // Setting a key again replaces its value but keeps its first position in the file.
    void set_u8(std::string_view key, uint8_t v);
    void set_i8(std::string_view key, int8_t v);
    void set_u16(std::string_view key, uint16_t v);
    void set_i16(std::string_view key, int16_t v);
    void set_u32(std::string_view key, uint32_t v);
    void set_i32(std::string_view key, int32_t v);
    void set_u64(std::string_view key, uint64_t v);
    void set_i64(std::string_view key, int64_t v);
    void set_f32(std::string_view key, float v);
    void set_f64(std::string_view key, double v);
    void set_bool(std::string_view key, bool v);
    void set_string(std::string_view key, std::string_view v);
    void set_array_strings(std::string_view key, std::span<const std::string> values);
    // elem_type: an integer type or kBool. REQUIRES: every value fits elem_type.
    void set_array_ints(std::string_view key, ValueType elem_type, std::span<const int64_t> values);
    // elem_type: kF32 or kF64.
    void set_array_floats(std::string_view key, ValueType elem_type, std::span<const double> values);
    // Any value, e.g. one read from another File (nested arrays included); copies what it needs.
    // REQUIRES: v is well-formed (arrays keep their elements in the member that array_type selects).
    void set_value(std::string_view key, const Value& v);

    // Copies data, which must be exactly the bytes of shape (ggml order, shape[0] contiguous) in dtype.
    // kInvalidArgument for an empty name, more than 4 dims, a negative dim, a row that is not a whole
    // number of blocks or a data size mismatch; kAlreadyExists for a repeated name.
    Status add_tensor(std::string_view name, tensor::DType dtype, std::span<const int64_t> shape,
                      std::span<const uint8_t> data);
    // Converts f32 values to dtype row by row with tensor::quantize_row (kUnimplemented where it has no
    // quantizer), then as add_tensor.
    Status add_tensor_f32(std::string_view name, tensor::DType dtype, std::span<const int64_t> shape,
                          std::span<const float> values);

    size_t n_tensors() const { return tensors_.size(); }
    size_t n_kv() const { return kvs_.size(); }

    // The whole file.
    std::vector<uint8_t> serialize() const;
    // Writes serialize() to path (replacing it). kInvalidArgument when it cannot be created or written.
    Status write(const std::string& path) const;

private:
    struct Kv {
        std::string key;
        std::vector<uint8_t> encoded;  // value type (u32) + value, as in the file
    };
    struct PendingTensor {
        std::string name;
        tensor::DType dtype;
        std::vector<int64_t> shape;
        std::vector<uint8_t> data;
    };

    void set_encoded(std::string_view key, std::vector<uint8_t> encoded);
    // Header, metadata, tensor infos and the padding before the data section.
    std::vector<uint8_t> serialize_header() const;

    uint32_t alignment_ = 32;
    std::vector<Kv> kvs_;
    std::map<std::string, size_t, std::less<>> kv_index_;
    std::vector<PendingTensor> tensors_;
    std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace gannet::gguf
