// GGUF v2/v3 reader over mmap: metadata (every value type, arrays), the tensor directory and
// zero-copy views of tensor data. Every offset, count and size read from the file is checked
// against the file's size before use, so a truncated or hostile file is a kDataLoss Status,
// never a crash or an absurd allocation. Thread-safety: immutable after open(); safe to share.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/mapped_file.h"
#include "base/result.h"
#include "tensor/dtype.h"

namespace gannet::gguf {

// GGUF metadata value types (gguf_type numbering).
enum class ValueType : uint32_t {
    kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
    kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

// One metadata value. Arrays keep their element type; strings are views into the mapped file.
struct Value {
    ValueType type = ValueType::kU8;
    ValueType array_type = ValueType::kU8;  // element type when type == kArray
    // Scalars widened: integers (and bool) in `i` (u64 values above INT64_MAX keep their bits),
    // floats in `f`.
    int64_t i = 0;
    double f = 0.0;
    std::string_view str;                  // kString
    std::vector<Value> array;              // kArray of anything but strings or numbers
    std::vector<std::string_view> strings; // kArray of kString (tokens)
    std::vector<double> numbers_f;         // kArray of float types (scores)
    std::vector<int64_t> numbers_i;        // kArray of integer/bool types (token types)
};

struct TensorInfo {
    std::string name;
    tensor::DType dtype = tensor::DType::kF32;
    std::vector<int64_t> shape;  // ggml order: shape[0] is the contiguous (row) dimension
    uint64_t offset = 0;         // from the start of the data section
    uint64_t size_bytes = 0;
    int64_t n_elements() const;
};

class File {
public:
    // Errors: kNotFound (missing file), kInvalidArgument (not a regular file),
    // kDataLoss (not GGUF, unsupported version, truncated, bad counts/offsets/types).
    static Result<File> open(const std::string& path);

    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }

    const std::map<std::string, Value, std::less<>>& metadata() const { return metadata_; }
    const Value* find_value(std::string_view key) const;  // nullptr when absent
    // Typed getters: kNotFound when absent, kDataLoss when the stored type does not fit.
    Result<std::string> get_string(std::string_view key) const;
    Result<int64_t> get_int(std::string_view key) const;
    Result<double> get_float(std::string_view key) const;
    Result<bool> get_bool(std::string_view key) const;
    // With a default when absent (a wrong type is still an error).
    Result<int64_t> get_int_or(std::string_view key, int64_t fallback) const;
    Result<double> get_float_or(std::string_view key, double fallback) const;
    Result<bool> get_bool_or(std::string_view key, bool fallback) const;

    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const TensorInfo* find_tensor(std::string_view name) const;  // nullptr when absent
    // The tensor's bytes, a view into the mapping valid while this File lives.
    std::span<const uint8_t> tensor_data(const TensorInfo& info) const;

    File(File&&) noexcept = default;
    File& operator=(File&&) noexcept = default;

private:
    File() = default;
    friend class Parser;

    std::unique_ptr<MappedFile> mapped_;  // unique_ptr keeps string_views stable across moves
    uint32_t version_ = 0;
    uint32_t alignment_ = 32;
    uint64_t data_offset_ = 0;
    std::map<std::string, Value, std::less<>> metadata_;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace gannet::gguf
