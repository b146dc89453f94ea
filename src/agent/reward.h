// AutoLab's rewards (../shared/specs/papers.md §8), anchored to a task's baseline and reference and
// clipped to [0, 1]. Speed: clip(0.5 * ln(speedup) / ln(ref_speedup), 0, 1) behind a must-beat-baseline
// gate, so matching the reference scores 0.5. Quality: (agent - baseline) / (reference - baseline),
// the same expression for lower-is-better metrics (both differences change sign), behind gates.
// Owner: efc helper. Thread-safety: pure functions.
#pragma once

#include <string>

#include "base/result.h"

namespace gannet::agent {

enum class MetricDirection { kLowerIsBetter, kHigherIsBetter };
enum class RewardKind { kSpeed, kQuality };

struct RewardSpec {
    RewardKind kind = RewardKind::kSpeed;
    MetricDirection direction = MetricDirection::kLowerIsBetter;
    double baseline = 0;   // the unmodified program's metric
    double reference = 0;  // the reference solution's metric
};

struct Reward {
    double value = 0;    // in [0, 1]
    double speedup = 0;  // speed tasks: how many times better than the baseline (1 = equal)
    std::string gate;    // empty, or why a gate set the reward to 0
};

// Errors: kInvalidArgument when the anchors cannot define a reward (reference not better than the
// baseline in the metric's direction; a speed metric <= 0).
Status check_reward_spec(const RewardSpec& spec);

// The reward of `metric`; `gate` (from verification or a secondary bound) forces 0 when non-empty.
// REQUIRES: check_reward_spec(spec) is OK.
Reward compute_reward(const RewardSpec& spec, double metric, const std::string& gate);

// clip(0.5 * ln(speedup) / ln(ref_speedup), 0, 1); 0 unless speedup > 1. REQUIRES: ref_speedup > 1.
double speed_reward(double speedup, double ref_speedup);

// clip((agent - baseline) / (reference - baseline), 0, 1); 0 unless agent beats the baseline.
// REQUIRES: reference != baseline.
double quality_reward(double agent, double baseline, double reference);

const char* direction_name(MetricDirection d);
const char* reward_kind_name(RewardKind k);

}  // namespace gannet::agent
