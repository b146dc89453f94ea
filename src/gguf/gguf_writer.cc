#include "gguf/gguf_writer.h"

#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

#include "base/check.h"
#include "tensor/quant.h"

namespace gannet::gguf {
namespace {

constexpr uint32_t kVersion = 3;
constexpr uint32_t kDefaultAlignment = 32;

// Little-endian appends (the host is little-endian; gguf_file.cc asserts it).
template <typename T>
void put(std::vector<uint8_t>* out, T v) {
    const size_t at = out->size();
    out->resize(at + sizeof(T));
    std::memcpy(out->data() + at, &v, sizeof(T));
}

void put_string(std::vector<uint8_t>* out, std::string_view s) {
    put<uint64_t>(out, s.size());
    out->insert(out->end(), s.begin(), s.end());
}

void put_type(std::vector<uint8_t>* out, ValueType t) {
    put<uint32_t>(out, static_cast<uint32_t>(t));
}

// One integer of type t; REQUIRES v to fit (u64 values arrive as their int64 bits).
void put_int(std::vector<uint8_t>* out, ValueType t, int64_t v) {
    auto fits = [v](int64_t lo, int64_t hi) {
        return v >= lo && v <= hi;
    };
    switch (t) {
        case ValueType::kU8:
            GANNET_CHECK(fits(0, UINT8_MAX));
            put<uint8_t>(out, static_cast<uint8_t>(v));
            break;
        case ValueType::kI8:
            GANNET_CHECK(fits(INT8_MIN, INT8_MAX));
            put<int8_t>(out, static_cast<int8_t>(v));
            break;
        case ValueType::kU16:
            GANNET_CHECK(fits(0, UINT16_MAX));
            put<uint16_t>(out, static_cast<uint16_t>(v));
            break;
        case ValueType::kI16:
            GANNET_CHECK(fits(INT16_MIN, INT16_MAX));
            put<int16_t>(out, static_cast<int16_t>(v));
            break;
        case ValueType::kU32:
            GANNET_CHECK(fits(0, UINT32_MAX));
            put<uint32_t>(out, static_cast<uint32_t>(v));
            break;
        case ValueType::kI32:
            GANNET_CHECK(fits(INT32_MIN, INT32_MAX));
            put<int32_t>(out, static_cast<int32_t>(v));
            break;
        case ValueType::kU64: put<uint64_t>(out, static_cast<uint64_t>(v)); break;
        case ValueType::kI64: put<int64_t>(out, v); break;
        case ValueType::kBool:
            GANNET_CHECK(fits(0, 1));
            put<uint8_t>(out, static_cast<uint8_t>(v));
            break;
        default: GANNET_CHECK(false && "put_int: not an integer type");
    }
}

void put_float(std::vector<uint8_t>* out, ValueType t, double v) {
    GANNET_CHECK(t == ValueType::kF32 || t == ValueType::kF64);
    if (t == ValueType::kF32) {
        put<float>(out, static_cast<float>(v));
    } else {
        put<double>(out, v);
    }
}

bool is_float(ValueType t) {
    return t == ValueType::kF32 || t == ValueType::kF64;
}

// The value part (no type tag) of v; arrays recurse.
void put_value_body(std::vector<uint8_t>* out, const Value& v) {
    switch (v.type) {
        case ValueType::kString: put_string(out, v.str); break;
        case ValueType::kF32:
        case ValueType::kF64: put_float(out, v.type, v.f); break;
        case ValueType::kArray: {
            put_type(out, v.array_type);
            if (v.array_type == ValueType::kString) {
                put<uint64_t>(out, v.strings.size());
                for (std::string_view s : v.strings) {
                    put_string(out, s);
                }
            } else if (is_float(v.array_type)) {
                put<uint64_t>(out, v.numbers_f.size());
                for (double f : v.numbers_f) {
                    put_float(out, v.array_type, f);
                }
            } else if (v.array_type == ValueType::kArray) {
                put<uint64_t>(out, v.array.size());
                for (const Value& item : v.array) {
                    GANNET_CHECK(item.type == ValueType::kArray);
                    put_value_body(out, item);
                }
            } else {
                put<uint64_t>(out, v.numbers_i.size());
                for (int64_t i : v.numbers_i) {
                    put_int(out, v.array_type, i);
                }
            }
            break;
        }
        default: put_int(out, v.type, v.i); break;
    }
}

uint64_t align_up(uint64_t n, uint64_t alignment) {
    return (n + alignment - 1) / alignment * alignment;
}

}  // namespace

void Writer::set_alignment(uint32_t alignment) {
    GANNET_CHECK(alignment > 0 && std::has_single_bit(alignment));
    alignment_ = alignment;
    if (alignment != kDefaultAlignment || kv_index_.count("general.alignment") != 0) {
        set_u32("general.alignment", alignment);
    }
}

void Writer::set_encoded(std::string_view key, std::vector<uint8_t> encoded) {
    GANNET_CHECK(!key.empty());
    auto it = kv_index_.find(key);
    if (it != kv_index_.end()) {
        kvs_[it->second].encoded = std::move(encoded);
        return;
    }
    kv_index_.emplace(std::string(key), kvs_.size());
    kvs_.push_back(Kv{std::string(key), std::move(encoded)});
}

void Writer::set_value(std::string_view key, const Value& v) {
    std::vector<uint8_t> enc;
    put_type(&enc, v.type);
    put_value_body(&enc, v);
    set_encoded(key, std::move(enc));
}

namespace {

Value int_value(ValueType t, int64_t i) {
    Value v;
    v.type = t;
    v.i = i;
    return v;
}

Value float_value(ValueType t, double f) {
    Value v;
    v.type = t;
    v.f = f;
    return v;
}

}  // namespace

void Writer::set_u8(std::string_view key, uint8_t v) {
    set_value(key, int_value(ValueType::kU8, v));
}
void Writer::set_i8(std::string_view key, int8_t v) {
    set_value(key, int_value(ValueType::kI8, v));
}
void Writer::set_u16(std::string_view key, uint16_t v) {
    set_value(key, int_value(ValueType::kU16, v));
}
void Writer::set_i16(std::string_view key, int16_t v) {
    set_value(key, int_value(ValueType::kI16, v));
}
void Writer::set_u32(std::string_view key, uint32_t v) {
    set_value(key, int_value(ValueType::kU32, v));
}
void Writer::set_i32(std::string_view key, int32_t v) {
    set_value(key, int_value(ValueType::kI32, v));
}
void Writer::set_u64(std::string_view key, uint64_t v) {
    set_value(key, int_value(ValueType::kU64, static_cast<int64_t>(v)));
}
void Writer::set_i64(std::string_view key, int64_t v) {
    set_value(key, int_value(ValueType::kI64, v));
}
void Writer::set_f32(std::string_view key, float v) {
    set_value(key, float_value(ValueType::kF32, v));
}
void Writer::set_f64(std::string_view key, double v) {
    set_value(key, float_value(ValueType::kF64, v));
}
void Writer::set_bool(std::string_view key, bool v) {
    set_value(key, int_value(ValueType::kBool, v ? 1 : 0));
}

void Writer::set_string(std::string_view key, std::string_view s) {
    Value v;
    v.type = ValueType::kString;
    v.str = s;
    set_value(key, v);
}

void Writer::set_array_strings(std::string_view key, std::span<const std::string> values) {
    Value v;
    v.type = ValueType::kArray;
    v.array_type = ValueType::kString;
    v.strings.assign(values.begin(), values.end());
    set_value(key, v);
}

void Writer::set_array_ints(std::string_view key, ValueType elem_type, std::span<const int64_t> values) {
    GANNET_CHECK(!is_float(elem_type) && elem_type != ValueType::kString && elem_type != ValueType::kArray);
    Value v;
    v.type = ValueType::kArray;
    v.array_type = elem_type;
    v.numbers_i.assign(values.begin(), values.end());
    set_value(key, v);
}

void Writer::set_array_floats(std::string_view key, ValueType elem_type, std::span<const double> values) {
    GANNET_CHECK(is_float(elem_type));
    Value v;
    v.type = ValueType::kArray;
    v.array_type = elem_type;
    v.numbers_f.assign(values.begin(), values.end());
    set_value(key, v);
}

Status Writer::add_tensor(std::string_view name, tensor::DType dtype, std::span<const int64_t> shape,
                          std::span<const uint8_t> data) {
    const std::string n(name);
    if (n.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "gguf writer: empty tensor name");
    }
    if (tensor_index_.count(n) != 0) {
        return make_error(ErrorCode::kAlreadyExists, "gguf writer: duplicate tensor '%s'", n.c_str());
    }
    if (shape.size() > 4) {
        return make_error(ErrorCode::kInvalidArgument, "gguf writer: tensor '%s' has %zu dims, at most 4", n.c_str(),
                          shape.size());
    }
    uint64_t n_elements = 1;
    for (int64_t d : shape) {
        if (d < 0 || __builtin_mul_overflow(n_elements, static_cast<uint64_t>(d), &n_elements)) {
            return make_error(ErrorCode::kInvalidArgument, "gguf writer: tensor '%s' has a bad dim %" PRId64, n.c_str(),
                              d);
        }
    }
    const int64_t row = shape.empty() ? 1 : shape[0];
    const int64_t bs = tensor::block_size(dtype);
    if (row % bs != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "gguf writer: tensor '%s' row of %" PRId64 " is not a multiple of the %s block size %" PRId64,
                          n.c_str(), row, tensor::dtype_name(dtype), bs);
    }
    const uint64_t expected = n_elements / static_cast<uint64_t>(bs) * tensor::type_size_bytes(dtype);
    if (data.size() != expected) {
        return make_error(ErrorCode::kInvalidArgument,
                          "gguf writer: tensor '%s' has %zu bytes, %s shape needs %" PRIu64, n.c_str(), data.size(),
                          tensor::dtype_name(dtype), expected);
    }
    tensor_index_.emplace(n, tensors_.size());
    tensors_.push_back(PendingTensor{n, dtype, std::vector<int64_t>(shape.begin(), shape.end()),
                                     std::vector<uint8_t>(data.begin(), data.end())});
    return Status();
}

Status Writer::add_tensor_f32(std::string_view name, tensor::DType dtype, std::span<const int64_t> shape,
                              std::span<const float> values) {
    const int64_t row = shape.empty() ? 1 : shape[0];
    int64_t n_elements = 1;
    for (int64_t d : shape) {
        if (d < 0 || __builtin_mul_overflow(n_elements, d, &n_elements)) {
            return make_error(ErrorCode::kInvalidArgument, "gguf writer: tensor '%.*s' has a bad dim %" PRId64,
                              static_cast<int>(name.size()), name.data(), d);
        }
    }
    if (static_cast<uint64_t>(n_elements) != values.size() || row % tensor::block_size(dtype) != 0) {
        return make_error(
            ErrorCode::kInvalidArgument,
            "gguf writer: tensor '%.*s' has %zu values for %" PRId64 " elements in rows of %" PRId64 " (%s)",
            static_cast<int>(name.size()), name.data(), values.size(), n_elements, row, tensor::dtype_name(dtype));
    }
    const int64_t n_rows = row == 0 ? 0 : n_elements / row;
    const size_t row_bytes = tensor::row_size_bytes(dtype, row);
    std::vector<uint8_t> data(row_bytes * static_cast<size_t>(n_rows));
    for (int64_t r = 0; r < n_rows; ++r) {
        GANNET_RETURN_IF_ERROR(tensor::quantize_row(dtype, values.data() + r * row, data.data() + r * row_bytes, row));
    }
    return add_tensor(name, dtype, shape, data);
}

std::vector<uint8_t> Writer::serialize_header() const {
    std::vector<uint8_t> out;
    put<uint32_t>(&out, 0x46554747);  // "GGUF"
    put<uint32_t>(&out, kVersion);
    put<uint64_t>(&out, tensors_.size());
    put<uint64_t>(&out, kvs_.size());
    for (const Kv& kv : kvs_) {
        put_string(&out, kv.key);
        out.insert(out.end(), kv.encoded.begin(), kv.encoded.end());
    }
    uint64_t offset = 0;
    for (const PendingTensor& t : tensors_) {
        put_string(&out, t.name);
        put<uint32_t>(&out, static_cast<uint32_t>(t.shape.size()));
        for (int64_t d : t.shape) {
            put<uint64_t>(&out, static_cast<uint64_t>(d));
        }
        put<uint32_t>(&out, static_cast<uint32_t>(t.dtype));
        put<uint64_t>(&out, offset);
        offset = align_up(offset + t.data.size(), alignment_);
    }
    out.resize(align_up(out.size(), alignment_), 0);
    return out;
}

std::vector<uint8_t> Writer::serialize() const {
    std::vector<uint8_t> out = serialize_header();
    for (const PendingTensor& t : tensors_) {
        // Pad after every tensor, the last included: ggml's gguf reader loads the data section as
        // sum(padded sizes) bytes and fails on a file that ends without the final padding.
        out.insert(out.end(), t.data.begin(), t.data.end());
        out.resize(align_up(out.size(), alignment_), 0);
    }
    return out;
}

// Writes to a temporary file beside path, then renames it over path: a reader that has the old
// file mapped keeps its pages (a truncate in place would SIGBUS it), and a failed write never
// leaves a half-written file under the final name.
Status Writer::write(const std::string& path) const {
    struct Closer {
        void operator()(std::FILE* f) const { std::fclose(f); }
    };
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    std::unique_ptr<std::FILE, Closer> f(std::fopen(tmp.c_str(), "wb"));
    if (!f) {
        return make_error(ErrorCode::kInvalidArgument, "gguf writer: %s: cannot create: %s", path.c_str(),
                          std::strerror(errno));
    }
    const std::vector<uint8_t> header = serialize_header();
    bool ok = std::fwrite(header.data(), 1, header.size(), f.get()) == header.size();
    const std::vector<uint8_t> zeros(alignment_, 0);
    for (size_t k = 0; ok && k < tensors_.size(); ++k) {
        const std::vector<uint8_t>& d = tensors_[k].data;
        ok = std::fwrite(d.data(), 1, d.size(), f.get()) == d.size();
        const size_t pad = static_cast<size_t>(align_up(d.size(), alignment_) - d.size());
        if (ok && pad > 0) {
            ok = std::fwrite(zeros.data(), 1, pad, f.get()) == pad;
        }
    }
    // fsync before the rename: some filesystems report a full disk only there (delayed
    // allocation, NFS), and a crash after the rename must not leave the name on unwritten blocks.
    ok = ok && std::fflush(f.get()) == 0 && ::fsync(::fileno(f.get())) == 0;
    int write_errno = errno;
    if (std::fclose(f.release()) != 0 && ok) {
        ok = false;
        write_errno = errno;
    }
    if (!ok) {
        std::remove(tmp.c_str());
        // A full disk or a file-size limit is a resource the user can free, not a bad argument.
        const bool is_full = write_errno == ENOSPC || write_errno == EFBIG || write_errno == EDQUOT;
        return make_error(is_full ? ErrorCode::kResourceExhausted : ErrorCode::kInvalidArgument,
                          "gguf writer: %s: write failed: %s (the previous file, if any, is unchanged)", path.c_str(),
                          std::strerror(write_errno));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int rename_errno = errno;
        std::remove(tmp.c_str());
        return make_error(ErrorCode::kInvalidArgument, "gguf writer: %s: cannot replace: %s", path.c_str(),
                          std::strerror(rename_errno));
    }
    return Status();
}

}  // namespace gannet::gguf
