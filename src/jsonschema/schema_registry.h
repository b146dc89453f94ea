// SchemaRegistry: the schemas a Validator may reference besides the root and the embedded 2020-12
// meta-schemas. Schemas are registered by URI, or found by mapping a URL prefix to a folder
// (`--remote http://localhost:1234/=suite/remotes`): a reference to PREFIX + "a/b.json" reads
// DIR/a/b.json. Nothing is ever fetched over the network. Not thread-safe while being filled;
// read-only (and shareable) once handed to compile().
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"

namespace gannet::jsonschema {

class SchemaRegistry {
public:
    // Registers `schema` under `uri` (fragment-less absolute URI). kInvalidArgument if uri has a
    // non-empty fragment; kAlreadyExists if uri is taken.
    Status add(const std::string& uri, nlohmann::json schema);
    // Maps every URI starting with `url_prefix` to a file under `dir`. kInvalidArgument on an empty prefix.
    Status add_directory(const std::string& url_prefix, const std::string& dir);
    // Parses "URL_PREFIX=DIR" (the --remote flag).
    Status add_directory_mapping(const std::string& mapping);

    // The schema for `uri`: registered, else read from a mapped folder. kNotFound when neither
    // has it; parse errors name the file. Paths containing ".." segments are refused.
    Result<nlohmann::json> load(const std::string& uri) const;

private:
    std::map<std::string, nlohmann::json> schemas_;
    std::vector<std::pair<std::string, std::string>> directories_;  // (url prefix, folder)
};

}  // namespace gannet::jsonschema
