// Test-only: finds every count and integer field of a well-formed GGUF image (header counts, key
// and string lengths, value and array element types, integer metadata values, the first element of
// integer arrays, the first length in string arrays, array lengths, tensor n_dims, dims, types and
// offsets) so a mutator can overwrite each one in place. Walks the encoding independently of
// gguf::File's parser so the two cannot share a blind spot. Header-only; pure functions.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace gannet::gguf::testing {

struct Field {
    size_t offset = 0;  // of the little-endian integer in the file
    int width = 0;      // bytes: 1, 2, 4 or 8
    std::string name;   // "llama.block_count", "tokenizer.ggml.tokens[len]", "blk.0.attn_q.weight.dim1", ...
};

class FieldScanner {
public:
    explicit FieldScanner(std::span<const uint8_t> bytes) : bytes_(bytes) {}

    // Every field, in file order; nullopt when the image is not the well-formed GGUF v2/v3 it expects.
    std::optional<std::vector<Field>> scan() {
        uint64_t n_tensors = 0;
        uint64_t n_kv = 0;
        if (!skip(8) || !field(8, "header.n_tensors", &n_tensors) || !field(8, "header.n_kv", &n_kv)) {
            return std::nullopt;
        }
        for (uint64_t k = 0; k < n_kv; ++k) {
            std::string key;
            uint64_t type = 0;
            if (!string("", &key) || !field(4, key + "[type]", &type) || !value(type, key, 0)) {
                return std::nullopt;
            }
        }
        for (uint64_t t = 0; t < n_tensors; ++t) {
            std::string name;
            uint64_t n_dims = 0;
            if (!string("", &name)) {
                return std::nullopt;
            }
            fields_.back().name = name + "[name len]";
            if (!field(4, name + ".n_dims", &n_dims)) {
                return std::nullopt;
            }
            for (uint64_t d = 0; d < n_dims; ++d) {
                if (!field(8, name + ".dim" + std::to_string(d), nullptr)) {
                    return std::nullopt;
                }
            }
            if (!field(4, name + ".type", nullptr) || !field(8, name + ".offset", nullptr)) {
                return std::nullopt;
            }
        }
        return fields_;
    }

private:
    bool skip(uint64_t n) {
        if (n > bytes_.size() - pos_) {
            return false;
        }
        pos_ += n;
        return true;
    }
    // Records an integer of `width` bytes at the cursor (when `out` is null the value is not needed).
    bool field(int width, std::string name, uint64_t* out) {
        if (static_cast<size_t>(width) > bytes_.size() - pos_) {
            return false;
        }
        uint64_t v = 0;
        std::memcpy(&v, bytes_.data() + pos_, static_cast<size_t>(width));
        fields_.push_back({pos_, width, std::move(name)});
        pos_ += static_cast<size_t>(width);
        if (out != nullptr) {
            *out = v;
        }
        return true;
    }
    // A length-prefixed string; the length is recorded as `name`, or as "<the string>[key len]" when
    // name is empty, or not at all for `record` == false.
    bool string(const std::string& name, std::string* out, bool record = true) {
        uint64_t len = 0;
        if (record ? !field(8, name, &len) : !read_u64(&len)) {
            return false;
        }
        if (len > bytes_.size() - pos_) {
            return false;
        }
        out->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(len));
        if (record && name.empty()) {
            fields_.back().name = *out + "[key len]";
        }
        pos_ += len;
        return true;
    }
    bool read_u64(uint64_t* out) {
        if (8 > bytes_.size() - pos_) {
            return false;
        }
        std::memcpy(out, bytes_.data() + pos_, 8);
        pos_ += 8;
        return true;
    }
    // One value of GGUF type `type`; `index` > 0 inside arrays, where only the first element of each
    // integer array is recorded (the rest are the same kind of field).
    bool value(uint64_t type, const std::string& key, uint64_t index) {
        static constexpr int kWidth[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
        if (type > 12) {
            return false;
        }
        if (type == 8) {  // string
            std::string s;
            return string(key + "[str len]", &s, /*record=*/index == 0);
        }
        if (type == 9) {  // array: element type, length, elements
            uint64_t elem = 0;
            uint64_t n = 0;
            if (!field(4, key + "[elem type]", &elem) || !field(8, key + "[len]", &n)) {
                return false;
            }
            for (uint64_t k = 0; k < n; ++k) {
                if (!value(elem, key + "[]", k)) {
                    return false;
                }
            }
            return true;
        }
        const bool is_float = type == 6 || type == 12;
        if (is_float || index > 0) {
            return skip(static_cast<uint64_t>(kWidth[type]));
        }
        return field(kWidth[type], key, nullptr);
    }

    std::span<const uint8_t> bytes_;
    size_t pos_ = 0;
    std::vector<Field> fields_;
};

// Writes the low `width` bytes of v at f.offset.
inline void overwrite(std::vector<uint8_t>& bytes, const Field& f, uint64_t v) {
    std::memcpy(bytes.data() + f.offset, &v, static_cast<size_t>(f.width));
}

}  // namespace gannet::gguf::testing
