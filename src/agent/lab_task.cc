#include "agent/lab_task.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

// Header-only toml++ without exceptions: parse errors come back as values (STYLE.md: errors are
// values), and the library's compiled variant is not needed.
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

namespace gannet::agent {
namespace {

namespace fs = std::filesystem;

Result<std::string> read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) {
        return make_error(ErrorCode::kNotFound, "lab: cannot read '%s'", p.c_str());
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Every key of `table` must be one of `allowed`: a misspelt key would otherwise be ignored silently.
Status check_keys(const toml::table& table, const char* where, const std::vector<std::string_view>& allowed) {
    for (const auto& [key, value] : table) {
        if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end()) {
            return make_error(ErrorCode::kInvalidArgument, "lab: task.toml: unknown key '%s%s'", where,
                              std::string(key.str()).c_str());
        }
    }
    return Status();
}

Result<std::string> get_string(const toml::table& t, const char* path, bool is_required, std::string fallback = {}) {
    const toml::node_view<const toml::node> n = t.at_path(path);
    if (!n) {
        if (is_required) {
            return make_error(ErrorCode::kInvalidArgument, "lab: task.toml: missing key '%s'", path);
        }
        return fallback;
    }
    if (!n.is_string()) {
        return make_error(ErrorCode::kInvalidArgument, "lab: task.toml: '%s' must be a string", path);
    }
    return std::string(*n.value<std::string>());
}

Result<double> get_number(const toml::table& t, const char* path, std::optional<double> fallback) {
    const toml::node_view<const toml::node> n = t.at_path(path);
    if (!n) {
        if (!fallback.has_value()) {
            return make_error(ErrorCode::kInvalidArgument, "lab: task.toml: missing key '%s'", path);
        }
        return *fallback;
    }
    if (!n.is_number()) {
        return make_error(ErrorCode::kInvalidArgument, "lab: task.toml: '%s' must be a number", path);
    }
    return *n.value<double>();
}

Status check_all_keys(const toml::table& t) {
    GANNET_RETURN_IF_ERROR(
        check_keys(t, "", {"name", "workdir", "editable", "budget", "commands", "metric", "reward"}));
    const std::pair<const char*, std::vector<std::string_view>> sections[] = {
        {"budget", {"wall_clock_s", "tokens"}},
        {"commands", {"build", "measure", "verify", "timeout_s"}},
        {"metric", {"name", "direction"}},
        {"reward", {"kind", "baseline", "reference", "gates"}},
    };
    for (const auto& [name, keys] : sections) {
        if (const toml::table* s = t[name].as_table()) {
            GANNET_RETURN_IF_ERROR(check_keys(*s, (std::string(name) + ".").c_str(), keys));
        } else if (t.contains(name)) {
            return make_error(ErrorCode::kInvalidArgument, "lab: task.toml: '%s' must be a table", name);
        }
    }
    return Status();
}

Status read_gates(const toml::table& t, LabTask* task) {
    const toml::node_view<const toml::node> gates = t.at_path("reward.gates");
    if (!gates) {
        return Status();
    }
    const toml::array* arr = gates.as_array();
    if (arr == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "lab: task.toml: 'reward.gates' must be an array of tables");
    }
    for (const toml::node& g : *arr) {
        const toml::table* gt = g.as_table();
        if (gt == nullptr) {
            return make_error(ErrorCode::kInvalidArgument, "lab: task.toml: 'reward.gates' must be an array of tables");
        }
        GANNET_RETURN_IF_ERROR(check_keys(*gt, "reward.gates.", {"metric", "min", "max"}));
        MetricGate gate;
        GANNET_ASSIGN_OR_RETURN(gate.metric, get_string(*gt, "metric", /*is_required=*/true));
        if (gt->contains("min")) {
            GANNET_ASSIGN_OR_RETURN(gate.min, get_number(*gt, "min", std::nullopt));
        }
        if (gt->contains("max")) {
            GANNET_ASSIGN_OR_RETURN(gate.max, get_number(*gt, "max", std::nullopt));
        }
        task->gates.push_back(std::move(gate));
    }
    return Status();
}

Result<MetricDirection> parse_direction(const std::string& s) {
    if (s == "lower") {
        return MetricDirection::kLowerIsBetter;
    }
    if (s == "higher") {
        return MetricDirection::kHigherIsBetter;
    }
    return make_error(ErrorCode::kInvalidArgument,
                      "lab: task.toml: 'metric.direction' must be lower or higher, got '%s'", s.c_str());
}

}  // namespace

Result<LabTask> load_lab_task(const std::string& task_dir) {
    std::error_code ec;
    const fs::path dir = fs::absolute(task_dir, ec);
    GANNET_ASSIGN_OR_RETURN(std::string text, read_text(dir / "task.toml"));
    toml::parse_result parsed = toml::parse(text, (dir / "task.toml").string());
    if (!parsed) {
        const toml::parse_error& e = parsed.error();
        return make_error(ErrorCode::kInvalidArgument, "lab: %s: line %u: %s", (dir / "task.toml").c_str(),
                          e.source().begin.line, std::string(e.description()).c_str());
    }
    const toml::table& t = parsed.table();
    GANNET_RETURN_IF_ERROR(check_all_keys(t));
    LabTask task;
    task.dir = dir.string();
    GANNET_ASSIGN_OR_RETURN(task.instruction, read_text(dir / "instruction.md"));
    GANNET_ASSIGN_OR_RETURN(task.name, get_string(t, "name", /*is_required=*/false, dir.filename().string()));
    GANNET_ASSIGN_OR_RETURN(task.workdir, get_string(t, "workdir", /*is_required=*/false, "environment"));
    if (!fs::is_directory(dir / task.workdir)) {
        return make_error(ErrorCode::kNotFound, "lab: workdir '%s' is not a folder of %s", task.workdir.c_str(),
                          dir.c_str());
    }
    const toml::array* editable = t["editable"].as_array();
    if (editable == nullptr || editable->empty()) {
        return make_error(ErrorCode::kInvalidArgument, "lab: task.toml: 'editable' must be a non-empty array of paths");
    }
    for (const toml::node& n : *editable) {
        const std::optional<std::string> p = n.value<std::string>();
        if (!p.has_value() || p->empty() || fs::path(*p).is_absolute() || p->find("..") != std::string::npos) {
            return make_error(ErrorCode::kInvalidArgument,
                              "lab: task.toml: 'editable' entries must be relative paths inside the workdir");
        }
        task.editable.push_back(*p);
    }
    GANNET_ASSIGN_OR_RETURN(task.budget_wall_clock_s, get_number(t, "budget.wall_clock_s", std::nullopt));
    GANNET_ASSIGN_OR_RETURN(double tokens, get_number(t, "budget.tokens", std::nullopt));
    task.budget_tokens = static_cast<int64_t>(tokens);
    if (!(task.budget_wall_clock_s > 0) || task.budget_tokens <= 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "lab: task.toml: budget.wall_clock_s and budget.tokens must be > 0");
    }
    GANNET_ASSIGN_OR_RETURN(task.build_command, get_string(t, "commands.build", /*is_required=*/false));
    GANNET_ASSIGN_OR_RETURN(task.measure_command, get_string(t, "commands.measure", /*is_required=*/true));
    GANNET_ASSIGN_OR_RETURN(task.verify_command, get_string(t, "commands.verify", /*is_required=*/false));
    GANNET_ASSIGN_OR_RETURN(task.command_timeout_s, get_number(t, "commands.timeout_s", 60.0));
    GANNET_ASSIGN_OR_RETURN(task.metric_name, get_string(t, "metric.name", /*is_required=*/true));
    GANNET_ASSIGN_OR_RETURN(std::string direction, get_string(t, "metric.direction", /*is_required=*/true));
    GANNET_ASSIGN_OR_RETURN(task.reward.direction, parse_direction(direction));
    GANNET_ASSIGN_OR_RETURN(std::string kind, get_string(t, "reward.kind", /*is_required=*/true));
    if (kind != "speed" && kind != "quality") {
        return make_error(ErrorCode::kInvalidArgument,
                          "lab: task.toml: 'reward.kind' must be speed or quality, got '%s'", kind.c_str());
    }
    task.reward.kind = kind == "speed" ? RewardKind::kSpeed : RewardKind::kQuality;
    GANNET_ASSIGN_OR_RETURN(task.reward.baseline, get_number(t, "reward.baseline", std::nullopt));
    GANNET_ASSIGN_OR_RETURN(task.reward.reference, get_number(t, "reward.reference", std::nullopt));
    GANNET_RETURN_IF_ERROR(check_reward_spec(task.reward));
    GANNET_RETURN_IF_ERROR(read_gates(t, &task));
    return task;
}

Result<double> read_metric(const std::string& measure_output, const std::string& name) {
    std::optional<double> value;
    std::istringstream in(measure_output);
    const std::string prefix = name + "=";
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with(prefix)) {
            char* end = nullptr;
            const double v = std::strtod(line.c_str() + prefix.size(), &end);
            value = end != line.c_str() + prefix.size() && std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
            if (!value.has_value()) {
                return make_error(ErrorCode::kInvalidArgument, "lab: measure: '%s' is not a finite number",
                                  line.c_str());
            }
        }
    }
    if (!value.has_value()) {
        return make_error(ErrorCode::kInvalidArgument, "lab: measure printed no '%s=' line", name.c_str());
    }
    return *value;
}

}  // namespace gannet::agent
