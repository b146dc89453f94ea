// Tokenizer built from a GGUF file's tokenizer.ggml.* metadata: "llama" (SentencePiece with byte
// fallback) and "gpt2" (byte-level BPE with the pre-tokenizer named by tokenizer.ggml.pre).
// A vocab-only GGUF is enough. Thread-safety: immutable after from_gguf(); safe to share.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "gguf/gguf_file.h"
#include "tokenizer/vocab.h"

namespace gannet::tokenizer {

using TokenId = int32_t;

enum class AddBos { kDefault, kNo };  // kDefault follows tokenizer.ggml.add_bos_token

class Tokenizer {
public:
    // kDataLoss when tokenizer metadata is missing or inconsistent; kUnimplemented for an
    // unknown tokenizer.ggml.model or pre-tokenizer.
    static Result<std::unique_ptr<Tokenizer>> from_gguf(const gguf::File& file);
    // The same from a vocab built in memory (tests, converters). kDataLoss when the arrays are
    // inconsistent or a special id is out of range; kUnimplemented for an unknown pre-tokenizer.
    static Result<std::unique_ptr<Tokenizer>> from_vocab(Vocab vocab);
    virtual ~Tokenizer() = default;

    // Text to ids; special-token text such as "<|im_start|>" is matched as the special token.
    virtual std::vector<TokenId> encode(std::string_view text, AddBos add_bos) const = 0;
    // The bytes one token stands for (byte-fallback tokens give their byte; may be a partial UTF-8
    // sequence). Special/control tokens give their text only when render_special is kYes.
    enum class RenderSpecial { kNo, kYes };
    virtual std::string decode_token(TokenId id, RenderSpecial render_special) const = 0;
    // The text of a sequence. SentencePiece vocabs drop the one space that encode() prepends, so
    // decode(encode(x, AddBos::kNo), RenderSpecial::kNo) == x for text without special-token text.
    std::string decode(const std::vector<TokenId>& ids, RenderSpecial render_special) const;
    // The vocab's raw text of a token ("<|im_start|>", "▁Hello", "ĠHello"); empty when out of range.
    virtual const std::string& token_text(TokenId id) const = 0;

    virtual int32_t n_vocab() const = 0;
    virtual TokenId bos_id() const = 0;  // -1 when none
    virtual TokenId eos_id() const = 0;  // -1 when none
    virtual TokenId eot_id() const = 0;  // -1 when none (Llama 3 <|eot_id|>, ChatML <|im_end|>, ...)
    virtual bool adds_bos() const = 0;   // what AddBos::kDefault does
    // End-of-generation tokens (eos, eot, <|im_end|>, <end_of_turn>, ...), for stopping.
    virtual bool is_end_of_generation(TokenId id) const = 0;

protected:
    // True when decode() drops one leading space (SentencePiece vocabs with add_space_prefix).
    virtual bool decode_drops_leading_space() const { return false; }
};

}  // namespace gannet::tokenizer
