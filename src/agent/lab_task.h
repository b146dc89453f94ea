// An experiment-loop task (`gannet agent lab TASKDIR`), modelled on AutoLab's layout: TASKDIR holds
// task.toml (limits, commands, metric, reward anchors), instruction.md, the environment folder with
// the editable files, solution/ (the reference) and candidates/NN-*/ (edits the scripted agents use).
// Owner: efc helper. Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/reward.h"
#include "base/result.h"

namespace gannet::agent {

// A bound on a secondary metric printed by the measure command; breaking it sets the reward to 0
// (AutoLab's gates, e.g. "general accuracy may not drop more than 10%").
struct MetricGate {
    std::string metric;
    std::optional<double> min, max;
};

struct LabTask {
    std::string dir;                    // TASKDIR, absolute
    std::string name;                   // name
    std::string instruction;            // instruction.md's text
    std::string workdir;                // workdir: the folder copied fresh for each run (relative to dir)
    std::vector<std::string> editable;  // editable: files an agent may write (relative to workdir)
    double budget_wall_clock_s = 60;    // [budget] wall_clock_s
    int64_t budget_tokens = 20000;      // [budget] tokens
    std::string build_command;          // [commands] build (may be empty)
    std::string measure_command;        // [commands] measure: prints name=value lines
    std::string verify_command;         // [commands] verify: exit 0 = correct
    double command_timeout_s = 60;      // [commands] timeout_s
    std::string metric_name;            // [metric] name: the line of the measure output to read
    RewardSpec reward;                  // [metric] direction, [reward] kind, baseline, reference
    std::vector<MetricGate> gates;      // [[reward.gates]]
};

// Reads TASKDIR/task.toml and instruction.md. Errors: kNotFound for a missing file; kInvalidArgument
// naming the key for a TOML syntax error, a missing or mistyped key, an unknown key, an editable path
// that leaves the workdir, or anchors that cannot define the reward (check_reward_spec).
Result<LabTask> load_lab_task(const std::string& task_dir);

// Parses name=value lines (other lines are ignored; the last value of a name wins). Errors:
// kInvalidArgument when `name` is missing or not a finite number.
Result<double> read_metric(const std::string& measure_output, const std::string& name);

}  // namespace gannet::agent
