#include "jsonschema/schema_registry.h"

#include "json/json.h"

namespace gannet::jsonschema {

Status SchemaRegistry::add(const std::string& uri, nlohmann::json schema) {
    const size_t hash = uri.find('#');
    if (hash != std::string::npos && hash + 1 != uri.size()) {
        return make_error(ErrorCode::kInvalidArgument, "jsonschema: registry uri '%s' has a fragment", uri.c_str());
    }
    const std::string key = uri.substr(0, hash);
    if (!schemas_.emplace(key, std::move(schema)).second) {
        return make_error(ErrorCode::kAlreadyExists, "jsonschema: schema '%s' is already registered", key.c_str());
    }
    return Status();
}

Status SchemaRegistry::add_directory(const std::string& url_prefix, const std::string& dir) {
    if (url_prefix.empty() || dir.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "jsonschema: remote mapping needs a URL prefix and a folder");
    }
    directories_.emplace_back(url_prefix, dir);
    return Status();
}

Status SchemaRegistry::add_directory_mapping(const std::string& mapping) {
    // The URL itself contains ':' and maybe '=' in a query, so split on the last '='.
    const size_t eq = mapping.rfind('=');
    if (eq == std::string::npos) {
        return make_error(ErrorCode::kInvalidArgument, "jsonschema: --remote expects URL_PREFIX=DIR, got '%s'",
                          mapping.c_str());
    }
    return add_directory(mapping.substr(0, eq), mapping.substr(eq + 1));
}

Result<nlohmann::json> SchemaRegistry::load(const std::string& uri) const {
    if (auto it = schemas_.find(uri); it != schemas_.end()) {
        return it->second;
    }
    for (const auto& [prefix, dir] : directories_) {
        if (uri.compare(0, prefix.size(), prefix) != 0) {
            continue;
        }
        const std::string rest = uri.substr(prefix.size());
        if (rest.find("..") != std::string::npos || rest.find('?') != std::string::npos) {
            return make_error(ErrorCode::kInvalidArgument, "jsonschema: refusing remote path '%s'", rest.c_str());
        }
        return json::parse_file(dir + "/" + rest);
    }
    return make_error(ErrorCode::kNotFound, "jsonschema: no schema registered for '%s' (no network access)",
                      uri.c_str());
}

}  // namespace gannet::jsonschema
