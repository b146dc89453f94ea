// Embedder: /v1/embeddings' compute, and the prompt scoring of completions' echo with logprobs
// (the engine keeps only each prompt's last logits). Its own load of the served GGUF (the file is mapped, so the
// weights are shared through the page cache; only activations and a one-context KV cache are new),
// its own runner and one worker thread, so the engine's loop and its KV blocks are never touched.
// Each input runs the one CPU forward (Model::forward_batch through Runner::run_sequence) for its
// final-normed hidden states, pooled and L2-normalised. Owner: server. Thread-safety: submit() is
// safe from any thread; the done callbacks run on the worker thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "model/model.h"
#include "runner/runner.h"

namespace gannet::server {

// How the hidden rows of one input become one vector: the GGUF's <arch>.pooling_type (llama.cpp's
// numbering: 1 mean, 2 cls, 3 last) when present, else mean.
enum class Pooling { kMean, kFirst, kLast };
const char* pooling_name(Pooling p);

using Embeddings = std::vector<std::vector<float>>;  // [n_inputs][n_embd], each of L2 norm 1

class Embedder {
public:
    // Loads model_path for embeddings of up to n_ctx tokens each. kUnimplemented when the GGUF
    // declares a pooling this server does not do (0 none, 4 rank: the model is not an embedding
    // model of a kind we pool); errors of Model::load and Runner::create.
    static Result<std::unique_ptr<Embedder>> create(const std::string& model_path, int32_t n_ctx, int n_threads);
    ~Embedder();  // finishes the queued jobs' callbacks with kCancelled, then joins

    // Queues one request's inputs (token ids, each 1..n_ctx long, ids in range: the caller checks).
    // `done` gets the vectors in input order, or the forward's error. kResourceExhausted (not
    // queued) when kMaxQueued requests wait.
    using Done = std::function<void(Result<Embeddings>)>;
    Status submit(std::vector<std::vector<int32_t>> inputs, Done done);

    // The logprob of each of tokens[1..] given the tokens before it (the model's raw distribution),
    // with the top_n best ids at each position, best first: tokens.size() - 1 entries. Queued as
    // submit(); the same errors.
    struct ScoredToken {
        int32_t token = 0;
        float logprob = 0.0f;
        std::vector<std::pair<int32_t, float>> top;
    };
    using Scored = std::vector<ScoredToken>;
    using ScoreDone = std::function<void(Result<Scored>)>;
    Status submit_score(std::vector<int32_t> tokens, int32_t top_n, ScoreDone done);

    int64_t dim() const { return model_->config().n_embd; }
    int64_t n_vocab() const { return model_->config().n_vocab; }
    int32_t n_ctx() const { return n_ctx_; }
    Pooling pooling() const { return pooling_; }

    static constexpr size_t kMaxQueued = 64;

private:
    // Runs on the worker thread; is_cancelled when the embedder stops before it ran.
    using Job = std::function<void(bool is_cancelled)>;
    Status enqueue(Job job);
    Embedder(std::unique_ptr<model::Model> model, std::unique_ptr<runner::Runner> runner, int32_t n_ctx,
             Pooling pooling);
    void loop();
    Result<std::vector<float>> embed_one(const std::vector<int32_t>& tokens);
    Result<Scored> score(const std::vector<int32_t>& tokens, int32_t top_n);

    std::unique_ptr<model::Model> model_;
    std::unique_ptr<runner::Runner> runner_;  // worker thread only
    int32_t n_ctx_;
    Pooling pooling_;

    std::mutex mu_;  // guards jobs_, is_stopping_
    std::condition_variable cv_;
    std::deque<Job> jobs_;
    bool is_stopping_ = false;
    std::thread thread_;
};

}  // namespace gannet::server
