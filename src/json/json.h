// Thin helpers over nlohmann-json: parsing that returns a Status instead of throwing, with limits
// on document size and nesting depth checked before the DOM is built, plus JSON Pointer token
// escaping. Owner: jsonschema helper. Thread-safety: free functions, no shared state.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.h"

namespace gannet::json {

struct ParseLimits {
    size_t max_size_bytes = size_t{256} << 20;  // a tool result larger than this is hostile
    int max_depth = 512;                        // arrays/objects nested deeper than this are refused
};

// Errors: kResourceExhausted when a limit is exceeded, kInvalidArgument for malformed JSON
// (message carries the byte offset from nlohmann).
Result<nlohmann::json> parse(std::string_view text, const ParseLimits& limits = {});

// parse() on a whole file; kNotFound when the file is missing. Messages name the path.
Result<nlohmann::json> parse_file(const std::string& path, const ParseLimits& limits = {});

// kResourceExhausted if arrays/objects in `text` nest deeper than max_depth. Strings are skipped,
// so brackets inside them do not count. Linear time, no allocation.
Status check_depth(std::string_view text, int max_depth);

// JSON Pointer (RFC 6901) token escaping: '~' -> "~0", '/' -> "~1".
std::string escape_pointer_token(std::string_view token);

// Compact serialisation that never throws (invalid UTF-8 is replaced).
std::string dump(const nlohmann::json& value);

}  // namespace gannet::json
