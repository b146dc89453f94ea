// URI-reference resolution (RFC 3986 section 5) for $id/$ref, plus the small helpers the schema
// compiler needs: splitting off a fragment and percent-decoding JSON Pointer fragments. No I/O:
// URIs are identifiers here, never fetched. Thread-safety: free functions, no state.
#pragma once

#include <string>
#include <string_view>

namespace gannet::jsonschema {

// Resolves `ref` against the absolute `base` (RFC 3986 5.2, with dot-segment removal). A `ref` that
// has its own scheme is returned normalised. An empty fragment ("x#") is dropped.
std::string resolve_uri(std::string_view base, std::string_view ref);

// Splits "a#b" into ("a", "b"); has_fragment is false when there is no '#'.
struct UriParts {
    std::string base;
    std::string fragment;
    bool has_fragment = false;
};
UriParts split_fragment(std::string_view uri);

// Percent-decodes %XX sequences; invalid escapes are kept as they are.
std::string percent_decode(std::string_view text);

// Percent-encodes characters not allowed in a URI fragment (for absoluteKeywordLocation).
std::string fragment_encode(std::string_view text);

}  // namespace gannet::jsonschema
