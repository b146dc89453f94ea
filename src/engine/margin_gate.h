// MarginGate (issue 19; ../shared/specs/papers.md §5): batch-invariant greedy decoding that verifies
// only the steps whose top-1/top-2 logit margin is small. This header holds the vocabulary the engine,
// the server and `gannet bench determinism` share: the determinism modes, their names, and the
// margin. The gate itself runs in the engine step (engine_gate.cc) over the runner's reference path
// (runner::StepRunner::run_reference). Owner: engine. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "base/result.h"

namespace gannet::engine {

enum class Determinism {
    kOff,        // the batched step's tokens, unverified
    kInvariant,  // batch-invariant products (the CPU forward always; cuda: one token per product)
    kMargin,     // verify greedy steps whose margin is below tau on the reference path
    kAlways,     // verify every greedy step (the comparison point: LLM-42's always-on verification)
};

// "off", "invariant", "margin", "always".
const char* determinism_name(Determinism mode);
// kInvalidArgument naming `what` (a flag or field), the bad value and the accepted ones.
Result<Determinism> determinism_from_name(std::string_view name, std::string_view what);
// Whether the mode verifies steps on the reference path.
inline bool is_verifying(Determinism mode) {
    return mode == Determinism::kMargin || mode == Determinism::kAlways;
}

// The default tau, in logits: no calibration is known for an arbitrary model, and a gap of a whole
// logit covers the sub-logit perturbations batched bf16/f16 products cause. `gannet bench determinism
// --calibrate` measures a model's own (docs/serving.md, "Determinism").
inline constexpr float kDefaultMarginTau = 1.0f;

// Top-1 minus top-2 of a logits row (after the softcap, bias, penalties and masks, before
// temperature). +infinity when fewer than two entries are finite (nothing to flip to); 0 for a tie.
float logit_margin(std::span<const float> logits);

// What the gate did with one sampled row (EngineRequest::on_trace): the margin the batched step
// gave, and whether the reference path verified it and overrode its token.
struct StepTrace {
    int32_t token = 0;        // the emitted token
    int32_t n_generated = 0;  // 1-based index of this token in the output
    float margin = 0.0f;
    bool is_verified = false;
    bool is_overridden = false;  // the reference's token differed and was emitted; its K/V replaced the batch's
    // Verified rows: the largest |reference - batched| raw logit, the batch's perturbation of this row
    // (0 where the runner is batch-invariant). A flip needs margin < 2x this, which is what tau covers.
    float ref_max_abs_diff = 0.0f;
};

}  // namespace gannet::engine
