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
    kU8 = 0,
    kI8 = 1,
    kU16 = 2,
    kI16 = 3,
    kU32 = 4,
    kI32 = 5,
    kF32 = 6,
    kBool = 7,
    kString = 8,
    kArray = 9,
    kU64 = 10,
    kI64 = 11,
    kF64 = 12,
};

// "u8", "string", "array", ...; "?" for a value outside the enum.
const char* value_type_name(ValueType t);

// One metadata value. Arrays keep their element type; strings are views into the mapped file.
struct Value {
    ValueType type = ValueType::kU8;
    ValueType array_type = ValueType::kU8;  // element type when type == kArray
    // Scalars widened: integers (and bool) in `i` (u64 values above INT64_MAX keep their bits),
    // floats in `f`.
    int64_t i = 0;
    double f = 0.0;
    std::string_view str;                   // kString
    std::vector<Value> array;               // kArray of anything but strings or numbers
    std::vector<std::string_view> strings;  // kArray of kString (tokens)
    std::vector<double> numbers_f;          // kArray of float types (scores)
    std::vector<int64_t> numbers_i;         // kArray of integer/bool types (token types)
};

struct TensorInfo {
    std::string name;
    tensor::DType dtype = tensor::DType::kF32;
    // ggml order: shape[0] is the contiguous (row) dimension. 0..4 dims, each >= 0 (a 0 makes an
    // empty tensor, as ggml allows), product < 2^63, shape[0] a multiple of block_size(dtype).
    std::vector<int64_t> shape;
    uint64_t offset = 0;  // from the start of the data section
    uint64_t size_bytes = 0;
    int64_t n_elements() const;  // 1 for a 0-dim (scalar) tensor
};

class File {
public:
    // Errors: kNotFound (missing file), kInvalidArgument (not a regular file),
    // kDataLoss (not GGUF, unsupported version, truncated, bad counts/offsets/types).
    static Result<File> open(const std::string& path);
    // Parses an in-memory image (tests, fuzzers, files received over the network); `name` stands in
    // for the path in errors. Errors as open() less the file-system ones.
    static Result<File> from_bytes(std::vector<uint8_t> bytes, std::string name);

    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    const std::string& path() const;
    size_t file_size_bytes() const;
    // Where tensor data starts in the file; TensorInfo::offset counts from here.
    uint64_t data_offset() const { return data_offset_; }

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
    // Arrays (views valid while this File lives): kNotFound when absent, kDataLoss when the key is
    // not an array of that kind. get_ints accepts any integer or bool elements, get_floats f32/f64.
    Result<std::span<const std::string_view>> get_strings(std::string_view key) const;
    Result<std::span<const int64_t>> get_ints(std::string_view key) const;
    Result<std::span<const double>> get_floats(std::string_view key) const;

    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const TensorInfo* find_tensor(std::string_view name) const;  // nullptr when absent
    // The tensor's bytes, a view into the mapping valid while this File lives. From open() the view
    // is aligned to alignment() (the mapping is page-aligned); from_bytes() gives malloc alignment.
    // REQUIRES: info is one of this File's tensors() (open() bounds-checked those, nothing else).
    std::span<const uint8_t> tensor_data(const TensorInfo& info) const;

    File(File&&) noexcept = default;
    File& operator=(File&&) noexcept = default;

private:
    File() = default;
    friend class Parser;

    // The value at key if accepts() it; kNotFound / kDataLoss (naming `expected`) otherwise.
    Result<const Value*> typed_value(std::string_view key, const char* expected, bool (*accepts)(const Value&)) const;

    Status parse();

    std::unique_ptr<MappedFile> mapped_;  // unique_ptr keeps string_views stable across moves
    std::vector<uint8_t> owned_;          // from_bytes(); a moved vector keeps its buffer, so views stay valid
    std::string path_;
    std::span<const uint8_t> bytes_;  // the whole file: mapped_ or owned_
    uint32_t version_ = 0;
    uint32_t alignment_ = 32;
    uint64_t data_offset_ = 0;
    std::map<std::string, Value, std::less<>> metadata_;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace gannet::gguf
