// EntropyBoundSampler: one denoising step of DiffusionGemma's block diffusion over a canvas of
// logits, exactly as transformers' generation_diffusion_gemma.py defines it (#18):
//   processed = logits / T, T = t_min + (t_max - t_min) * cur_step / N (cur_step counts N..1);
//   sampled   = a draw from softmax(processed) per position; argmax = argmax(processed);
//   accept    = the positions, sorted by entropy of processed ascending, whose prefix satisfies
//               cumsum(H) - H_i <= entropy_bound (so the lowest-entropy one always is, EB-sampler,
//               arXiv 2505.24857); canvas = accept ? sampled : canvas; the rest is renoised with
//               uniform random tokens;
//   stop      = the argmax canvas equals those of the last stability_threshold steps and the mean
//               entropy of processed < confidence_threshold (StableAndConfidentStoppingCriteria).
// The caller keeps `processed` as the next step's self-conditioning logits and appends the argmax
// canvas when the loop stops. Random draws come from a seeded std::mt19937_64: one seed, one text.
// Owner: sampling. Thread-safety: not thread-safe (RNG, history, buffers); one per sequence.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "base/result.h"

namespace gannet::sampling {

// DiffusionGemmaGenerationConfig's defaults.
struct DiffusionSamplerConfig {
    int32_t max_denoising_steps = 48;
    float t_min = 0.4f;
    float t_max = 0.8f;
    float entropy_bound = 0.1f;
    int32_t stability_threshold = 1;  // 0: the canvas counts as stable at once
    float confidence_threshold = 0.005f;
    uint64_t seed = 0;
};

// The limits of a config, HF's validate() plus an upper bound on steps: kInvalidArgument naming
// the field, its value and the allowed range.
constexpr int32_t kMaxDenoisingSteps = 1024;
Status validate(const DiffusionSamplerConfig& cfg);

// T at `cur_step` (N..1), computed in float32 as transformers does with a tensor step.
float diffusion_temperature(const DiffusionSamplerConfig& cfg, int32_t cur_step);

// Shannon entropy (nats) of softmax(logits), accumulated in double. REQUIRES: !logits.empty().
double entropy_of_logits(std::span<const float> logits);

// The entropy-bound acceptance: accept[i] = 1 for the accepted positions. entropies [n], accept [n].
// Ties in entropy are ordered by position (a stable sort).
void entropy_bound_accept(std::span<const float> entropies, float entropy_bound, std::span<uint8_t> accept);

// StableAndConfidentStoppingCriteria for one sequence; reset() before each canvas.
class StableConfidentStop {
public:
    StableConfidentStop(int32_t stability_threshold, float confidence_threshold)
        : stability_threshold_(stability_threshold), confidence_threshold_(confidence_threshold) {}
    void reset() { history_.clear(); }
    // Feeds one step's argmax canvas and mean entropy; true when the loop should stop.
    bool update(std::span<const int32_t> argmax_canvas, double mean_entropy);

private:
    int32_t stability_threshold_;
    float confidence_threshold_;
    std::vector<std::vector<int32_t>> history_;  // the last stability_threshold argmax canvases, oldest first
};

// What one step decided (the canvas and argmax canvas are written into the caller's spans).
struct DenoiseStep {
    int32_t n_accepted = 0;
    double mean_entropy = 0.0;
    bool is_stop = false;
};

class EntropyBoundSampler {
public:
    // kInvalidArgument for a bad config (validate) or a canvas length / vocabulary < 1.
    static Result<EntropyBoundSampler> create(const DiffusionSamplerConfig& cfg, int32_t canvas_length,
                                              int32_t n_vocab);

    // A fresh canvas of uniform random tokens, and the stopping history cleared.
    // REQUIRES: canvas.size() == canvas_length.
    void start_canvas(std::span<int32_t> canvas);

    // One step at cur_step (max_denoising_steps .. 1). logits [canvas_length, n_vocab] are the
    // decoder's raw logits; processed receives logits / T (the next step's self-conditioning
    // logits, same shape); canvas is updated in place (accepted draws, the rest renoised);
    // argmax_canvas receives argmax(processed). REQUIRES: the sizes above; cur_step in range.
    DenoiseStep step(std::span<const float> logits, int32_t cur_step, std::span<float> processed,
                     std::span<int32_t> canvas, std::span<int32_t> argmax_canvas);

    const DiffusionSamplerConfig& config() const { return cfg_; }
    // The accept mask of the last step ([canvas_length], 1 = accepted).
    std::span<const uint8_t> last_accept() const { return accept_; }

private:
    EntropyBoundSampler(const DiffusionSamplerConfig& cfg, int32_t canvas_length, int32_t n_vocab);
    // Uniform in [0, 1) from 53 random bits (as Sampler: the same on every standard library).
    double uniform();
    int32_t random_token();

    DiffusionSamplerConfig cfg_;
    int32_t canvas_length_;
    int32_t n_vocab_;
    std::mt19937_64 rng_;
    StableConfidentStop stop_;
    std::vector<float> entropy_;    // [canvas_length]
    std::vector<uint8_t> accept_;   // [canvas_length]
    std::vector<int32_t> sampled_;  // [canvas_length]
};

}  // namespace gannet::sampling
