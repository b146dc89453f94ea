// The per-run report of `gannet agent lab`: JSON (every iteration, the final reward, the detectors'
// verdicts) and a PNG reward curve (best reward so far against the share of the budget used).
// Owner: efc helper. Thread-safety: pure functions.
#pragma once

#include "agent/lab_loop.h"
#include "bench/png_writer.h"
#include "json/json.h"

namespace gannet::agent {

nlohmann::json lab_run_json(const LabRun& run, const LabTask& task);

bench::Image draw_reward_curve(const LabRun& run);

}  // namespace gannet::agent
