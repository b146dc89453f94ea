// JSON Schema 2020-12 validator: compile a schema once (resolving $id, $anchor, $dynamicAnchor,
// $ref, $dynamicRef, JSON Pointers and $vocabulary against the embedded meta-schemas and the
// schemas registered in a SchemaRegistry; nothing is ever fetched over the network), then validate
// many instances. Owner: jsonschema helper.
// Thread-safety: a compiled Validator is immutable; validate() may run from any number of threads
// at once. Copies share the compiled program (cheap).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "jsonschema/schema_registry.h"

namespace gannet::jsonschema {

enum class FormatMode { kAnnotate, kAssert };  // 2020-12 default: format is an annotation
enum class OutputFormat { kFlag, kBasic };

struct CompileOptions {
    FormatMode format = FormatMode::kAnnotate;
    // Retrieval URI of the root schema when it has no absolute $id.
    std::string base_uri = "urn:gannet:schema";
    // Extra schemas by URI, and URL-prefix -> folder mappings; may be null. Only read during compile().
    const SchemaRegistry* registry = nullptr;
    // Evaluation depth (nested subschema applications) beyond which an instance is rejected with an
    // error instead of risking the stack: hostile deep instances and runaway $dynamicRef chains.
    int max_eval_depth = 1000;
    int max_schema_nodes = 200000;  // compiled subschemas; a bigger schema is refused
};

// One entry of the "basic" output format (JSON Schema core, section 12.4.2).
struct OutputUnit {
    std::string instance_location;          // JSON Pointer into the instance
    std::string keyword_location;           // path through the schema as evaluated (incl. $ref)
    std::string absolute_keyword_location;  // absolute URI of the failing keyword
    std::string error;                      // a readable message a model can act on
};

struct ValidationResult {
    bool valid = true;
    std::vector<OutputUnit> errors;  // empty for OutputFormat::kFlag
    // {"valid": ...} or {"valid": ..., "errors": [{instanceLocation, keywordLocation,
    // absoluteKeywordLocation, error}, ...]}
    nlohmann::json to_json(OutputFormat format) const;
};

struct Program;

class Validator {
public:
    // Errors: kInvalidArgument for a malformed schema (bad regex, unresolvable $ref, a reference
    // cycle that would never consume the instance, a required unknown vocabulary),
    // kNotFound for a $ref to a schema neither embedded nor registered,
    // kResourceExhausted when the schema exceeds max_schema_nodes.
    static Result<Validator> compile(const nlohmann::json& schema, const CompileOptions& options = {});

    // Fast path: no output, no allocation for typical tool schemas. False also when an evaluation
    // limit (depth, regex backtracking) is hit; validate(..., kBasic) then names the limit.
    bool validate(const nlohmann::json& instance) const;
    ValidationResult validate(const nlohmann::json& instance, OutputFormat format) const;

private:
    explicit Validator(std::shared_ptr<const Program> program) : program_(std::move(program)) {}
    std::shared_ptr<const Program> program_;
};

}  // namespace gannet::jsonschema
