#include "gguf/gguf_file.h"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstring>
#include <limits>
#include <numeric>

#include "base/result.h"
#include "base/status.h"

// Parsing reads through a bounds-checked cursor: every read first checks that the bytes exist, and
// every count is checked against the bytes left divided by the smallest possible encoding of one
// element before anything is reserved, so memory use stays proportional to the file's size.

namespace gannet::gguf {

static_assert(std::endian::native == std::endian::little, "GGUF is little-endian; Gannet reads it in place");

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kMaxDims = 4;         // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 4;        // arrays of arrays: none in practice; a bound stops stack abuse
// Smallest encodings: a KV pair is a key length, 1 key byte, a type and a 1-byte value; a tensor
// info is a name length, 1 name byte, n_dims = 0, a type and an offset.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 4 + 8;

bool is_known_type(uint32_t t) {
    return t <= static_cast<uint32_t>(ValueType::kF64);
}

bool is_integer_type(ValueType t) {
    switch (t) {
        case ValueType::kU8:
        case ValueType::kI8:
        case ValueType::kU16:
        case ValueType::kI16:
        case ValueType::kU32:
        case ValueType::kI32:
        case ValueType::kU64:
        case ValueType::kI64: return true;
        default: return false;
    }
}

bool is_float_type(ValueType t) {
    return t == ValueType::kF32 || t == ValueType::kF64;
}

// Bytes of the smallest encoding of one value of type t (arrays: element type + count).
uint64_t min_value_bytes(ValueType t) {
    switch (t) {
        case ValueType::kU8:
        case ValueType::kI8:
        case ValueType::kBool: return 1;
        case ValueType::kU16:
        case ValueType::kI16: return 2;
        case ValueType::kU32:
        case ValueType::kI32:
        case ValueType::kF32: return 4;
        case ValueType::kU64:
        case ValueType::kI64:
        case ValueType::kF64:
        case ValueType::kString: return 8;
        case ValueType::kArray: return 12;
    }
    return 1;
}

// A key or name from the file, safe to print: at most 64 bytes, non-printables escaped.
std::string printable(std::string_view s) {
    std::string out;
    const size_t n = std::min<size_t>(s.size(), 64);
    for (size_t i = 0; i < n; ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
            out.push_back(static_cast<char>(c));
        } else {
            out += str_printf("\\x%02x", c);
        }
    }
    if (s.size() > n) {
        out += str_printf("...(%zu bytes)", s.size());
    }
    return out;
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) {
    return __builtin_mul_overflow(a, b, out);
}
bool add_overflows(uint64_t a, uint64_t b, uint64_t* out) {
    return __builtin_add_overflow(a, b, out);
}

}  // namespace

const char* value_type_name(ValueType t) {
    switch (t) {
        case ValueType::kU8: return "u8";
        case ValueType::kI8: return "i8";
        case ValueType::kU16: return "u16";
        case ValueType::kI16: return "i16";
        case ValueType::kU32: return "u32";
        case ValueType::kI32: return "i32";
        case ValueType::kF32: return "f32";
        case ValueType::kBool: return "bool";
        case ValueType::kString: return "string";
        case ValueType::kArray: return "array";
        case ValueType::kU64: return "u64";
        case ValueType::kI64: return "i64";
        case ValueType::kF64: return "f64";
    }
    return "?";
}

int64_t TensorInfo::n_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) {
        n *= d;  // File::open checked that the product fits
    }
    return n;
}

// Reads one file into a File. Holds the cursor; every error names the path and what was being read.
class Parser {
public:
    Parser(std::span<const uint8_t> bytes, const std::string& path) : bytes_(bytes), path_(path) {}

    Status parse(File* file);

private:
    Status corrupt(const std::string& msg) const {
        return make_error(ErrorCode::kDataLoss, "gguf: %s: %s", path_.c_str(), msg.c_str());
    }
    uint64_t remaining() const { return bytes_.size() - pos_; }
    Status need(uint64_t n, const char* what) const;
    template <typename T>
    Status read_raw(T* out, const char* what);
    Status read_string(std::string_view* out, const char* what);
    Status read_value(ValueType type, int depth, const std::string& key, Value* out);
    Status read_array(int depth, const std::string& key, Value* out);
    Status read_metadata(File* file, uint64_t n_kv);
    Status read_alignment(File* file);
    Status read_tensor_info(const File& file, TensorInfo* info);
    Status check_tensor_data(const File& file) const;

    std::span<const uint8_t> bytes_;
    const std::string& path_;
    uint64_t pos_ = 0;
};

Status Parser::need(uint64_t n, const char* what) const {
    if (n > remaining()) {
        return corrupt(str_printf("truncated: %s needs %" PRIu64 " bytes at offset %" PRIu64 ", file has %" PRIu64
                                  " left (size %zu)",
                                  what, n, pos_, remaining(), bytes_.size()));
    }
    return Status();
}

template <typename T>
Status Parser::read_raw(T* out, const char* what) {
    GANNET_RETURN_IF_ERROR(need(sizeof(T), what));
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));  // memcpy: the file gives no alignment
    pos_ += sizeof(T);
    return Status();
}

Status Parser::read_string(std::string_view* out, const char* what) {
    uint64_t len = 0;
    GANNET_RETURN_IF_ERROR(read_raw(&len, what));
    if (len > remaining()) {
        return corrupt(str_printf("%s at offset %" PRIu64 " has length %" PRIu64 ", past end of file (%" PRIu64
                                  " bytes left)",
                                  what, pos_ - 8, len, remaining()));
    }
    *out = std::string_view(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(len));
    pos_ += len;
    return Status();
}

Status Parser::read_value(ValueType type, int depth, const std::string& key, Value* out) {
    out->type = type;
    switch (type) {
        case ValueType::kU8: {
            uint8_t v = 0;
            GANNET_RETURN_IF_ERROR(read_raw(&v, "u8 value"));
            out->i = v;
            return Status();
        }
        case ValueType::kI8: {
            int8_t v = 0;
            GANNET_RETURN_IF_ERROR(read_raw(&v, "i8 value"));
            out->i = v;
            return Status();
        }
        case ValueType::kU16: {
            uint16_t v = 0;
            GANNET_RETURN_IF_ERROR(read_raw(&v, "u16 value"));
            out->i = v;
            return Status();
        }
        case ValueType::kI16: {
            int16_t v = 0;
            GANNET_RETURN_IF_ERROR(read_raw(&v, "i16 value"));
            out->i = v;
            return Status();
        }
        case ValueType::kU32: {
            uint32_t v = 0;
            GANNET_RETURN_IF_ERROR(read_raw(&v, "u32 value"));
            out->i = v;
            return Status();
        }
        case ValueType::kI32: {
            int32_t v = 0;
            GANNET_RETURN_IF_ERROR(read_raw(&v, "i32 value"));
            out->i = v;
            return Status();
        }
        case ValueType::kU64: {
            uint64_t v = 0;
            GANNET_RETURN_IF_ERROR(read_raw(&v, "u64 value"));
            out->i = static_cast<int64_t>(v);  // keeps the bits; get_int() rejects values above INT64_MAX
            return Status();
        }
        case ValueType::kI64: {
            GANNET_RETURN_IF_ERROR(read_raw(&out->i, "i64 value"));
            return Status();
        }
        case ValueType::kF32: {
            float v = 0;
            GANNET_RETURN_IF_ERROR(read_raw(&v, "f32 value"));
            out->f = v;
            return Status();
        }
        case ValueType::kF64: {
            GANNET_RETURN_IF_ERROR(read_raw(&out->f, "f64 value"));
            return Status();
        }
        case ValueType::kBool: {
            uint8_t v = 0;
            GANNET_RETURN_IF_ERROR(read_raw(&v, "bool value"));
            if (v > 1) {
                return corrupt(str_printf("key '%s': bool at offset %" PRIu64 " is %u, expected 0 or 1",
                                          printable(key).c_str(), pos_ - 1, v));
            }
            out->i = v;
            return Status();
        }
        case ValueType::kString: return read_string(&out->str, "string value");
        case ValueType::kArray: return read_array(depth + 1, key, out);
    }
    return corrupt("unreachable value type");
}

Status Parser::read_array(int depth, const std::string& key, Value* out) {
    if (depth > kMaxArrayDepth) {
        return corrupt(str_printf("key '%s': arrays nested deeper than %d", printable(key).c_str(), kMaxArrayDepth));
    }
    uint32_t raw_type = 0;
    GANNET_RETURN_IF_ERROR(read_raw(&raw_type, "array element type"));
    if (!is_known_type(raw_type)) {
        return corrupt(str_printf("key '%s': unknown array element type %u", printable(key).c_str(), raw_type));
    }
    const ValueType elem = static_cast<ValueType>(raw_type);
    uint64_t count = 0;
    GANNET_RETURN_IF_ERROR(read_raw(&count, "array length"));
    const uint64_t max_count = remaining() / min_value_bytes(elem);
    if (count > max_count) {
        return corrupt(str_printf("key '%s': array of %" PRIu64 " %s values cannot fit in the %" PRIu64
                                  " bytes left (at most %" PRIu64 ")",
                                  printable(key).c_str(), count, value_type_name(elem), remaining(), max_count));
    }
    out->array_type = elem;
    const size_t n = static_cast<size_t>(count);
    Value item;
    if (elem == ValueType::kString) {
        out->strings.reserve(n);
        for (size_t k = 0; k < n; ++k) {
            GANNET_RETURN_IF_ERROR(read_string(&item.str, "array string"));
            out->strings.push_back(item.str);
        }
    } else if (is_float_type(elem)) {
        out->numbers_f.reserve(n);
        for (size_t k = 0; k < n; ++k) {
            GANNET_RETURN_IF_ERROR(read_value(elem, depth, key, &item));
            out->numbers_f.push_back(item.f);
        }
    } else if (elem == ValueType::kArray) {
        out->array.resize(n);
        for (size_t k = 0; k < n; ++k) {
            GANNET_RETURN_IF_ERROR(read_value(elem, depth, key, &out->array[k]));
        }
    } else {  // integers and bools
        out->numbers_i.reserve(n);
        for (size_t k = 0; k < n; ++k) {
            GANNET_RETURN_IF_ERROR(read_value(elem, depth, key, &item));
            out->numbers_i.push_back(item.i);
        }
    }
    return Status();
}

Status Parser::read_metadata(File* file, uint64_t n_kv) {
    for (uint64_t k = 0; k < n_kv; ++k) {
        std::string_view key;
        GANNET_RETURN_IF_ERROR(read_string(&key, "metadata key"));
        if (key.empty()) {
            return corrupt(str_printf("metadata key %" PRIu64 " is empty", k));
        }
        std::string key_str(key);
        if (file->metadata_.count(key_str) != 0) {
            return corrupt(str_printf("duplicate metadata key '%s'", printable(key).c_str()));
        }
        uint32_t raw_type = 0;
        GANNET_RETURN_IF_ERROR(read_raw(&raw_type, "metadata value type"));
        if (!is_known_type(raw_type)) {
            return corrupt(str_printf("key '%s' has unknown value type %u", printable(key).c_str(), raw_type));
        }
        Value value;
        GANNET_RETURN_IF_ERROR(read_value(static_cast<ValueType>(raw_type), 0, key_str, &value));
        file->metadata_.emplace(std::move(key_str), std::move(value));
    }
    return Status();
}

Status Parser::read_alignment(File* file) {
    const Value* v = file->find_value("general.alignment");
    if (v == nullptr) {
        return Status();
    }
    if (!is_integer_type(v->type)) {
        return corrupt(str_printf("general.alignment is %s, expected u32", value_type_name(v->type)));
    }
    const uint64_t a = static_cast<uint64_t>(v->i);
    if (a == 0 || !std::has_single_bit(a) || a > std::numeric_limits<uint32_t>::max()) {
        return corrupt(str_printf("general.alignment %" PRId64 " is not a power of two", v->i));
    }
    file->alignment_ = static_cast<uint32_t>(a);
    return Status();
}

Status Parser::read_tensor_info(const File& file, TensorInfo* info) {
    std::string_view name;
    GANNET_RETURN_IF_ERROR(read_string(&name, "tensor name"));
    if (name.empty()) {
        return corrupt(str_printf("tensor %zu has an empty name", file.tensors_.size()));
    }
    info->name = std::string(name);
    const std::string shown = printable(name);
    uint32_t n_dims = 0;
    GANNET_RETURN_IF_ERROR(read_raw(&n_dims, "tensor n_dims"));
    if (n_dims > kMaxDims) {
        return corrupt(str_printf("tensor '%s' has %u dims, at most %u allowed", shown.c_str(), n_dims, kMaxDims));
    }
    uint64_t n_elements = 1;
    bool overflow = false;
    for (uint32_t d = 0; d < n_dims; ++d) {
        uint64_t dim = 0;
        GANNET_RETURN_IF_ERROR(read_raw(&dim, "tensor dim"));
        if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            return corrupt(str_printf("tensor '%s' dim %u is %" PRIu64 ", above INT64_MAX", shown.c_str(), d, dim));
        }
        info->shape.push_back(static_cast<int64_t>(dim));
        // Every partial product must fit too: with a later 0 dim the total would hide an overflow
        // that n_elements() (int64, left to right) would hit.
        overflow = overflow || mul_overflows(n_elements, dim, &n_elements)
                   || n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    }
    if (overflow) {
        return corrupt(str_printf("tensor '%s': element count of its %u dims overflows int64", shown.c_str(), n_dims));
    }
    uint32_t raw_type = 0;
    GANNET_RETURN_IF_ERROR(read_raw(&raw_type, "tensor type"));
    const std::optional<tensor::DType> dtype = tensor::dtype_from_ggml(raw_type);
    if (!dtype) {
        return corrupt(str_printf("tensor '%s' has unknown ggml type %u", shown.c_str(), raw_type));
    }
    info->dtype = *dtype;
    const int64_t bs = tensor::block_size(*dtype);
    const int64_t row = info->shape.empty() ? 1 : info->shape[0];
    if (row % bs != 0) {
        return corrupt(str_printf("tensor '%s': row of %" PRId64
                                  " elements is not a multiple of the %s block size %" PRId64,
                                  shown.c_str(), row, tensor::dtype_name(*dtype), bs));
    }
    // n_elements / bs blocks of type_size bytes; n_elements < 2^63 so only the multiply can overflow.
    if (mul_overflows(n_elements / static_cast<uint64_t>(bs), tensor::type_size_bytes(*dtype), &info->size_bytes)) {
        return corrupt(str_printf("tensor '%s': byte size overflows", shown.c_str()));
    }
    GANNET_RETURN_IF_ERROR(read_raw(&info->offset, "tensor offset"));
    if (info->offset % file.alignment_ != 0) {
        return corrupt(str_printf("tensor '%s' offset %" PRIu64 " is not a multiple of the alignment %u", shown.c_str(),
                                  info->offset, file.alignment_));
    }
    return Status();
}

// Every tensor lies inside the file and no two share a byte.
Status Parser::check_tensor_data(const File& file) const {
    const uint64_t size = bytes_.size();
    if (!file.tensors_.empty() && file.data_offset_ > size) {
        return corrupt(str_printf("data section starts at %" PRIu64 ", past end of file (size %" PRIu64 ")",
                                  file.data_offset_, size));
    }
    for (const TensorInfo& t : file.tensors_) {
        uint64_t begin = 0;
        uint64_t end = 0;
        if (add_overflows(file.data_offset_, t.offset, &begin) || add_overflows(begin, t.size_bytes, &end)
            || end > size) {
            return corrupt(str_printf("tensor '%s' data [offset %" PRIu64 ", %" PRIu64
                                      " bytes] runs past end of file (size %" PRIu64 ")",
                                      printable(t.name).c_str(), file.data_offset_ + t.offset, t.size_bytes, size));
        }
    }
    std::vector<size_t> order(file.tensors_.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return file.tensors_[a].offset < file.tensors_[b].offset; });
    for (size_t k = 1; k < order.size(); ++k) {
        const TensorInfo& a = file.tensors_[order[k - 1]];
        const TensorInfo& b = file.tensors_[order[k]];
        if (a.size_bytes != 0 && b.size_bytes != 0 && a.offset + a.size_bytes > b.offset) {
            return corrupt(str_printf("tensors '%s' [offset %" PRIu64 ", %" PRIu64 " bytes] and '%s' [offset %" PRIu64
                                      ", %" PRIu64 " bytes] overlap",
                                      printable(a.name).c_str(), a.offset, a.size_bytes, printable(b.name).c_str(),
                                      b.offset, b.size_bytes));
        }
    }
    return Status();
}

Status Parser::parse(File* file) {
    if (bytes_.size() < 8) {
        return corrupt(str_printf("file is %zu bytes, too small for a GGUF header", bytes_.size()));
    }
    uint32_t magic = 0;
    GANNET_RETURN_IF_ERROR(read_raw(&magic, "magic"));
    if (magic != kMagic) {
        return corrupt(str_printf("not a GGUF file (magic bytes %02x %02x %02x %02x, expected 'GGUF')", bytes_[0],
                                  bytes_[1], bytes_[2], bytes_[3]));
    }
    GANNET_RETURN_IF_ERROR(read_raw(&file->version_, "version"));
    if (file->version_ != 2 && file->version_ != 3) {
        const uint32_t swapped = __builtin_bswap32(file->version_);
        return corrupt(str_printf("unsupported GGUF version %u (supported: 2, 3)%s", file->version_,
                                  swapped == 2 || swapped == 3 ? "; big-endian GGUF is not supported" : ""));
    }
    uint64_t n_tensors = 0;
    uint64_t n_kv = 0;
    GANNET_RETURN_IF_ERROR(read_raw(&n_tensors, "tensor count"));
    GANNET_RETURN_IF_ERROR(read_raw(&n_kv, "metadata count"));
    if (n_kv > remaining() / kMinKvBytes) {
        return corrupt(
            str_printf("metadata count %" PRIu64 " cannot fit in the %" PRIu64 " bytes left", n_kv, remaining()));
    }
    GANNET_RETURN_IF_ERROR(read_metadata(file, n_kv));
    GANNET_RETURN_IF_ERROR(read_alignment(file));
    if (n_tensors > remaining() / kMinTensorInfoBytes) {
        return corrupt(
            str_printf("tensor count %" PRIu64 " cannot fit in the %" PRIu64 " bytes left", n_tensors, remaining()));
    }
    file->tensors_.reserve(static_cast<size_t>(n_tensors));
    for (uint64_t k = 0; k < n_tensors; ++k) {
        TensorInfo info;
        GANNET_RETURN_IF_ERROR(read_tensor_info(*file, &info));
        if (!file->tensor_index_.emplace(info.name, file->tensors_.size()).second) {
            return corrupt(str_printf("duplicate tensor name '%s'", printable(info.name).c_str()));
        }
        file->tensors_.push_back(std::move(info));
    }
    // pos_ <= size < 2^63, so rounding up cannot overflow.
    file->data_offset_ = (pos_ + file->alignment_ - 1) / file->alignment_ * file->alignment_;
    return check_tensor_data(*file);
}

Result<File> File::open(const std::string& path) {
    Result<MappedFile> mapped = MappedFile::open(path);
    if (!mapped.has_value()) {
        const Status& err = mapped.error();
        return make_error(err.code(), "gguf: %s", err.message().c_str());
    }
    File file;
    file.mapped_ = std::make_unique<MappedFile>(std::move(mapped).value());
    file.path_ = path;
    file.bytes_ = file.mapped_->bytes();
    GANNET_RETURN_IF_ERROR(file.parse());
    return file;
}

Result<File> File::from_bytes(std::vector<uint8_t> bytes, std::string name) {
    File file;
    file.owned_ = std::move(bytes);
    file.path_ = std::move(name);
    file.bytes_ = file.owned_;
    GANNET_RETURN_IF_ERROR(file.parse());
    return file;
}

Status File::parse() {
    Parser parser(bytes_, path_);
    return parser.parse(this);
}

const std::string& File::path() const {
    return path_;
}

size_t File::file_size_bytes() const {
    return bytes_.size();
}

const Value* File::find_value(std::string_view key) const {
    auto it = metadata_.find(key);
    return it == metadata_.end() ? nullptr : &it->second;
}

Result<const Value*> File::typed_value(std::string_view key, const char* expected,
                                       bool (*accepts)(const Value&)) const {
    const Value* v = find_value(key);
    if (v == nullptr) {
        return make_error(ErrorCode::kNotFound, "gguf: %s: missing key '%.*s'", path().c_str(),
                          static_cast<int>(key.size()), key.data());
    }
    if (!accepts(*v)) {
        return make_error(ErrorCode::kDataLoss, "gguf: %s: key '%.*s' is %s%s%s, expected %s", path().c_str(),
                          static_cast<int>(key.size()), key.data(), value_type_name(v->type),
                          v->type == ValueType::kArray ? " of " : "",
                          v->type == ValueType::kArray ? value_type_name(v->array_type) : "", expected);
    }
    return v;
}

Result<std::string> File::get_string(std::string_view key) const {
    GANNET_ASSIGN_OR_RETURN(const Value* v,
                            typed_value(key, "string", [](const Value& x) { return x.type == ValueType::kString; }));
    return std::string(v->str);
}

Result<int64_t> File::get_int(std::string_view key) const {
    GANNET_ASSIGN_OR_RETURN(const Value* v,
                            typed_value(key, "an integer", [](const Value& x) { return is_integer_type(x.type); }));
    if (v->type == ValueType::kU64 && v->i < 0) {
        return make_error(ErrorCode::kDataLoss, "gguf: %s: key '%.*s' is %" PRIu64 ", above INT64_MAX", path().c_str(),
                          static_cast<int>(key.size()), key.data(), static_cast<uint64_t>(v->i));
    }
    return v->i;
}

Result<double> File::get_float(std::string_view key) const {
    GANNET_ASSIGN_OR_RETURN(const Value* v, typed_value(key, "a number", [](const Value& x) {
                                return is_float_type(x.type) || is_integer_type(x.type);
                            }));
    if (is_float_type(v->type)) {
        return v->f;
    }
    return v->type == ValueType::kU64 ? static_cast<double>(static_cast<uint64_t>(v->i)) : static_cast<double>(v->i);
}

Result<bool> File::get_bool(std::string_view key) const {
    GANNET_ASSIGN_OR_RETURN(const Value* v,
                            typed_value(key, "bool", [](const Value& x) { return x.type == ValueType::kBool; }));
    return v->i != 0;
}

Result<int64_t> File::get_int_or(std::string_view key, int64_t fallback) const {
    return find_value(key) == nullptr ? Result<int64_t>(fallback) : get_int(key);
}

Result<double> File::get_float_or(std::string_view key, double fallback) const {
    return find_value(key) == nullptr ? Result<double>(fallback) : get_float(key);
}

Result<bool> File::get_bool_or(std::string_view key, bool fallback) const {
    return find_value(key) == nullptr ? Result<bool>(fallback) : get_bool(key);
}

Result<std::span<const std::string_view>> File::get_strings(std::string_view key) const {
    GANNET_ASSIGN_OR_RETURN(const Value* v, typed_value(key, "array of string", [](const Value& x) {
                                return x.type == ValueType::kArray && x.array_type == ValueType::kString;
                            }));
    return std::span<const std::string_view>(v->strings);
}

Result<std::span<const int64_t>> File::get_ints(std::string_view key) const {
    GANNET_ASSIGN_OR_RETURN(const Value* v, typed_value(key, "array of integers", [](const Value& x) {
                                return x.type == ValueType::kArray
                                       && (is_integer_type(x.array_type) || x.array_type == ValueType::kBool);
                            }));
    return std::span<const int64_t>(v->numbers_i);
}

Result<std::span<const double>> File::get_floats(std::string_view key) const {
    GANNET_ASSIGN_OR_RETURN(const Value* v, typed_value(key, "array of floats", [](const Value& x) {
                                return x.type == ValueType::kArray && is_float_type(x.array_type);
                            }));
    return std::span<const double>(v->numbers_f);
}

const TensorInfo* File::find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> File::tensor_data(const TensorInfo& info) const {
    // open() checked data_offset_ + offset + size_bytes <= file size for every tensor of this file.
    return bytes_.subspan(static_cast<size_t>(data_offset_ + info.offset), static_cast<size_t>(info.size_bytes));
}

}  // namespace gannet::gguf
