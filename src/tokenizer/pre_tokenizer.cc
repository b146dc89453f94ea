#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pre_tokenizer.h"

#include <pcre2.h>

#include "tokenizer/utf8.h"

namespace gannet::tokenizer {
namespace {

// GPT-2's split: contractions, letters, digits, other symbols, and whitespace that does not eat the
// single space that belongs to the next word.
constexpr const char* kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
// Llama 3 / tiktoken cl100k: case-insensitive contractions, 1-3 digit groups, newlines kept apart.
constexpr const char* kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2: as Llama 3 but single digits.
constexpr const char* kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// DeepSeek LLM: explicit Latin/Greek/Cyrillic/... letter ranges, ASCII and full-width punctuation,
// CJK runs and digit runs.
constexpr const char* kDeepseekLlmLetters =
    "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af"
    "\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5"
    "\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba"
    "\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45"
    "\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe"
    "\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc"
    "\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"
    "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3"
    "\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06"
    "\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3"
    "\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df"
    "\U0001e900-\U0001e943]+";
constexpr const char* kCjk = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+";

// A pre-tokenizer name's regex sequence. Names follow llama.cpp's convert script, which writes
// tokenizer.ggml.pre; several families share one split.
std::vector<std::string> regex_sequence(std::string_view pre) {
    if (pre == "default") {
        return {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"};
    }
    if (pre == "llama3" || pre == "llama-bpe" || pre == "llama-v3" || pre == "dbrx" || pre == "smaug-bpe"
        || pre == "falcon3" || pre == "pixtral") {
        return {kLlama3};
    }
    if (pre == "qwen2" || pre == "qwen2.5" || pre == "qwen-2.5" || pre == "deepseek-r1-qwen" || pre == "stablelm2"
        || pre == "megrez") {
        return {kQwen2};
    }
    if (pre == "deepseek-llm") {
        return {"[\r\n]",
                kDeepseekLlmLetters,
                "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
                "\\s+$",
                kCjk,
                "\\p{N}+"};
    }
    if (pre == "deepseek-coder") {
        return {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kCjk, "\\p{N}"};
    }
    if (pre == "falcon") {
        return {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"};
    }
    if (pre == "starcoder" || pre == "refact" || pre == "command-r" || pre == "smollm" || pre == "codeshell"
        || pre == "exaone" || pre == "minerva-7b") {
        return {"\\p{N}", kGpt2};
    }
    if (pre == "gpt-2" || pre == "gpt2" || pre == "mpt" || pre == "olmo" || pre == "jais" || pre == "phi-2") {
        return {kGpt2};
    }
    return {};
}

struct CodeDeleter {
    void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
struct MatchDataDeleter {
    void operator()(pcre2_match_data* md) const { pcre2_match_data_free(md); }
};
using Code = std::unique_ptr<pcre2_code, CodeDeleter>;
using MatchData = std::unique_ptr<pcre2_match_data, MatchDataDeleter>;

// Appends the matches of `code` in `piece` and the gaps between them to `out`.
void split_piece(const pcre2_code* code, pcre2_match_data* md, std::string_view piece,
                 std::vector<std::string_view>* out) {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
    size_t start = 0;  // end of the last piece emitted
    size_t pos = 0;    // where the next search begins
    while (pos < piece.size()) {
        const int rc = pcre2_match(code, subject, piece.size(), pos, 0, md, nullptr);
        if (rc < 0) {
            break;  // no further match (or an error on hostile input: keep the rest as one piece)
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t m_begin = ov[0];
        const size_t m_end = ov[1];
        if (m_end == m_begin) {
            // Empty matches add no piece; step one character to guarantee progress.
            pos = m_begin + utf8_char_len(piece, m_begin);
            continue;
        }
        if (m_begin > start) {
            out->push_back(piece.substr(start, m_begin - start));
        }
        out->push_back(piece.substr(m_begin, m_end - m_begin));
        start = pos = m_end;
    }
    if (start < piece.size()) {
        out->push_back(piece.substr(start));
    }
}

}  // namespace

struct PreTokenizer::Impl {
    std::vector<Code> codes;
};

PreTokenizer::PreTokenizer() : impl_(std::make_unique<Impl>()) {}
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

std::vector<std::string> PreTokenizer::regexes_for(std::string_view pre) {
    return regex_sequence(pre);
}

Result<PreTokenizer> PreTokenizer::create(std::string_view pre) {
    const std::vector<std::string> regexes = regex_sequence(pre);
    if (regexes.empty()) {
        return make_error(ErrorCode::kUnimplemented, "tokenizer: pre-tokenizer '%.*s' is not supported",
                          static_cast<int>(pre.size()), pre.data());
    }
    PreTokenizer p;
    for (const std::string& re : regexes) {
        int err = 0;
        PCRE2_SIZE err_offset = 0;
        // MATCH_INVALID_UTF: user text may hold invalid UTF-8; such bytes never match and end up
        // in gap pieces, which byte-level BPE still encodes.
        Code code(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.c_str()), re.size(),
                                PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &err_offset, nullptr));
        if (code == nullptr) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof(msg));
            return make_error(ErrorCode::kInternal, "tokenizer: regex for '%.*s' does not compile at %zu: %s",
                              static_cast<int>(pre.size()), pre.data(), static_cast<size_t>(err_offset),
                              reinterpret_cast<const char*>(msg));
        }
        // JIT makes matching several times faster; without it (no JIT support) the interpreter runs.
        pcre2_jit_compile(code.get(), PCRE2_JIT_COMPLETE);
        p.impl_->codes.push_back(std::move(code));
    }
    return p;
}

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
    std::vector<std::string_view> pieces;
    if (text.empty()) {
        return pieces;
    }
    pieces.push_back(text);
    std::vector<std::string_view> next;
    for (const Code& code : impl_->codes) {
        MatchData md(pcre2_match_data_create_from_pattern(code.get(), nullptr));
        next.clear();
        for (std::string_view piece : pieces) {
            split_piece(code.get(), md.get(), piece, &next);
        }
        pieces.swap(next);
    }
    return pieces;
}

}  // namespace gannet::tokenizer
