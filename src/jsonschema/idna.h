// Host names for the "hostname" and "idn-hostname" formats: RFC 1123 LDH labels, A-labels
// (Punycode, RFC 3492) decoded and checked as U-labels, and IDNA2008 U-label rules (RFC 5891-5893):
// code point validity, CONTEXTJ/CONTEXTO rules and the Bidi rule. Code point properties come from
// PCRE2's Unicode tables; PVALID is approximated by general category (Ll Lo Lm Mn Mc Nd) plus the
// RFC 5892 exception list, which covers what the test suite and real host names exercise.
// Thread-safety: pure functions (the property regexes are immutable statics).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gannet::jsonschema::idna {

// allow_unicode=false: ASCII host names (A-labels are still decoded and checked).
bool check_hostname(std::string_view host, bool allow_unicode);

// RFC 3492 Punycode of one label (without "xn--"); false on malformed input or overflow.
bool punycode_decode(std::string_view input, std::vector<uint32_t>& out);
bool punycode_encode(const std::vector<uint32_t>& input, std::string& out);

}  // namespace gannet::jsonschema::idna
