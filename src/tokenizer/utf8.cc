#include "tokenizer/utf8.h"

namespace gannet::tokenizer {

size_t utf8_char_len(std::string_view s, size_t pos) {
    const auto lead = static_cast<uint8_t>(s[pos]);
    size_t n = 1;
    if (lead >= 0xF0 && lead <= 0xF4) {
        n = 4;
    } else if (lead >= 0xE0) {
        n = lead <= 0xEF ? 3 : 1;
    } else if (lead >= 0xC2) {
        n = 2;
    }
    if (pos + n > s.size()) {
        return 1;
    }
    for (size_t i = 1; i < n; ++i) {
        if ((static_cast<uint8_t>(s[pos + i]) & 0xC0) != 0x80) {
            return 1;
        }
    }
    return n;
}

void append_utf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
        out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

namespace {

bool is_printable_byte(uint32_t b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

// Stand-in code point of each byte.
std::array<uint32_t, 256> make_byte_code_points() {
    std::array<uint32_t, 256> cps{};
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
        cps[b] = is_printable_byte(b) ? b : next++;
    }
    return cps;
}

}  // namespace

const std::array<std::string, 256>& byte_to_unicode() {
    static const std::array<std::string, 256> table = [] {
        std::array<std::string, 256> t;
        const std::array<uint32_t, 256> cps = make_byte_code_points();
        for (size_t b = 0; b < 256; ++b) {
            append_utf8(cps[b], &t[b]);
        }
        return t;
    }();
    return table;
}

std::string unicode_to_bytes(std::string_view text) {
    // Stand-ins are all below U+0144 (256 + 68), so a flat table indexed by code point suffices.
    static const std::array<int16_t, 0x144> inverse = [] {
        std::array<int16_t, 0x144> t;
        t.fill(-1);
        const std::array<uint32_t, 256> cps = make_byte_code_points();
        for (size_t b = 0; b < 256; ++b) {
            t[cps[b]] = static_cast<int16_t>(b);
        }
        return t;
    }();
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        const size_t n = utf8_char_len(text, pos);
        uint32_t cp = static_cast<uint8_t>(text[pos]);
        if (n == 2) {
            cp = ((cp & 0x1F) << 6) | (static_cast<uint8_t>(text[pos + 1]) & 0x3F);
        }
        if (((n == 1 && cp < 0x80) || n == 2) && cp < inverse.size() && inverse[cp] >= 0) {
            out.push_back(static_cast<char>(inverse[cp]));
        } else {
            out.append(text.substr(pos, n));
        }
        pos += n;
    }
    return out;
}

}  // namespace gannet::tokenizer
