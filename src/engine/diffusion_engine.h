// DiffusionEngine: the request loop for block-diffusion models (diffusion_gemma, #18), behind the
// same Engine API (Engine::create hands a diffusion model to it; submit/cancel/generate/metrics
// forward here). One thread owns the paged KV cache, the requests and their samplers. Each step:
// the encoder (Model::forward_batch, causal, writes the cache) runs over every request's new
// tokens -- its prompt, or its last appended canvas -- in one batch; then the decoder
// (Model::forward_canvas, bidirectional, writes nothing) runs over every request's canvas in one
// batch, and each request's EntropyBoundSampler takes one denoising step. A canvas ends when the
// sampler's stopping rule fires or after max_denoising_steps; its argmax canvas is appended and
// emitted as one piece of text (streaming gives one canvas per chunk). EOS in a canvas ends the
// request (the tokens after it are dropped, as transformers pads them).
// Thread-safety: submit(), cancel(), metrics_text() from any thread; callbacks run on its thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "engine/engine.h"
#include "kvcache/kv_storage.h"
#include "model/model.h"
#include "sampling/entropy_bound_sampler.h"
#include "tokenizer/tokenizer.h"

namespace gannet::engine {

class DiffusionEngine {
public:
    // kInvalidArgument for a model that is not a diffusion model or bad sizes; kResourceExhausted
    // when the KV memory cannot be allocated. Starts the loop thread.
    static Result<std::unique_ptr<DiffusionEngine>> create(model::Model& model, const tokenizer::Tokenizer& tok,
                                                           const EngineConfig& config);
    ~DiffusionEngine();  // stops the loop; pending requests finish with kCancelled

    // kInvalidArgument for an empty prompt, a prompt whose canvases do not fit n_ctx, or a
    // parameter a diffusion model cannot honour (logprobs, top_p/top_k/min_p, penalties, logit
    // bias, constrained decoding, temperature <= 0, diffusion steps out of range, a deterministic
    // mode, image or audio input), each message naming it; kResourceExhausted when the queue is full.
    Result<uint64_t> submit(EngineRequest request);
    // All or none: every request is checked as submit() checks it before any is queued.
    Result<std::vector<uint64_t>> submit_batch(std::vector<EngineRequest> requests);
    void cancel(uint64_t handle);
    std::string metrics_text() const;

private:
    struct Live;
    Status validate(const EngineRequest& request) const;
    DiffusionEngine(model::Model& model, const tokenizer::Tokenizer& tok, const EngineConfig& config,
                    kvcache::KvStorage kv);
    void loop();
    void step();
    void admit_incoming();
    bool try_start(Live& r);  // allocates its blocks; false when the cache is full for now
    void encode_pending();
    void denoise();
    // Appends r's argmax canvas: text out, EOS / stop strings / max_tokens; true when r finished.
    bool append_canvas(Live& r);
    void finish(Live& r, FinishInfo info);
    void release(Live& r);

    model::Model& model_;
    const tokenizer::Tokenizer& tok_;
    EngineConfig config_;
    kvcache::KvStorage kv_;
    ThreadPool pool_;
    std::vector<kvcache::BlockId> free_blocks_;  // engine thread

    mutable std::mutex mu_;  // guards incoming_, cancels_, stop_
    std::condition_variable cv_;
    std::deque<std::pair<uint64_t, EngineRequest>> incoming_;
    std::unordered_set<uint64_t> cancels_;
    bool stop_ = false;
    uint64_t next_handle_ = 1;

    std::deque<std::unique_ptr<Live>> waiting_;   // engine thread: admitted, waiting for blocks
    std::vector<std::unique_ptr<Live>> running_;  // engine thread

    std::atomic<int64_t> n_requests_{0}, n_requests_ok_{0}, n_requests_err_{0}, n_prompt_tokens_{0},
        n_generation_tokens_{0}, n_decoder_passes_{0}, n_canvas_rows_{0}, n_canvases_{0};
    std::atomic<int32_t> g_running_{0}, g_waiting_{0};

    std::thread thread_;
};

}  // namespace gannet::engine
