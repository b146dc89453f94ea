// libFuzzer target for the GGUF reader: any byte string must parse or fail with a Status, never
// crash, hang, overflow or read out of bounds. model_load_fuzz takes parsed files further (config,
// weights, tokenizer). Built only with -DGANNET_FUZZ=ON under clang (not in ctest): `make fuzz`
// (scripts/fuzz.sh) builds and runs it on fuzz/corpus/gguf_fuzz/.
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
