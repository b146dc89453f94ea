#include "engine/margin_gate.h"

#include <cmath>
#include <limits>
#include <string>

namespace gannet::engine {

const char* determinism_name(Determinism mode) {
    switch (mode) {
        case Determinism::kOff: return "off";
        case Determinism::kInvariant: return "invariant";
        case Determinism::kMargin: return "margin";
        case Determinism::kAlways: return "always";
    }
    return "?";
}

Result<Determinism> determinism_from_name(std::string_view name, std::string_view what) {
    for (Determinism m : {Determinism::kOff, Determinism::kInvariant, Determinism::kMargin, Determinism::kAlways}) {
        if (name == determinism_name(m)) {
            return m;
        }
    }
    return make_error(ErrorCode::kInvalidArgument, "%.*s must be off, invariant, margin or always, got '%.*s'",
                      static_cast<int>(what.size()), what.data(), static_cast<int>(name.size()), name.data());
}

float logit_margin(std::span<const float> logits) {
    // One pass, no sort: this runs on every gated row, whose vocabulary may be 256k wide.
    float top1 = -std::numeric_limits<float>::infinity();
    float top2 = -std::numeric_limits<float>::infinity();
    for (float x : logits) {
        if (x > top1) {
            top2 = top1;
            top1 = x;
        } else if (x > top2) {
            top2 = x;
        }
    }
    if (!std::isfinite(top1) || !std::isfinite(top2)) {
        return std::numeric_limits<float>::infinity();
    }
    return top1 - top2;
}

}  // namespace gannet::engine
