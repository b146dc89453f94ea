// Test-only helpers for GGUF tests: hand-encoding GGUF bytes (to build malformed files a Writer
// refuses to produce) and per-test temporary files. Not thread-safe; one test uses one instance.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace gannet::gguf::testing {

// Little-endian byte builder mirroring the GGUF encoding.
struct Bytes {
    std::vector<uint8_t> b;

    template <typename T>
    Bytes& put(T v) {
        const size_t at = b.size();
        b.resize(at + sizeof(T));
        std::memcpy(b.data() + at, &v, sizeof(T));
        return *this;
    }
    Bytes& u8(uint8_t v) { return put(v); }
    Bytes& u32(uint32_t v) { return put(v); }
    Bytes& u64(uint64_t v) { return put(v); }
    Bytes& str(std::string_view s) {
        u64(s.size());
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
    // magic, version, n_tensors, n_kv
    Bytes& header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
        b.insert(b.end(), {'G', 'G', 'U', 'F'});
        return u32(version).u64(n_tensors).u64(n_kv);
    }
    // A KV pair with a u32 value.
    Bytes& kv_u32(std::string_view key, uint32_t v) { return str(key).u32(4).u32(v); }
    // A tensor info: name, dims, ggml type, offset.
    Bytes& tensor(std::string_view name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
        str(name).u32(static_cast<uint32_t>(dims.size()));
        for (uint64_t d : dims) {
            u64(d);
        }
        return u32(type).u64(offset);
    }
    Bytes& pad_to(size_t alignment) {
        b.resize((b.size() + alignment - 1) / alignment * alignment, 0);
        return *this;
    }
    Bytes& zeros(size_t n) {
        b.resize(b.size() + n, 0);
        return *this;
    }
};

// A path under the test temp dir unique to this process and test.
inline std::string temp_path(std::string_view suffix) {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return ::testing::TempDir() + "gannet_gguf_" + std::to_string(::getpid()) + "_" + info->name() + "_"
           + std::string(suffix) + ".gguf";
}

inline std::string write_temp(const std::vector<uint8_t>& bytes, std::string_view suffix = "f") {
    const std::string path = temp_path(suffix);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return path;
}

}  // namespace gannet::gguf::testing
