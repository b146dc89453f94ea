#include "agent/reward.h"

#include <algorithm>
#include <cmath>

namespace gannet::agent {
namespace {

// How many times better `metric` is than `baseline` in the metric's direction.
double speedup_of(MetricDirection d, double metric, double baseline) {
    return d == MetricDirection::kLowerIsBetter ? baseline / metric : metric / baseline;
}

}  // namespace

const char* direction_name(MetricDirection d) {
    return d == MetricDirection::kLowerIsBetter ? "lower" : "higher";
}

const char* reward_kind_name(RewardKind k) {
    return k == RewardKind::kSpeed ? "speed" : "quality";
}

Status check_reward_spec(const RewardSpec& spec) {
    const bool is_lower = spec.direction == MetricDirection::kLowerIsBetter;
    if (!std::isfinite(spec.baseline) || !std::isfinite(spec.reference)
        || (is_lower ? spec.reference >= spec.baseline : spec.reference <= spec.baseline)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "reward: reference %g must be %s than baseline %g (metric direction: %s is better)",
                          spec.reference, is_lower ? "lower" : "higher", spec.baseline, direction_name(spec.direction));
    }
    if (spec.kind == RewardKind::kSpeed && (spec.baseline <= 0 || spec.reference <= 0)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "reward: a speed task needs positive anchors, got baseline %g, reference %g", spec.baseline,
                          spec.reference);
    }
    return Status();
}

double speed_reward(double speedup, double ref_speedup) {
    if (!(speedup > 1)) {
        return 0;  // the must-beat-baseline gate
    }
    return std::clamp(0.5 * std::log(speedup) / std::log(ref_speedup), 0.0, 1.0);
}

double quality_reward(double agent, double baseline, double reference) {
    const double r = (agent - baseline) / (reference - baseline);
    // Not std::clamp: at the baseline r is -0.0 for a lower-is-better metric, and clamp keeps the sign.
    return std::isfinite(r) && r > 0 ? std::min(r, 1.0) : 0.0;
}

Reward compute_reward(const RewardSpec& spec, double metric, const std::string& gate) {
    Reward r;
    r.gate = gate;
    if (spec.kind == RewardKind::kSpeed) {
        if (!(metric > 0) && spec.direction == MetricDirection::kLowerIsBetter) {
            r.gate = r.gate.empty() ? "metric is not positive" : r.gate;
            return r;
        }
        r.speedup = speedup_of(spec.direction, metric, spec.baseline);
        r.value = speed_reward(r.speedup, speedup_of(spec.direction, spec.reference, spec.baseline));
    } else {
        r.value = quality_reward(metric, spec.baseline, spec.reference);
    }
    if (!r.gate.empty()) {
        r.value = 0;
    }
    return r;
}

}  // namespace gannet::agent
