// Small random-weight GGUF models of each supported architecture, with a tiny SentencePiece-style
// vocabulary (ASCII characters, a few merges, byte fallback), so forward passes, the commands and
// `make demo` can run before trained models exist. Deterministic for a given seed.
// Owner: model. Thread-safety: pure.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "gguf/gguf_writer.h"
#include "tensor/dtype.h"

namespace gannet::model {

struct TestModelOptions {
    std::string arch = "llama";                 // llama, qwen2, qwen3, gemma3 or gemma4
    tensor::DType dtype = tensor::DType::kF32;  // of the matrices and token_embd; vectors stay f32
    uint64_t seed = 1;
    int64_t n_layers = 0;  // 0: 2, or 6 for gemma3/4 (five sliding layers, then a global one)
    int64_t n_ctx = 512;   // <arch>.context_length
    bool is_tied = false;  // omit output.weight (tied embeddings)
    // Sizes; 0 picks the tiny defaults (64 wide, 4 heads over 2 kv heads, FFN 128). Larger values
    // give benchmark-sized models. n_embd must be a multiple of n_heads and of 32 (quant blocks).
    int64_t n_embd = 0;
    int64_t n_ff = 0;
    int64_t n_heads = 0;
    int64_t n_kv_heads = 0;
    // 0 keeps the tiny vocabulary; a larger value pads it with normal word pieces ("▁a", "▁ab", ...)
    // so a benchmark model has a real model's output matrix (e.g. 32000 for TinyLlama's shape) and
    // what it generates streams as text.
    int64_t n_vocab = 0;
    // Benchmark-sized models (billions of weights): matrices ~ uniform with the same variance as
    // the normal default, drawn from a counter-based hash and quantized on all cores, ~50x faster
    // than the serial normal draws. Different weights from the default for the same seed.
    bool is_fast_random = false;
};

// The model as an in-memory writer. kInvalidArgument for an unknown arch or inconsistent sizes;
// kUnimplemented when
// dtype has no quantizer.
Result<gguf::Writer> build_test_model(const TestModelOptions& options);
// build_test_model() written to path.
Status write_test_model(const TestModelOptions& options, const std::string& path);

}  // namespace gannet::model
