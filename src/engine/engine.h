// Engine: the continuous-batching loop on one thread. It owns the scheduler, the runner (paged KV,
// batched forward) and each request's sampler, stop-string matcher and detokenizer. Requests come in
// through a bounded queue (submit(), any thread); text goes out through the request's callbacks,
// which run on the engine thread and must not block (the HTTP side hands them to its I/O strand).
// Thread-safety: submit(), cancel(), metrics_text() and stats are safe from any thread.
// Failure containment: an exception from a request's callback fails that request (kInternal); one
// from a step (runner, sampler, scheduler) fails every live request with kInternal, logs it and
// starts over with an empty scheduler. The loop thread never dies of an exception.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/result.h"
#include "engine/margin_gate.h"
#include "engine/metrics.h"
#include "model/model.h"
#include "runner/runner.h"
#include "runner/step_runner.h"
#include "sampling/logit_processor.h"
#include "sampling/sampler.h"
#include "sched/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace gannet::engine {

struct EngineConfig {
    int32_t n_ctx = 2048;       // longest prompt + completion
    int32_t n_kv_blocks = 512;  // paged KV blocks
    int32_t block_size = 16;
    int32_t max_batch_tokens = 512;
    int32_t max_running_seqs = 256;
    size_t max_queue = 4096;  // submit() beyond this: kResourceExhausted (HTTP 503)
    int n_threads = 1;
    bool is_deterministic = false;  // CPU: always batch-invariant; CudaRunner: set its is_deterministic
    // Requests without their own GenParams::determinism get this (margin_gate.h). kMargin/kAlways need
    // the runner's reference path (create() fails with kUnimplemented without one).
    Determinism determinism = Determinism::kOff;
    float margin_tau = kDefaultMarginTau;         // kMargin verifies greedy rows whose margin is below this (logits)
    tensor::DType kv_type = tensor::DType::kF32;  // paged K/V row type: f32, f16, q8_0 or q4_0
};

struct GenParams {
    int32_t max_tokens = 256;
    float temperature = 1.0f;
    float top_p = 1.0f;
    uint64_t seed = 0;
    std::vector<std::string> stop;
    bool ignore_eos = false;
    // Off by default (the OpenAI API has none of them); `gannet run` sets them.
    int32_t top_k = 0;
    float min_p = 0.0f;
    float repeat_penalty = 1.0f;
    int32_t repeat_last_n = 64;
    std::vector<std::pair<int32_t, float>> logit_bias;  // (token, added to its logit)
    float frequency_penalty = 0.0f;                     // OpenAI: logit -= f * count of the token in the output so far
    float presence_penalty = 0.0f;                      // OpenAI: logit -= p once the token is in the output
    int32_t top_logprobs = -1;                          // -1: no logprobs; 0..20: the sampled token's and the n best
    // Block-sparse attention of this request (CPU runner); kDefault: the model's (--sparse-attention).
    model::SparseMode sparse_attention = model::SparseMode::kDefault;
    // Masks each row before sampling (constrained decoding); one per request, not shared.
    std::shared_ptr<sampling::LogitProcessor> processor;
    // This request's determinism (the API's "deterministic"); nullopt: EngineConfig::determinism.
    // kMargin/kAlways verify greedy rows only, so they need temperature 0 when asked for here.
    std::optional<Determinism> determinism;
    // Diffusion models only (DiffusionEngine): denoising steps per canvas, 0 for the model's 48.
    int32_t diffusion_steps = 0;
};

// The log-probability (under the model's raw distribution) of one generated token.
struct TokenLogprob {
    int32_t token = 0;
    std::string bytes;  // its decoded bytes (may be a partial UTF-8 character)
    float logprob = 0.0f;
    std::vector<std::pair<std::string, float>> top;  // the top_logprobs best (bytes, logprob), best first
};

struct FinishInfo {
    Status status;              // non-OK: kCancelled (cancel(), shutdown), kInternal (see above) or a step's error
    std::string finish_reason;  // "stop" | "length"
    int32_t prompt_tokens = 0;
    int32_t completion_tokens = 0;
    int32_t cached_tokens = 0;
    double first_token_s = 0.0;  // from admission to the first token (the prefill)
    double decode_s = 0.0;       // from the first token to the last (completion_tokens - 1 decode steps)
    // Diffusion models: decoder passes (denoising steps) the request took; its tokens_per_forward is
    // completion_tokens / decoder_passes. first_token_s is then the prompt's encoding and decode_s
    // the denoising of every canvas. 0 for autoregressive models.
    int64_t decoder_passes = 0;
};

struct EngineRequest {
    std::vector<int32_t> prompt;
    // Multimodal soft tokens replacing the embeddings of some prompt positions (src/multimodal);
    // null for text. Needs the CPU runner (kUnimplemented otherwise).
    std::shared_ptr<const model::SoftTokens> soft;
    GenParams params;
    // Engine thread. on_text gets each piece of visible text (UTF-8 complete, stop strings held back).
    std::function<void(const std::string&)> on_text;
    std::function<void(const FinishInfo&)> on_finish;  // exactly once
    // Engine thread, each generated token before its text, when params.top_logprobs >= 0.
    std::function<void(const TokenLogprob&)> on_logprob;
    // Engine thread, each generated token before its text: its margin and what MarginGate did
    // (`gannet bench determinism` and the tests read it). Set, it makes every row compute its margin.
    std::function<void(const StepTrace&)> on_trace;
};

class DiffusionEngine;

class Engine {
public:
    // Borrows model and tokenizer (they must outlive the engine). Starts the loop thread. A
    // block-diffusion model (model.config().is_diffusion()) is run by a DiffusionEngine behind this
    // same API (diffusion_engine.h).
    static Result<std::unique_ptr<Engine>> create(model::Model& model, const tokenizer::Tokenizer& tok,
                                                  const EngineConfig& config);
    // The same with another runner (e.g. runner::CudaRunner), made for config's n_kv_blocks and
    // block_size; kInvalidArgument when runner is null.
    static Result<std::unique_ptr<Engine>> create(model::Model& model, const tokenizer::Tokenizer& tok,
                                                  const EngineConfig& config,
                                                  std::unique_ptr<runner::StepRunner> runner);
    ~Engine();  // stops the loop; pending requests finish with kCancelled

    // Queues a request; returns its handle for cancel(). kResourceExhausted when the queue is full,
    // kInvalidArgument for an empty prompt or when prompt + max_tokens exceeds n_ctx (message says so),
    // or a determinism this engine cannot give (margin/always with temperature > 0, invariant on a
    // runner that is not batch-invariant); kUnimplemented for margin/always without a reference path.
    Result<uint64_t> submit(EngineRequest request);
    // All or none, under one lock, so the engine admits them in the same step (a batch of exactly
    // these requests: `gannet bench determinism` co-batches prompts with fillers this way). Errors:
    // those of submit() for the first bad request, and then none is queued.
    Result<std::vector<uint64_t>> submit_batch(std::vector<EngineRequest> requests);
    // The client went away: the request stops at the next step and finishes with kCancelled.
    void cancel(uint64_t handle);

    // One request, synchronously: submit() and wait for its finish (the callbacks still run on the
    // engine thread, on_finish included). What `gannet run` and `gannet bench` use. Errors: those
    // of submit(), or the request's failure status. REQUIRES: not called on the engine thread.
    Result<FinishInfo> generate(EngineRequest request);

    std::string metrics_text() const;
    const EngineConfig& config() const { return config_; }
    // The runner's vocabulary (its logits' width); a diffusion model's own vocabulary (no runner).
    int64_t runner_vocab() const { return runner_ != nullptr ? runner_->n_vocab() : model_.config().n_vocab; }

private:
    struct Live;
    Engine(model::Model& model, const tokenizer::Tokenizer& tok, const EngineConfig& config,
           sched::SchedulerConfig sched_config, sched::Scheduler sched, std::unique_ptr<runner::StepRunner> runner);
    void loop();
    void step();
    // After an exception escaped step(): every live request fails with kInternal naming `what`.
    void recover(const std::string& what);
    void admit_incoming();
    void admit(uint64_t handle, EngineRequest request);
    void forget_soft_tokens(sched::SeqId id) {
        if (cpu_runner_ != nullptr) {
            cpu_runner_->forget_soft_tokens(id);
        }
    }
    // Checks request.soft against the prompt and keys its positions for the prefix cache.
    Status prepare_soft_tokens(EngineRequest& request) const;
    void finish(Live& r, FinishInfo info);
    void emit_token(Live& r, int32_t token, bool& is_finished);
    void publish_metrics();
    // Bias, penalties, the request's processor, then the sampler; reports logprobs. Sets
    // is_finished (and finishes r) when the processor refuses the token.
    int32_t sample_row(Live& r, std::span<const float> logits, std::span<const int32_t> history, bool& is_finished);
    // engine_gate.cc. The row a request's sampler sees: logits itself, or bias, penalties and the
    // processor's mask applied in buf.
    std::span<const float> prepare_row(Live& r, std::span<const float> logits, std::vector<float>& buf);
    // After the token is chosen from raw logits: the processor's accept, penalty counts, logprobs.
    void after_sample(Live& r, int32_t tok, std::span<const float> logits, bool& is_finished);
    // sample_row with MarginGate: when r is gated and the margin is below tau (or always), the row is
    // recomputed on the runner's reference path; if its token differs, that token is emitted and the
    // reference K/V replace the batch's. Calls on_trace.
    int32_t sample_gated(Live& r, const sched::ScheduledSeq& s, std::span<const float> logits,
                         std::span<const int32_t> history, bool& is_finished);
    // Whether any row of out belongs to a gated request (the step's logits must then outlive
    // run_reference(), which reuses the model's buffer).
    bool has_gated_row(const sched::SchedulerOutput& out) const;
    Status check_determinism(const GenParams& p) const;
    Status validate(const EngineRequest& request) const;  // submit()'s checks

    model::Model& model_;
    const tokenizer::Tokenizer& tok_;
    EngineConfig config_;
    sched::SchedulerConfig sched_config_;  // to start over after a failed step
    sched::Scheduler sched_;
    std::unique_ptr<runner::StepRunner> runner_;
    runner::Runner* cpu_runner_ = nullptr;  // runner_ when it is the CPU Runner (soft tokens need it)
    // Engine thread: the scheduler's counters already added to ours (a new scheduler starts at 0).
    int64_t prev_hit_ = 0, prev_admitted_ = 0, prev_preemptions_ = 0;
    std::vector<sched::SampledToken> sampled_;  // engine thread: reused by every step
    std::vector<float> step_logits_;            // engine thread: the step's logits while the gate verifies rows

    mutable std::mutex mu_;  // guards incoming_, cancels_, stop_
    std::condition_variable cv_;
    std::deque<std::pair<uint64_t, EngineRequest>> incoming_;
    std::unordered_set<uint64_t> cancels_;
    bool stop_ = false;
    uint64_t next_handle_ = 1;

    std::unordered_map<uint64_t, std::unique_ptr<Live>> live_;  // engine thread only
    std::unordered_map<sched::SeqId, uint64_t> by_seq_;

    mutable std::mutex metrics_mu_;
    Histogram ttft_{{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}};
    Histogram itl_{{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}};
    std::atomic<int64_t> n_requests_{0}, n_requests_ok_{0}, n_requests_err_{0}, n_requests_cancelled_{0},
        n_exceptions_{0}, n_prompt_tokens_{0}, n_generation_tokens_{0}, n_hit_tokens_{0}, n_query_tokens_{0},
        n_preemptions_{0}, n_steps_{0}, n_gated_rows_{0}, n_verified_rows_{0}, n_overrides_{0};
    std::atomic<int32_t> g_waiting_{0}, g_running_{0}, g_blocks_used_{0}, g_queue_{0};
    int32_t n_blocks_total_ = 0;

    std::unique_ptr<DiffusionEngine> diffusion_;  // set for diffusion models: every call goes there

    std::thread thread_;
};

}  // namespace gannet::engine
