// SchemaValidatorFactory: how mcp/ validates tool arguments (inputSchema) and structuredContent
// (outputSchema). The real implementation compiles JSON Schema 2020-12 with src/jsonschema/; until
// that part lands, BasicSchemaValidatorFactory checks only "type", "required" and "properties"
// (recursively) and says so in its name(). Owned by src/mcp/. Validators are immutable and
// thread-safe once compiled.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "mcp/rpc_error.h"

namespace gannet::mcp {

class SchemaValidator {
public:
    virtual ~SchemaValidator() = default;
    // Empty when valid; otherwise one line per failure, "<instance pointer>: <reason>".
    virtual std::vector<std::string> validate(const Json& instance) const = 0;
};

class SchemaValidatorFactory {
public:
    virtual ~SchemaValidatorFactory() = default;
    // kInvalidArgument for a schema that cannot be compiled (e.g. unresolvable $ref).
    virtual Result<std::shared_ptr<const SchemaValidator>> compile(const Json& schema) const = 0;
    virtual std::string name() const = 0;
};

// TEMPORARY adapter (not a JSON Schema implementation): type/required/properties only.
// TODO(mcp): replace with gannet_jsonschema when src/jsonschema/ lands (#4).
class BasicSchemaValidatorFactory final : public SchemaValidatorFactory {
public:
    Result<std::shared_ptr<const SchemaValidator>> compile(const Json& schema) const override;
    std::string name() const override { return "basic-subset (type/required/properties only; temporary)"; }
};

// The best factory this build has: the 2020-12 one when gannet_jsonschema is linked, else the basic one.
std::unique_ptr<SchemaValidatorFactory> make_default_schema_validator_factory();

}  // namespace gannet::mcp
