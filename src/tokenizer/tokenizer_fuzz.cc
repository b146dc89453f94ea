// libFuzzer target: tokenizer input. The first byte picks a vocabulary (the committed fixtures'
// SentencePiece and byte-level BPE vocabs, plus llama.cpp's reference vocabs from ../shared when
// present; GANNET_SHARED_DIR overrides where); the rest is text, often invalid UTF-8, encoded with and without BOS,
// then decoded token by token and whole. Nothing may crash, hang or leak. Seeds: fuzz/corpus/tokenizer_fuzz/.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/test_paths.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace {

std::vector<std::unique_ptr<gannet::tokenizer::Tokenizer>> load_vocabs() {
    std::vector<std::string> paths = {
        gannet::source_dir() + "/tests/fixtures/quant/tiny-q8_0.gguf",   // llama (SPM)
        gannet::source_dir() + "/tests/fixtures/models/qwen2-f32.gguf",  // gpt2 (BPE)
    };
    const std::filesystem::path shared = gannet::shared_data_dir() + "/third_party/llama.cpp-vocab";
    for (const char* name : {"ggml-vocab-llama-bpe.gguf", "ggml-vocab-qwen2.gguf", "ggml-vocab-llama-spm.gguf",
                             "ggml-vocab-gpt-2.gguf", "ggml-vocab-deepseek-coder.gguf"}) {
        if (std::filesystem::exists(shared / name)) {
            paths.push_back((shared / name).string());
        }
    }
    std::vector<std::unique_ptr<gannet::tokenizer::Tokenizer>> out;
    for (const std::string& path : paths) {
        gannet::Result<gannet::gguf::File> file = gannet::gguf::File::open(path);
        if (!file.has_value()) {
            continue;
        }
        gannet::Result<std::unique_ptr<gannet::tokenizer::Tokenizer>> tok =
            gannet::tokenizer::Tokenizer::from_gguf(*file);
        if (tok.has_value()) {
            out.push_back(std::move(*tok));  // owns its vocab: no views into the File
        }
    }
    std::fprintf(stderr, "tokenizer_fuzz: %zu of %zu vocabs loaded\n", out.size(), paths.size());
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::vector<std::unique_ptr<gannet::tokenizer::Tokenizer>> vocabs = load_vocabs();
    if (size == 0 || vocabs.empty()) {
        return 0;
    }
    const gannet::tokenizer::Tokenizer& tok = *vocabs[data[0] % vocabs.size()];
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    const std::vector<gannet::tokenizer::TokenId> ids = tok.encode(text, gannet::tokenizer::AddBos::kDefault);
    (void)tok.encode(text, gannet::tokenizer::AddBos::kNo);
    for (gannet::tokenizer::TokenId id : ids) {
        (void)tok.decode_token(id, gannet::tokenizer::Tokenizer::RenderSpecial::kYes);
    }
    (void)tok.decode(ids, gannet::tokenizer::Tokenizer::RenderSpecial::kNo);
    // Arbitrary ids, as a client's logit_bias or a hostile token list would give them.
    std::vector<gannet::tokenizer::TokenId> raw;
    for (size_t i = 1; i + 4 <= size && raw.size() < 64; i += 4) {
        int32_t id = 0;
        __builtin_memcpy(&id, data + i, 4);
        raw.push_back(id);
    }
    (void)tok.decode(raw, gannet::tokenizer::Tokenizer::RenderSpecial::kYes);
    return 0;
}
