// The model runtime: everything between a GGUF path and an engine taking requests — the model, its
// tokenizer and chat template (ChatML when the file has none), the paged KV cache sizing, and the
// engine over the runner of the chosen device (cpu: runner::Runner; cuda: runner::CudaRunner).
// `gannet serve` mounts the result on its HTTP server; `gannet run` and `gannet bench` send it one
// request each through Engine::generate. Owner: server. Thread-safety: create() is pure; the
// runtime is then used as OpenAiRuntime says.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"
#include "server/openai_routes.h"

namespace gannet::server {

struct ModelRuntimeOptions {
    std::string model_path;
    int64_t n_ctx = 0;               // prompt + completion per request; 0: the model's, at most 8192
    int64_t n_kv_blocks = 0;         // paged KV blocks of 16 tokens; 0: n_kv_contexts, at most 1 GiB
    int64_t n_kv_contexts = 64;      // with n_kv_blocks 0: room for this many full contexts (>= 1)
    int64_t max_batch_tokens = 512;  // tokens per engine step
    int n_threads = 1;               // compute threads (resolved: >= 1)
    bool is_deterministic = false;   // cuda: one token per product (the CPU path always is)
    std::string device = "cpu";      // cpu or cuda
    std::string kv_type = "f32";     // f32, f16, q8_0 or q4_0 (cuda: f32 only)
    // --sparse-attention: off, quest, msa, or default (msa for a model with an MSA index branch,
    // else off). Requests may override it (OpenAI field "sparse_attention").
    std::string sparse_attention = "default";
};

class ModelRuntime {
public:
    // kInvalidArgument for sizes outside their ranges (the message names the flag and the range),
    // an unknown device, kv type or sparse-attention mode (msa on a model without an index branch);
    // kUnimplemented for sparse attention on cuda, or cuda without a CUDA build or with a non-f32
    // cache; errors of loading the model, tokenizer and template.
    static Result<std::shared_ptr<OpenAiRuntime>> create(const ModelRuntimeOptions& options);
};

}  // namespace gannet::server
