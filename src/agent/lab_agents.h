// Scripted agents for `gannet agent lab --agent scripted:NAME`: fixed policies over a task's
// candidates/NN-*/ folders (each a set of editable files) that reproduce AutoLab's behaviours, so the
// failure-mode detectors can be checked without a model:
//   stop-early  measures the first candidate and stops (premature termination)
//   burn        rewrites the files again and again without measuring (budget burn)
//   iterate     measures every candidate, keeps the best, confirms it while budget remains
//   reference   applies solution/ once (checks the task's reference anchor)
// Every proposal costs kReasoningTokens plus the edit's size in tokens. Owner: efc helper.
#pragma once

#include <memory>
#include <string>

#include "agent/lab_loop.h"

namespace gannet::agent {

// A fixed a-priori cost per proposal: what a model typically thinks before one edit.
constexpr int64_t kReasoningTokens = 1500;

// iterate keeps confirming its best candidate until this share of the budget is used: it stops with
// time left (it is not a burner) but not before the loop's halfway mark.
constexpr double kIterateBudgetTarget = 0.6;

// Errors: kInvalidArgument for an unknown NAME (lists the known ones); kNotFound when the task has
// no candidates/ (or, for reference, no solution/) with editable files in it.
Result<std::unique_ptr<LabAgent>> make_scripted_agent(const std::string& name, const LabTask& task);

}  // namespace gannet::agent
