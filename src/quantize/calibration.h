// Importance weights from a calibration text: runs the model over tokens and records, for every
// matrix, the mean squared value of each input column (llama.cpp calls the result an "imatrix").
// Quantizing with these weights minimises the expected squared error of each matrix's OUTPUT on
// text like the calibration text, instead of the plain weight error. Owner: quantize helper.
// Thread-safety: one call at a time per model.
//
// The statistics come from the one forward (runner::Runner::run_sequence over
// model::Model::forward_batch) through the model's activation hook, which hands over each matrix's
// input rows; there is no second copy of the layer steps to drift from the real one.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "model/model.h"
#include "quantize/quantizer.h"

namespace gannet::quantize {

struct CalibrationResult {
    ImportanceMap importance;   // tensor name -> [n_in] mean squared input activation
    int64_t n_tokens = 0;       // tokens run
    std::vector<float> logits;  // [n_vocab] logits of the last token (for tests)
};

// Runs tokens through the model in independent windows of n_ctx tokens (positions restart at 0 in
// each; the last window may be shorter) on n_threads. With tied embeddings the output statistics
// are recorded under token_embd.weight. The model's activation hook is set during the call and
// cleared after. Errors: kInvalidArgument for no tokens, n_ctx < 1 or above the training context,
// n_threads < 1, or a token id out of range; those of the forward.
Result<CalibrationResult> collect_importance(model::Model& model, std::span<const int32_t> tokens, int64_t n_ctx,
                                             int n_threads);

}  // namespace gannet::quantize
