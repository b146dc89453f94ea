// Internal: compiles a schema into a Program (program.h). Used by Validator::compile().
// Thread-safety: each call is independent; the registry is only read.
#pragma once

#include <memory>

#include "jsonschema/program.h"
#include "jsonschema/validator.h"

namespace gannet::jsonschema {

Result<std::shared_ptr<Program>> compile_program(const nlohmann::json& schema, const CompileOptions& options);

}  // namespace gannet::jsonschema
