#include "agent/lab_command.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "agent/lab_agents.h"
#include "agent/lab_report.h"

namespace gannet::agent {
namespace {

using Json = nlohmann::json;

struct LabCommandOptions {
    std::string task_dir;
    std::string agent;
    std::string report_path;
    LabOptions lab;
    bool is_json = false;
    bool is_help = false;
};

Result<double> to_share(const std::string& flag, const std::string& v) {
    char* end = nullptr;
    errno = 0;
    const double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || errno != 0 || !(d >= 0 && d <= 1)) {
        return make_error(ErrorCode::kInvalidArgument, "%s needs a number in [0, 1], got '%s'", flag.c_str(),
                          v.c_str());
    }
    return d;
}

Result<LabCommandOptions> parse_args(const std::vector<std::string>& args) {
    LabCommandOptions o;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--json") {
            o.is_json = true;
        } else if (a == "--help" || a == "-h") {
            o.is_help = true;
        } else if (!a.starts_with("-")) {
            if (!o.task_dir.empty()) {
                return make_error(ErrorCode::kInvalidArgument, "one TASKDIR expected, got '%s' and '%s'",
                                  o.task_dir.c_str(), a.c_str());
            }
            o.task_dir = a;
        } else if (i + 1 >= args.size()) {
            return make_error(ErrorCode::kInvalidArgument, "%s: unknown flag or missing value", a.c_str());
        } else {
            const std::string& v = args[++i];
            if (a == "--agent") {
                o.agent = v;
            } else if (a == "--report") {
                o.report_path = v;
            } else if (a == "--run-dir") {
                o.lab.run_dir = v;
            } else if (a == "--early-stop-unused") {
                GANNET_ASSIGN_OR_RETURN(o.lab.detectors.early_stop_unused, to_share(a, v));
            } else if (a == "--early-stop-reward") {
                GANNET_ASSIGN_OR_RETURN(o.lab.detectors.early_stop_reward, to_share(a, v));
            } else if (a == "--burn-used") {
                GANNET_ASSIGN_OR_RETURN(o.lab.detectors.burn_used, to_share(a, v));
            } else {
                return make_error(ErrorCode::kInvalidArgument, "unknown flag '%s'", a.c_str());
            }
        }
    }
    if (o.is_help) {
        return o;
    }
    if (o.task_dir.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "TASKDIR is required");
    }
    if (!o.agent.starts_with("scripted:")) {
        return make_error(ErrorCode::kInvalidArgument, "--agent must be scripted:NAME, got '%s'", o.agent.c_str());
    }
    return o;
}

int fail(const std::string& what) {
    std::fprintf(stderr, "gannet agent lab: %s\n", what.c_str());
    return 1;
}

// The running binary, so tasks can call `$GANNET quantize ...` whichever build runs them.
std::string self_path() {
    char buf[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("gannet");
}

}  // namespace

std::string agent_lab_usage() {
    return "usage: gannet agent lab TASKDIR --agent scripted:NAME [--json] [--report FILE.json]\n"
           "Runs an AutoLab-style experiment loop (propose -> build -> verify -> measure -> refine) on a task\n"
           "folder (task.toml, instruction.md, the workdir) under its wall-clock and token budget, scores the\n"
           "final state against the task's baseline and reference, and flags premature termination and\n"
           "budget burn.\n"
           "  --agent scripted:NAME     stop-early | burn | iterate | reference\n"
           "  --json                    stdout carries only the summary JSON line\n"
           "  --report FILE.json        write the full report there and the reward curve beside it (.png)\n"
           "  --run-dir DIR             copy the workdir there and keep it (default: a temp folder, removed)\n"
           "  --early-stop-unused X     premature termination: more than X of the budget unused (default 0.5)\n"
           "  --early-stop-reward R     ... and a final reward below R (default 0.5)\n"
           "  --burn-used Y             budget burn: more than Y used with no measured improvement (default 0.8)\n";
}

int agent_lab_main(const std::vector<std::string>& args) {
    Result<LabCommandOptions> o = parse_args(args);
    if (!o.has_value()) {
        return fail(o.error().message() + " (see --help)");
    }
    if (o->is_help) {
        std::fputs(agent_lab_usage().c_str(), stdout);
        return 0;
    }
    Result<LabTask> task = load_lab_task(o->task_dir);
    if (!task.has_value()) {
        return fail(task.error().message());
    }
    Result<std::unique_ptr<LabAgent>> agent = make_scripted_agent(o->agent.substr(9), *task);
    if (!agent.has_value()) {
        return fail(agent.error().message());
    }
    o->lab.extra_env = {"GANNET=" + self_path(), "TASK_DIR=" + task->dir};
    Result<LabRun> run = run_lab(*task, **agent, o->agent, o->lab);
    if (!run.has_value()) {
        return fail(run.error().message());
    }
    if (!o->is_json) {
        for (const LabIteration& it : run->iterations) {
            std::printf("iter %2d t=%6.2fs %-28s metric=%-10s reward=%.3f best=%.3f budget=%5.1f%%%s%s\n", it.index,
                        it.t_s, it.description.c_str(),
                        it.metric.has_value() ? str_printf("%.5g", *it.metric).c_str() : "-", it.reward, it.best_reward,
                        100 * it.budget_used, it.gate.empty() ? "" : " gate: ", it.gate.c_str());
        }
    }
    Json report = lab_run_json(*run, *task);
    if (!o->report_path.empty()) {
        std::ofstream out(o->report_path);
        out << report.dump(2) << "\n";
        if (!out) {
            return fail("cannot write '" + o->report_path + "'");
        }
        const std::string png = std::filesystem::path(o->report_path).replace_extension(".png").string();
        if (Status s = bench::write_png(png, draw_reward_curve(*run)); !s.ok()) {
            return fail(s.message());
        }
    }
    report.erase("iterations");
    std::printf("%s\n", report.dump().c_str());
    return 0;
}

}  // namespace gannet::agent
