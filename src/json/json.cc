#include "json/json.h"

#include <exception>

#include "base/mapped_file.h"

namespace gannet::json {

Status check_depth(std::string_view text, int max_depth) {
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;  // skip the escaped character, which may be a quote
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) {
                return make_error(ErrorCode::kResourceExhausted,
                                  "json: nesting depth exceeds the limit of %d at byte %zu", max_depth, i);
            }
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return Status();
}

Result<nlohmann::json> parse(std::string_view text, const ParseLimits& limits) {
    if (text.size() > limits.max_size_bytes) {
        return make_error(ErrorCode::kResourceExhausted, "json: document of %zu bytes exceeds the limit of %zu bytes",
                          text.size(), limits.max_size_bytes);
    }
    GANNET_RETURN_IF_ERROR(check_depth(text, limits.max_depth));
    // nlohmann throws parse_error on malformed input; errors are values here, so catch at the boundary.
    try {
        return nlohmann::json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::exception& e) {
        return make_error(ErrorCode::kInvalidArgument, "json: %s", e.what());
    } catch (const std::exception& e) {
        return make_error(ErrorCode::kInternal, "json: %s", e.what());
    }
}

Result<nlohmann::json> parse_file(const std::string& path, const ParseLimits& limits) {
    GANNET_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
    const std::string_view text(reinterpret_cast<const char*>(file.bytes().data()), file.size_bytes());
    Result<nlohmann::json> doc = parse(text, limits);
    if (!doc.has_value()) {
        return Status(doc.error().code(), path + ": " + doc.error().message());
    }
    return doc;
}

std::string escape_pointer_token(std::string_view token) {
    std::string out;
    out.reserve(token.size());
    for (char c : token) {
        if (c == '~') {
            out += "~0";
        } else if (c == '/') {
            out += "~1";
        } else {
            out += c;
        }
    }
    return out;
}

std::string dump(const nlohmann::json& value) {
    return value.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

}  // namespace gannet::json
