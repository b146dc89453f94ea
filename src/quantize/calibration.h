// Importance weights from a calibration text: runs the model over tokens and records, for every
// matrix, the mean squared value of each input column (llama.cpp calls the result an "imatrix").
// Quantizing with these weights minimises the expected squared error of each matrix's OUTPUT on
// text like the calibration text, instead of the plain weight error. Owner: quantize helper.
// Thread-safety: one call at a time per pool.
//
// Why a forward of its own: model::Model::forward exposes only logits, and the statistics need each
// matrix's input. This file repeats Model's layer steps (same kernels, same order: see
// src/model/transformer_block.cc) and records inputs on the way; calibration_test.cc checks its
// logits equal Model::forward's, so the two cannot drift apart unnoticed.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "gguf/gguf_file.h"
#include "quantize/quantizer.h"

namespace gannet::quantize {

struct CalibrationResult {
    ImportanceMap importance;   // tensor name -> [n_in] mean squared input activation
    int64_t n_tokens = 0;       // tokens run
    std::vector<float> logits;  // [n_vocab] logits of the last token (for tests)
};

// Runs tokens through the model in independent windows of n_ctx tokens (positions restart at 0 in
// each; the last window may be shorter). With tied embeddings the output statistics are recorded
// under token_embd.weight. Errors: those of model config/weight binding (kDataLoss,
// kUnimplemented), kInvalidArgument for no tokens, n_ctx < 1 or above the training context, or a
// token id out of range.
Result<CalibrationResult> collect_importance(const gguf::File& file, std::span<const int32_t> tokens, int64_t n_ctx,
                                             ThreadPool& pool);

}  // namespace gannet::quantize
