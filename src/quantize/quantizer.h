// Post-training quantization of a GGUF file into another: copies the metadata (setting
// general.file_type), chooses a type for every tensor (plan rules, the default type, llama.cpp's
// output-matrix rule, fallbacks for rows a type cannot hold) and converts the data, row-parallel.
// Owner: quantize helper. Thread-safety: one call per output file; the pool must be idle.
//
// Type choice, in order (first that applies):
//   1. Tensors with fewer than 2 dims (norms, biases) and names ending in "_norm.weight" are copied
//      unchanged (they are F32 in every llama.cpp-made file; a few hundred KB at most).
//   2. A plan rule matching the name gives its type ("explicit"). If the row length is not a
//      multiple of that type's block size the whole run fails with kInvalidArgument.
//   3. Otherwise the default type; but output.weight (or token_embd.weight when the file has no
//      output.weight: tied embeddings) becomes Q6_K when the default is below Q6_K's precision,
//      as llama.cpp does (the output matrix is the most error-sensitive one).
//   4. A default-chosen type that cannot hold the row falls back with a warning: Q2_K/Q3_K ->
//      Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0 (llama.cpp picks IQ4_NL for the first two,
//      a type Gannet does not have); a row that is not a multiple of 32 -> F16.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "gguf/gguf_file.h"
#include "quantize/quantize_plan.h"
#include "tensor/dtype.h"

namespace gannet::quantize {

enum class ChoiceReason { kKeep, kPlan, kDefault, kOutputRule, kFallback };
const char* choice_reason_name(ChoiceReason r);

struct TensorChoice {
    std::string name;
    tensor::DType from = tensor::DType::kF32;
    tensor::DType to = tensor::DType::kF32;
    ChoiceReason reason = ChoiceReason::kDefault;
    int plan_rule = -1;  // index of the matching plan rule, -1 when none
};

// Per-column importance weights of each matrix, by tensor name: a vector of n_in (= shape[0])
// non-negative values, e.g. mean squared input activations over a calibration text.
using ImportanceMap = std::map<std::string, std::vector<float>, std::less<>>;

// Called before each tensor is converted: index (0-based), count, the choice, output bytes.
using QuantizeProgress = std::function<void(size_t index, size_t n_tensors, const TensorChoice&, uint64_t size_bytes)>;
// Called for each warning (fallbacks, unmatched plan rules, requantization).
using QuantizeWarning = std::function<void(const std::string& message)>;

struct QuantizeOptions {
    tensor::DType dtype = tensor::DType::kQ4_0;  // the default type
    const Plan* plan = nullptr;                  // optional; must outlive the call
    const ImportanceMap* importance = nullptr;   // optional; must outlive the call
    QuantizeProgress progress;
    QuantizeWarning warn;
};

struct QuantizeSummary {
    std::vector<TensorChoice> choices;
    uint64_t bytes_in = 0;   // tensor data only
    uint64_t bytes_out = 0;  // tensor data only
    uint64_t file_size_bytes = 0;
};

// The per-tensor choices, without converting anything. Errors (kInvalidArgument): a default type
// that is not a quantization target, a plan that matches no tensor at all, a plan rule whose type
// cannot hold a matched tensor's rows, an importance vector of the wrong length; kUnimplemented for
// a source tensor type that cannot be dequantized.
Result<std::vector<TensorChoice>> choose_types(const gguf::File& in, const QuantizeOptions& options);

// llama.cpp's general.file_type (llama_ftype) for a default type, e.g. Q4_K -> 14 (Q4_K_S).
uint32_t llama_ftype(tensor::DType dtype);

// choose_types() then writes out_path. Errors: those of choose_types, kInvalidArgument when the
// output cannot be written.
Result<QuantizeSummary> quantize_file(const gguf::File& in, const std::string& out_path, const QuantizeOptions& options,
                                      ThreadPool& pool);

}  // namespace gannet::quantize
