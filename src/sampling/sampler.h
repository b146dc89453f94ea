// Sampler: picks the next token from a row of logits. The chain follows llama.cpp's default order:
// repetition penalty, top-k, top-p, min-p (the last two on untempered probabilities), temperature,
// then a draw from a seeded std::mt19937_64, so a seed reproduces a run on any platform.
// Temperature 0 is greedy (argmax, ties to the lowest id). Owner: sampling.
// Thread-safety: not thread-safe (holds the RNG and candidate buffers); one per sequence.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "base/result.h"

namespace gannet::sampling {

struct SamplerConfig {
    float temperature = 0.8f;     // 0: greedy
    int32_t top_k = 40;           // 0: off
    float top_p = 0.95f;          // 1: off; keep the smallest set with probability mass >= top_p
    float min_p = 0.05f;          // 0: off; keep tokens with p >= min_p * p_max
    float repeat_penalty = 1.0f;  // 1: off; logits of recent tokens: > 0 divided, <= 0 multiplied
    int32_t repeat_last_n = 64;   // how many of the latest history tokens the penalty looks at
    uint64_t seed = 0;
};

// The index of the largest logit, lowest index on ties. REQUIRES: !logits.empty().
int32_t argmax(std::span<const float> logits);

// llama.cpp's repetition penalty on the distinct ids among the last `last_n` of history.
void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> history, float penalty, int32_t last_n);

// Log-softmax of logits: the chosen token's log-probability (out) and the top_n best (id,
// log-probability), best first, ties to the lower id. REQUIRES: !logits.empty().
std::vector<std::pair<int32_t, float>> log_softmax_top(std::span<const float> logits, int32_t chosen, int32_t top_n,
                                                       float& chosen_logprob);

class Sampler {
public:
    // kInvalidArgument for a negative temperature or top_k, top_p outside (0, 1], min_p outside
    // [0, 1], or a non-positive repeat penalty.
    static Result<Sampler> create(const SamplerConfig& cfg);

    // Picks a token from logits [n_vocab]; history is the sequence so far (prompt and output) for the
    // repetition penalty. Steady-state calls do not allocate once the buffers reach n_vocab.
    int32_t sample(std::span<const float> logits, std::span<const int32_t> history);

    const SamplerConfig& config() const { return cfg_; }

private:
    explicit Sampler(const SamplerConfig& cfg) : cfg_(cfg), rng_(cfg.seed) {}
    // Uniform in [0, 1) from 53 random bits: the same on every standard library, unlike
    // std::uniform_real_distribution, whose algorithm is implementation-defined.
    double uniform();

    SamplerConfig cfg_;
    std::mt19937_64 rng_;
    std::vector<float> work_;                      // [n_vocab] penalized logits
    std::vector<std::pair<float, int32_t>> cand_;  // (logit, id) candidates, sorted descending
};

}  // namespace gannet::sampling
