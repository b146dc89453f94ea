// Splits text into words before byte-level BPE, with the regex sequence that the vocab's
// tokenizer.ggml.pre names (the regexes of the reference Hugging Face tokenizers). Each regex in
// turn splits every piece into its matches and the gaps between them, both kept, so the pieces
// always concatenate back to the input. Owner: tokenizer. Thread-safety: immutable after create();
// split() may run on many threads at once (match data is per call).
//
// Regexes run on PCRE2 in UTF + UCP mode: \p{L}, \p{N}, \p{P}, \s follow the Unicode tables that
// ship with Debian's libpcre2 (Unicode 14 in 10.42), and lookahead such as \s+(?!\S) works as in
// the reference tokenizers, so no hand-written category tables or matchers are needed.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace gannet::tokenizer {

class PreTokenizer {
public:
    // kUnimplemented for an unknown pre-tokenizer name; kInternal if a regex fails to compile.
    static Result<PreTokenizer> create(std::string_view pre);
    // The regexes (PCRE2 syntax) used for a pre-tokenizer name; empty when unknown.
    static std::vector<std::string> regexes_for(std::string_view pre);

    // Views into `text`, in order, covering it exactly; empty pieces are never returned.
    std::vector<std::string_view> split(std::string_view text) const;

    PreTokenizer(PreTokenizer&&) noexcept;
    PreTokenizer& operator=(PreTokenizer&&) noexcept;
    ~PreTokenizer();

private:
    PreTokenizer();
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gannet::tokenizer
