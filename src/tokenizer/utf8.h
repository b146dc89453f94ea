// UTF-8 helpers and the GPT-2 byte-level alphabet (each byte <-> one printable code point) shared
// by the tokenizers. Owner: tokenizer. Thread-safety: pure functions and immutable tables.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gannet::tokenizer {

// Length of the UTF-8 sequence starting at s[pos]; 1 for an invalid or truncated sequence, so a
// byte string always splits into pieces that cover it exactly. REQUIRES: pos < s.size().
size_t utf8_char_len(std::string_view s, size_t pos);

// Appends code point cp (REQUIRES: cp <= 0x10FFFF) as UTF-8.
void append_utf8(uint32_t cp, std::string* out);

// GPT-2's byte-level alphabet: byte b as the UTF-8 of its stand-in code point ('!'..'~', '¡'..'¬',
// '®'..'ÿ' map to themselves; the other 68 bytes to U+0100.. in order).
const std::array<std::string, 256>& byte_to_unicode();

// The inverse on a whole string: each stand-in code point back to its byte. Code points outside
// the alphabet are copied through as their UTF-8 (never happens for byte-level vocab text).
std::string unicode_to_bytes(std::string_view text);

}  // namespace gannet::tokenizer
