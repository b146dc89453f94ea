#include "agent/lab_loop.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "agent/lab_process.h"

namespace gannet::agent {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// What the agent reads back costs tokens too (chars/4, the trajectories' own estimate).
int64_t tokens_of(const std::string& text) {
    return static_cast<int64_t>((text.size() + 3) / 4);
}

// A secondary metric outside its bound, or "".
std::string check_gates(const LabTask& task, const std::string& output) {
    for (const MetricGate& g : task.gates) {
        Result<double> v = read_metric(output, g.metric);
        if (!v.has_value()) {
            return "gate metric '" + g.metric + "' missing";
        }
        if (g.max.has_value() && *v > *g.max) {
            return str_printf("%s %g > max %g", g.metric.c_str(), *v, *g.max);
        }
        if (g.min.has_value() && *v < *g.min) {
            return str_printf("%s %g < min %g", g.metric.c_str(), *v, *g.min);
        }
    }
    return std::string();
}

Result<Measurement> measure(const LabTask& task, const std::string& run_dir, const LabOptions& o) {
    Measurement m;
    auto run = [&](const std::string& cmd, const char* what) -> Result<bool> {
        GANNET_ASSIGN_OR_RETURN(CommandResult r, run_command(cmd, run_dir, task.command_timeout_s, o.extra_env));
        m.output += r.output;
        if (r.exit_code != 0 || r.is_timed_out) {
            m.reward.gate = r.is_timed_out ? str_printf("%s timed out after %g s", what, task.command_timeout_s)
                                           : str_printf("%s failed (exit %d)", what, r.exit_code);
            return false;
        }
        return true;
    };
    if (!task.build_command.empty()) {
        GANNET_ASSIGN_OR_RETURN(m.is_built, run(task.build_command, "build"));
        if (!m.is_built) {
            return m;
        }
    }
    m.is_built = true;
    if (!task.verify_command.empty()) {
        GANNET_ASSIGN_OR_RETURN(m.is_verified, run(task.verify_command, "verify"));
        if (!m.is_verified) {
            return m;
        }
    }
    m.is_verified = true;
    const size_t measure_from = m.output.size();
    GANNET_ASSIGN_OR_RETURN(bool is_measured, run(task.measure_command, "measure"));
    if (!is_measured) {
        return m;
    }
    const std::string out = m.output.substr(measure_from);
    Result<double> metric = read_metric(out, task.metric_name);
    if (!metric.has_value()) {
        m.reward.gate = metric.error().message();
        return m;
    }
    m.metric = *metric;
    m.reward = compute_reward(task.reward, *metric, check_gates(task, out));
    return m;
}

Status apply(const LabTask& task, const Proposal& p, const std::string& run_dir) {
    for (const auto& [path, content] : p.files) {
        if (std::find(task.editable.begin(), task.editable.end(), path) == task.editable.end()) {
            return make_error(ErrorCode::kInvalidArgument, "lab: the agent wrote '%s', which is not editable",
                              path.c_str());
        }
        std::ofstream out(fs::path(run_dir) / path, std::ios::binary | std::ios::trunc);
        out << content;
        if (!out) {
            return make_error(ErrorCode::kInternal, "lab: cannot write '%s' in %s", path.c_str(), run_dir.c_str());
        }
    }
    return Status();
}

Result<std::string> make_run_dir(const LabTask& task, const LabOptions& o) {
    std::error_code ec;
    fs::path dir = o.run_dir.empty()
                       ? fs::temp_directory_path() / str_printf("gannet-lab-%s-%d", task.name.c_str(), getpid())
                       : fs::path(o.run_dir);
    fs::remove_all(dir, ec);
    fs::create_directories(dir, ec);
    fs::copy(fs::path(task.dir) / task.workdir, dir, fs::copy_options::recursive, ec);
    if (ec) {
        return make_error(ErrorCode::kInternal, "lab: cannot copy the workdir to '%s': %s", dir.c_str(),
                          ec.message().c_str());
    }
    return dir.string();
}

// Fills the running fields of `it` (best so far, time, budget) from the run so far and appends it.
void record(LabRun* run, LabIteration it, double t_s, double budget_used) {
    const LabIteration* prev = run->iterations.empty() ? nullptr : &run->iterations.back();
    it.best_reward = std::max(prev != nullptr ? prev->best_reward : 0.0, it.reward);
    it.best_metric = prev != nullptr ? prev->best_metric : std::nullopt;
    if (it.metric.has_value() && it.gate.empty() && (!it.best_metric.has_value() || it.reward >= it.best_reward)) {
        it.best_metric = it.metric;
    }
    it.t_s = t_s;
    if (it.reward > 0 && (prev == nullptr || it.reward > prev->best_reward)) {
        run->time_to_best_s = it.t_s;
    }
    it.budget_used = budget_used;
    it.n_tokens_used = run->n_tokens_used;
    run->iterations.push_back(std::move(it));
}

}  // namespace

void apply_detectors(LabRun* run) {
    const DetectorConfig& d = run->detectors;
    run->is_premature_termination = run->stop_reason == "agent stopped" && 1 - run->budget_used > d.early_stop_unused
                                    && run->final.reward.value < d.early_stop_reward;
    run->is_budget_burn = run->budget_used > d.burn_used && !run->has_measured_improvement;
}

Result<LabRun> run_lab(const LabTask& task, LabAgent& agent, const std::string& agent_name, const LabOptions& options) {
    GANNET_ASSIGN_OR_RETURN(std::string run_dir, make_run_dir(task, options));
    LabRun run;
    run.task = task.name;
    run.agent = agent_name;
    run.detectors = options.detectors;
    const auto start = Clock::now();
    auto budget_used = [&] {
        const double t = std::chrono::duration<double>(Clock::now() - start).count();
        return std::max(t / task.budget_wall_clock_s,
                        static_cast<double>(run.n_tokens_used) / static_cast<double>(task.budget_tokens));
    };
    Observation obs;
    bool is_last_measured = false;
    for (;;) {
        obs.budget_used = budget_used();
        if (obs.budget_used >= 1) {
            run.stop_reason = "budget exhausted";
            break;
        }
        std::optional<Proposal> p = agent.next(obs);
        if (!p.has_value()) {
            run.stop_reason = "agent stopped";
            break;
        }
        GANNET_RETURN_IF_ERROR(apply(task, *p, run_dir));
        run.n_tokens_used += p->n_tokens;
        LabIteration it;
        it.index = static_cast<int>(run.iterations.size());
        it.description = p->description;
        it.is_measured = p->is_measured;
        obs.last.reset();
        if (p->is_measured) {
            GANNET_ASSIGN_OR_RETURN(Measurement m, measure(task, run_dir, options));
            run.n_tokens_used += tokens_of(m.output);
            it.metric = m.metric;
            it.reward = m.reward.value;
            it.gate = m.reward.gate;
            ++run.n_measured;
            run.has_measured_improvement |= m.reward.value > 0;
            obs.last = std::move(m);
        }
        is_last_measured = p->is_measured;
        record(&run, std::move(it), std::chrono::duration<double>(Clock::now() - start).count(), budget_used());
        obs.best_reward = run.iterations.back().best_reward;
        obs.n_iterations = static_cast<int>(run.iterations.size());
    }
    run.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    run.budget_used = budget_used();
    if (is_last_measured && obs.last.has_value()) {
        run.final = *obs.last;
    } else {
        GANNET_ASSIGN_OR_RETURN(run.final, measure(task, run_dir, options));
    }
    apply_detectors(&run);
    if (options.run_dir.empty()) {
        std::error_code ec;
        fs::remove_all(run_dir, ec);
    }
    return run;
}

}  // namespace gannet::agent
