// Format assertions for every format in the 2020-12 suite (RFC 3339 date-time/date/time/duration,
// RFC 5321/6531 email, RFC 1123/5890 hostnames, IPv4/IPv6, RFC 3986/3987 URI and IRI (references),
// RFC 6570 uri-template, uuid, RFC 6901 json-pointer, relative-json-pointer, ECMA-262 regex).
// Used only when format assertion is on. Thread-safety: pure functions.
#pragma once

#include <string_view>

namespace gannet::jsonschema {

using FormatCheck = bool (*)(std::string_view);

// The checker for a format name, or nullptr for unknown formats (which always pass).
FormatCheck find_format(std::string_view name);

}  // namespace gannet::jsonschema
