// A quantization plan: an ordered list of (tensor-name pattern -> type) rules read from JSON, for
// mixed precision by layer. The first rule whose pattern matches a tensor's full name wins;
// tensors no rule matches get the default type. Owner: quantize helper. Thread-safety: immutable
// after parse().
//
// File format (docs/quantization.md has the full description):
//   {
//     "description": "free text",                     (optional)
//     "default": "q4_0",                              (optional; `--type` overrides it)
//     "rules": [
//       {"match": "blk.*.ffn_*", "type": "q2_k"},     glob: '*' any run of characters (dots
//                                                       included), '?' one character
//       {"regex": "blk\\.(0|1)\\..*", "type": "q8_0"} ECMAScript regex, must match the whole name
//     ]
//   }
#pragma once

#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "tensor/dtype.h"

namespace gannet::quantize {

struct PlanRule {
    std::string pattern;  // as written in the file
    bool is_regex = false;
    std::regex regex;  // compiled pattern (globs are translated to a regex)
    tensor::DType dtype = tensor::DType::kF32;
};

class Plan {
public:
    // Errors (kInvalidArgument, naming the rule index): bad JSON, no "rules" array, a rule without
    // exactly one of "match"/"regex", a bad regex, an unknown or unwritable type name.
    static Result<Plan> parse(std::string_view json_text, std::string_view source_name);
    // parse() of a file's contents; kNotFound / kInvalidArgument when it cannot be read.
    static Result<Plan> load(const std::string& path);

    // Index of the first rule matching name, or nullopt.
    std::optional<size_t> match(std::string_view name) const;
    const std::vector<PlanRule>& rules() const { return rules_; }
    std::optional<tensor::DType> default_dtype() const { return default_dtype_; }
    const std::string& description() const { return description_; }

private:
    std::vector<PlanRule> rules_;
    std::optional<tensor::DType> default_dtype_;
    std::string description_;
};

// Parses a quantization type name as llama.cpp spells it, case-insensitive ("q4_0", "Q4_K",
// "f16", "bf16", "f32"); K-quant names may carry llama.cpp's "_S"/"_M" size suffix ("Q4_K_M" means
// Q4_K here: Gannet does not mix types inside one ftype; use a plan for that). kInvalidArgument
// listing the accepted names for anything else.
Result<tensor::DType> parse_quant_type(std::string_view name);
// True for the types `gannet quantize` writes.
bool is_quant_target(tensor::DType dtype);
// Comma-separated accepted names, for messages and --help.
const char* quant_type_names();

// The glob's equivalent ECMAScript regex ('.' and other metacharacters escaped).
std::string glob_to_regex(std::string_view glob);

}  // namespace gannet::quantize
