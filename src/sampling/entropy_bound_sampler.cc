#include "sampling/entropy_bound_sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/check.h"

namespace gannet::sampling {

Status validate(const DiffusionSamplerConfig& cfg) {
    if (cfg.max_denoising_steps < 1 || cfg.max_denoising_steps > kMaxDenoisingSteps) {
        return make_error(ErrorCode::kInvalidArgument, "diffusion: max_denoising_steps is %d, expected 1..%d",
                          cfg.max_denoising_steps, kMaxDenoisingSteps);
    }
    if (!(cfg.t_min >= 0.0f) || !(cfg.t_max > cfg.t_min) || !std::isfinite(cfg.t_max)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "diffusion: temperatures t_min %g, t_max %g: expected 0 <= t_min < t_max", cfg.t_min,
                          cfg.t_max);
    }
    if (!(cfg.entropy_bound > 0.0f) || !std::isfinite(cfg.entropy_bound)) {
        return make_error(ErrorCode::kInvalidArgument, "diffusion: entropy_bound is %g, expected > 0",
                          cfg.entropy_bound);
    }
    if (cfg.stability_threshold < 0 || cfg.stability_threshold > cfg.max_denoising_steps) {
        return make_error(ErrorCode::kInvalidArgument, "diffusion: stability_threshold is %d, expected 0..%d",
                          cfg.stability_threshold, cfg.max_denoising_steps);
    }
    if (!(cfg.confidence_threshold > 0.0f) || !std::isfinite(cfg.confidence_threshold)) {
        return make_error(ErrorCode::kInvalidArgument, "diffusion: confidence_threshold is %g, expected > 0",
                          cfg.confidence_threshold);
    }
    return Status();
}

float diffusion_temperature(const DiffusionSamplerConfig& cfg, int32_t cur_step) {
    // transformers: t_min + (t_max - t_min) * (cur_step / N) with cur_step an int32 tensor, so the
    // fraction and the products are float32 while the Python constants enter as doubles rounded once.
    const auto frac = static_cast<float>(cur_step) / static_cast<float>(cfg.max_denoising_steps);
    const auto span = static_cast<float>(static_cast<double>(cfg.t_max) - static_cast<double>(cfg.t_min));
    return cfg.t_min + span * frac;
}

double entropy_of_logits(std::span<const float> logits) {
    const float m = *std::max_element(logits.begin(), logits.end());
    double z = 0.0;
    double weighted = 0.0;  // sum of e^(x - m) * (x - m)
    for (float x : logits) {
        const double d = static_cast<double>(x) - static_cast<double>(m);
        const double e = std::exp(d);
        z += e;
        weighted += e * d;
    }
    // H = -sum p log p = log z - sum(e * d) / z.
    return std::log(z) - weighted / z;
}

void entropy_bound_accept(std::span<const float> entropies, float entropy_bound, std::span<uint8_t> accept) {
    GANNET_CHECK(accept.size() == entropies.size());
    std::vector<int32_t> order(entropies.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
        return entropies[static_cast<size_t>(a)] < entropies[static_cast<size_t>(b)];
    });
    std::fill(accept.begin(), accept.end(), uint8_t{0});
    // In float32 like torch.cumsum over a float32 tensor: the sum before adding H_i is compared.
    float cum = 0.0f;
    for (int32_t i : order) {
        const float h = entropies[static_cast<size_t>(i)];
        cum += h;
        if (cum - h <= entropy_bound) {
            accept[static_cast<size_t>(i)] = 1;
        } else {
            break;  // sorted ascending with H >= 0: the left side only grows
        }
    }
}

bool StableConfidentStop::update(std::span<const int32_t> argmax_canvas, double mean_entropy) {
    bool is_stable = true;
    if (stability_threshold_ > 0) {
        is_stable = static_cast<int32_t>(history_.size()) == stability_threshold_;
        for (const std::vector<int32_t>& h : history_) {
            is_stable = is_stable && std::equal(h.begin(), h.end(), argmax_canvas.begin(), argmax_canvas.end());
        }
        if (static_cast<int32_t>(history_.size()) == stability_threshold_) {
            history_.erase(history_.begin());
        }
        history_.emplace_back(argmax_canvas.begin(), argmax_canvas.end());
    }
    const bool is_confident = mean_entropy < static_cast<double>(confidence_threshold_);
    return is_stable && is_confident;
}

Result<EntropyBoundSampler> EntropyBoundSampler::create(const DiffusionSamplerConfig& cfg, int32_t canvas_length,
                                                        int32_t n_vocab) {
    GANNET_RETURN_IF_ERROR(validate(cfg));
    if (canvas_length < 1 || n_vocab < 1) {
        return make_error(ErrorCode::kInvalidArgument, "diffusion: canvas length %d and vocabulary %d must be >= 1",
                          canvas_length, n_vocab);
    }
    return EntropyBoundSampler(cfg, canvas_length, n_vocab);
}

EntropyBoundSampler::EntropyBoundSampler(const DiffusionSamplerConfig& cfg, int32_t canvas_length, int32_t n_vocab)
    : cfg_(cfg),
      canvas_length_(canvas_length),
      n_vocab_(n_vocab),
      rng_(cfg.seed),
      stop_(cfg.stability_threshold, cfg.confidence_threshold),
      entropy_(static_cast<size_t>(canvas_length)),
      accept_(static_cast<size_t>(canvas_length)),
      sampled_(static_cast<size_t>(canvas_length)) {}

double EntropyBoundSampler::uniform() {
    return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

int32_t EntropyBoundSampler::random_token() {
    const auto t = static_cast<int32_t>(uniform() * static_cast<double>(n_vocab_));
    return std::min(t, n_vocab_ - 1);
}

void EntropyBoundSampler::start_canvas(std::span<int32_t> canvas) {
    GANNET_CHECK(static_cast<int32_t>(canvas.size()) == canvas_length_);
    for (int32_t& t : canvas) {
        t = random_token();
    }
    stop_.reset();
}

DenoiseStep EntropyBoundSampler::step(std::span<const float> logits, int32_t cur_step, std::span<float> processed,
                                      std::span<int32_t> canvas, std::span<int32_t> argmax_canvas) {
    const auto c = static_cast<size_t>(canvas_length_);
    const auto v = static_cast<size_t>(n_vocab_);
    GANNET_CHECK(logits.size() == c * v && processed.size() == c * v);
    GANNET_CHECK(canvas.size() == c && argmax_canvas.size() == c);
    GANNET_CHECK(cur_step >= 1 && cur_step <= cfg_.max_denoising_steps);
    const float temp = diffusion_temperature(cfg_, cur_step);
    double entropy_sum = 0.0;
    for (size_t i = 0; i < c; ++i) {
        const float* in = logits.data() + i * v;
        float* row = processed.data() + i * v;
        for (size_t j = 0; j < v; ++j) {
            row[j] = in[j] / temp;
        }
        const std::span<const float> r(row, v);
        argmax_canvas[i] = static_cast<int32_t>(std::max_element(r.begin(), r.end()) - r.begin());
        const double h = entropy_of_logits(r);
        entropy_[i] = static_cast<float>(h);
        entropy_sum += static_cast<double>(entropy_[i]);
        // A draw from softmax(row): inverse CDF over the unnormalized weights.
        const float m = row[argmax_canvas[i]];
        double z = 0.0;
        for (size_t j = 0; j < v; ++j) {
            z += std::exp(static_cast<double>(row[j] - m));
        }
        double u = uniform() * z;
        int32_t pick = argmax_canvas[i];
        for (size_t j = 0; j < v; ++j) {
            u -= std::exp(static_cast<double>(row[j] - m));
            if (u < 0.0) {
                pick = static_cast<int32_t>(j);
                break;
            }
        }
        sampled_[i] = pick;
    }
    entropy_bound_accept(entropy_, cfg_.entropy_bound, accept_);
    DenoiseStep out;
    for (size_t i = 0; i < c; ++i) {
        if (accept_[i] != 0) {
            canvas[i] = sampled_[i];
            ++out.n_accepted;
        } else {
            canvas[i] = random_token();  // renoise
        }
    }
    out.mean_entropy = entropy_sum / static_cast<double>(c);
    out.is_stop = stop_.update(argmax_canvas, out.mean_entropy);
    return out;
}

}  // namespace gannet::sampling
