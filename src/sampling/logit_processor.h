// LogitProcessor: a per-request hook the engine runs on each row of logits before sampling (e.g. a
// grammar mask from constrain/), told afterwards which token was drawn. Owner: sampling.
// Thread-safety: one per sequence, used only by the engine thread.
#pragma once

#include <cstdint>
#include <span>

#include "base/status.h"

namespace gannet::sampling {

class LogitProcessor {
public:
    virtual ~LogitProcessor() = default;
    // Edits logits [n_vocab] in place; forbidden tokens become -infinity. At least one token stays
    // finite (an end-of-generation token when the output is complete).
    virtual void process(std::span<float> logits) = 0;
    // The token drawn from the processed row. An error ends the request with it.
    virtual Status accept(int32_t token) = 0;
};

}  // namespace gannet::sampling
