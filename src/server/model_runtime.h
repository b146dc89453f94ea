// The model runtime: everything between a GGUF path and an engine taking requests — the model, its
// tokenizer and chat template (ChatML when the file has none), the paged KV cache sizing, and the
// engine over the runner of the chosen device (cpu: runner::Runner; cuda: runner::CudaRunner).
// `gannet serve` mounts the result on its HTTP server; `gannet run` and `gannet bench` send it one
// request each through Engine::generate. Owner: server. Thread-safety: create() is pure; the
// runtime is then used as OpenAiRuntime says.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "base/result.h"
#include "engine/margin_gate.h"
#include "model/model.h"
#include "multimodal/media_part.h"
#include "runner/step_runner.h"
#include "server/openai_routes.h"

namespace gannet::server {

struct ModelRuntimeOptions {
    std::string model_path;
    int64_t n_ctx = 0;               // prompt + completion per request; 0: the model's, at most 8192
    int64_t n_kv_blocks = 0;         // paged KV blocks of 16 tokens; 0: n_kv_contexts, at most 1 GiB
                                     // (cuda: at most the device memory after the weights, less 3 GiB)
    int64_t n_kv_contexts = 64;      // with n_kv_blocks 0: room for this many full contexts (>= 1)
    int64_t max_batch_tokens = 512;  // tokens per engine step
    int n_threads = 1;               // compute threads (resolved: >= 1)
    // --deterministic (engine/margin_gate.h): kInvariant makes cuda multiply one token per product (the
    // CPU path always is batch-invariant); kMargin/kAlways verify greedy rows on the reference path.
    engine::Determinism determinism = engine::Determinism::kOff;
    float margin_tau = engine::kDefaultMarginTau;  // --margin-tau
    std::string device = "cpu";                    // cpu or cuda
    std::string kv_type = "f32";                   // f32, f16, q8_0 or q4_0 (cuda: f32 or f16)
    std::string placement = "device";              // cuda weights: device, mapped or stream (memory/placement.h)
    int64_t vram_budget_bytes = -1;                // cuda: device bytes for weights; -1: free memory
    // Image/audio input: projectors from this file (--mmproj), else from the model file when it has them.
    std::string mmproj_path = "";
    multimodal::MediaOptions media_options = {};
    int64_t max_media_parts = 8;  // --max-media-parts: image/audio parts per request
    // --sparse-attention: off, quest, msa, or default (msa for a model with an MSA index branch,
    // else off). Requests may override it (OpenAI field "sparse_attention").
    std::string sparse_attention = "default";
};

class ModelRuntime {
public:
    // kInvalidArgument for sizes outside their ranges (the message names the flag and the range),
    // an unknown device, kv type, placement or sparse-attention mode (msa on a model without an index
    // branch); kUnimplemented for sparse attention on cuda, cuda without a CUDA build, with a q8_0 /
    // q4_0 cache or a gemma4 model; errors of loading the model, tokenizer, template and projectors
    // (kDataLoss for an --mmproj file without projector tensors).
    static Result<std::shared_ptr<OpenAiRuntime>> create(const ModelRuntimeOptions& options);
};

// One sequence outside any engine, through the runner of a device (the one forward of each backend):
// what `gannet logits` and `gannet perplexity` score with. Not thread-safe.
class SequenceRunner {
public:
    // Borrows model (it must outlive the result). n_positions: the longest pos + n a call may reach.
    // device "cpu" or "cuda"; kv_type as ModelRuntimeOptions (cuda: f32 or f16). kInvalidArgument for
    // an unknown device or n_positions < 1; kUnimplemented for cuda without a CUDA build or with a
    // quantized cache; the runners' errors.
    static Result<std::unique_ptr<SequenceRunner>> create(model::Model& model, const std::string& device,
                                                          int64_t n_positions, int n_threads, tensor::DType kv_type);
    // Tokens at [pos, pos + n) after the positions before pos (computed by earlier calls). Logits of
    // the last token (kLast) or of every token (kAll), valid until the next call.
    Result<std::span<const float>> run(std::span<const int32_t> tokens, int32_t pos, model::LogitsMode mode) {
        return run_(tokens, pos, mode);
    }

private:
    using RunFn = std::function<Result<std::span<const float>>(std::span<const int32_t>, int32_t, model::LogitsMode)>;
    SequenceRunner(std::unique_ptr<runner::StepRunner> owner, RunFn run)
        : owner_(std::move(owner)), run_(std::move(run)) {}
    std::unique_ptr<runner::StepRunner> owner_;
    RunFn run_;
};

}  // namespace gannet::server
