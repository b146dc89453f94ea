// The embedded JSON Schema 2020-12 meta-schemas (meta_schemas.cc, generated data): the dialect
// schema and its vocabulary meta-schemas, including format-assertion. Immutable; thread-safe.
#pragma once

#include <span>

namespace gannet::jsonschema {

struct MetaSchemaText {
    const char* uri;   // the schema's $id
    const char* json;  // its text
};

std::span<const MetaSchemaText> meta_schema_texts();

}  // namespace gannet::jsonschema
