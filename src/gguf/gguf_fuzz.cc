// libFuzzer target for the GGUF reader: any byte string must parse or fail with a Status, never
// crash, hang, overflow or read out of bounds. Built only under clang with GANNET_FUZZ (not in ctest):
//   CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DGANNET_FUZZ=ON \
//       -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
//   cmake --build build-fuzz --target gguf_fuzz && build-fuzz/src/gguf/gguf_fuzz -max_total_time=60 corpus/
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gguf/gguf_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    gannet::Result<gannet::gguf::File> file =
        gannet::gguf::File::from_bytes(std::vector<uint8_t>(data, data + size), "fuzz");
    if (!file.has_value()) {
        return 0;
    }
    // Touch everything the parser promised is in bounds.
    size_t sum = 0;
    for (const auto& [key, value] : file->metadata()) {
        sum += key.size() + value.str.size() + value.strings.size() + value.array.size();
        for (std::string_view s : value.strings) {
            sum += s.empty() ? 0 : static_cast<uint8_t>(s.back());
        }
    }
    for (const gannet::gguf::TensorInfo& t : file->tensors()) {
        const std::span<const uint8_t> bytes = file->tensor_data(t);
        sum += bytes.empty() ? 0 : bytes.front() + bytes.back();
        sum += static_cast<size_t>(t.n_elements());
    }
    volatile size_t sink = sum;  // keeps the loads from being optimised away
    (void)sink;
    return 0;
}
