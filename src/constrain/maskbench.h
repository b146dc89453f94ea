// MaskBench (JSONSchemaBench's grammar-engine benchmark, github.com/guidance-ai/jsonschemabench,
// maskbench/data): for each schema file {"schema", "tests": [{"valid", "data"}]}, compile, then
// walk each test instance (compact JSON, tokenized by a real tokenizer) token by token, computing
// the mask before every token. A valid instance must be allowed at every token and end complete
// and valid; an invalid one must be refused somewhere (by a mask, or by the final validation).
// Owner: constrain. Thread-safety: one run at a time per call; no shared state.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/result.h"
#include "tokenizer/tokenizer.h"

namespace gannet::constrain {

struct MaskBenchOptions {
    std::string schemas_dir;  // *.json files
    int32_t limit = 0;        // first N files in name order; 0: all
    int32_t shard = 0;        // with n_shards > 1: only files whose index % n_shards == shard
    int32_t n_shards = 1;
    bool is_pattern_per_byte = true;  // MatcherOptions::is_pattern_per_byte
    int32_t max_whitespace = 0;       // the instances are compact; 0 keeps the grammar compact
    double schema_timeout_s = 60;     // a schema taking longer counts as a timeout (and fails)
    double slow_mask_us = 0;          // > 0: report each schema whose slowest mask took this CPU time
};

struct MaskBenchResult {
    int64_t n_schemas = 0;
    int64_t n_passing = 0;
    int64_t n_compile_errors = 0;
    int64_t n_validation_errors = 0;    // valid instances refused (schemas with at least one)
    int64_t n_invalidation_errors = 0;  // invalid instances accepted (schemas with at least one)
    int64_t n_timeouts = 0;
    int64_t n_tests = 0;
    int64_t n_tokens = 0;
    int64_t n_rejected_by_mask = 0;                            // invalid instances refused token by token
    int64_t n_rejected_at_end = 0;                             // invalid instances refused only by the final validation
    double mask_us_p50 = 0, mask_us_p99 = 0, mask_us_max = 0;  // wall clock
    double mask_cpu_us_p50 = 0, mask_cpu_us_p99 = 0, mask_cpu_us_max = 0;  // this thread's CPU time
    double compile_ms_p50 = 0, compile_ms_p99 = 0;
    // The JSON line `gannet bench constrain --json` prints last.
    std::string to_json() const;
};

// Errors: kNotFound for a missing folder; unreadable files count as compile errors.
// `progress` (may be empty) gets the file name and its verdict ("pass", "compile", ...).
Result<MaskBenchResult> run_maskbench(const MaskBenchOptions& options, const tokenizer::Tokenizer& tok,
                                      const std::function<void(const std::string&, const std::string&)>& progress);

}  // namespace gannet::constrain
