// Engine::Live: the engine thread's state of one admitted request (sampler, stop strings, pending
// bytes, timings, MarginGate's mode). Internal to the engine's .cc files (engine.cc, engine_gate.cc).
// Thread-safety: engine thread only.
#pragma once

#include <exception>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/log.h"
#include "engine/engine.h"
#include "sampling/stop_strings.h"

namespace gannet::engine {

inline FinishInfo failed(Status s) {
    FinishInfo f;
    f.status = std::move(s);
    return f;
}

// Runs a request's callback. What it throws is logged and returned as kInternal: a bug in one
// request's consumer (the HTTP side's JSON, say) fails that request, not the engine thread.
template <typename Fn>
Status guarded(const char* what, Fn&& fn) {
    try {
        fn();
        return Status();
    } catch (const std::exception& e) {
        GANNET_LOG_ERROR("engine", "%s threw: %s", what, e.what());
        return make_error(ErrorCode::kInternal, "engine: %s threw: %s", what, e.what());
    } catch (...) {
        GANNET_LOG_ERROR("engine", "%s threw a non-exception", what);
        return make_error(ErrorCode::kInternal, "engine: %s threw a non-exception", what);
    }
}

struct Engine::Live {
    uint64_t handle = 0;
    sched::SeqId seq_id = 0;
    EngineRequest req;
    sampling::Sampler sampler;
    sampling::StopStringMatcher stops;
    std::string pending_bytes;  // decoded bytes not yet a complete UTF-8 character
    int32_t n_generated = 0;
    int32_t cached_tokens = -1;
    double t_submit = 0.0;
    double t_first = 0.0;
    double t_last = 0.0;
    bool is_finished = false;
    std::vector<float> row;      // [n_vocab] the processed logits
    std::vector<float> row_ref;  // [n_vocab] the reference's processed logits (MarginGate)
    bool is_gated = false;       // MarginGate verifies this request's rows (margin_gate.h)
    Determinism mode = Determinism::kOff;
    std::unordered_map<int32_t, int32_t> counts;  // output token -> occurrences (penalties)
    Live(sampling::Sampler s, std::vector<std::string> stop) : sampler(std::move(s)), stops(std::move(stop)) {}
};

}  // namespace gannet::engine
