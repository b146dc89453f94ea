// The tokenizer's view of a GGUF's tokenizer.ggml.* metadata: token texts, scores, types, merges,
// special ids and flags, owned as plain values so tests can build a vocab in memory. Owner:
// tokenizer. Thread-safety: a plain struct; immutable once handed to a Tokenizer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "gguf/gguf_file.h"

namespace gannet::tokenizer {

using TokenId = int32_t;

// tokenizer.ggml.token_type values (the SentencePiece piece types).
enum class TokenType : int32_t {
    kUndefined = 0,
    kNormal = 1,
    kUnknown = 2,
    kControl = 3,
    kUserDefined = 4,
    kUnused = 5,
    kByte = 6,
};

enum class VocabModel {
    kSpm,  // "llama": SentencePiece BPE by score with byte fallback
    kBpe,  // "gpt2": byte-level BPE with ranked merges and a regex pre-tokenizer
};

struct Vocab {
    VocabModel model = VocabModel::kSpm;
    std::string pre = "default";      // tokenizer.ggml.pre (kBpe only)
    std::vector<std::string> tokens;  // [n_vocab] token texts
    std::vector<float> scores;        // [n_vocab] or empty (all 0)
    std::vector<TokenType> types;     // [n_vocab] or empty (all kNormal)
    std::vector<std::string> merges;  // kBpe: "left right", rank = index
    TokenId bos_id = -1;
    TokenId eos_id = -1;
    TokenId eot_id = -1;
    TokenId eom_id = -1;
    TokenId unk_id = -1;
    bool add_bos = false;
    bool add_eos = false;
    bool add_space_prefix = true;  // kSpm: prepend U+2581 to text that starts a fragment
};

// The byte a SentencePiece byte-fallback token stands for ("<0xAB>" -> 0xAB); -1 for other text.
int byte_token_value(std::string_view text);

// Reads tokenizer.ggml.* from a GGUF. Errors: kDataLoss (missing or mistyped tokens array,
// arrays of mismatched length, special ids out of range, a merges-less gpt2 vocab),
// kUnimplemented (a tokenizer.ggml.model other than "llama" or "gpt2").
Result<Vocab> vocab_from_gguf(const gguf::File& file);

}  // namespace gannet::tokenizer
