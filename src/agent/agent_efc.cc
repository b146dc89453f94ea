#include "agent/agent_efc.h"

#include <cstdio>
#include <fstream>
#include <map>

#include "agent/agent_flags.h"
#include "json/json.h"

namespace gannet::agent {

using nlohmann::json;

std::string efc_action_text(const std::string& content, const json& tool_calls) {
    std::string text = content;
    if (!tool_calls.is_array()) {
        return text;
    }
    for (const json& tc : tool_calls) {
        const json fn = tc.is_object() ? tc.value("function", json::object()) : json::object();
        if (!fn.is_object()) {
            continue;
        }
        const std::string name = fn.contains("name") && fn["name"].is_string() ? fn["name"].get<std::string>() : "";
        const std::string args = fn.contains("arguments") && fn["arguments"].is_string()
                                     ? fn["arguments"].get<std::string>()
                                     : gannet::json::dump(fn.value("arguments", json::object()));
        text += "\n" + name + " " + args;
    }
    return text;
}

ToolEvent efc_tool_event(const std::string& name, const std::string& arguments, const ToolOutcome& outcome) {
    ToolEvent e;
    e.action = name + " " + arguments;
    e.output = outcome.text;
    e.exit_code = outcome.exit_code;
    e.is_truncated = outcome.is_truncated;
    e.is_timed_out = outcome.is_timed_out;
    e.is_rejected = !outcome.is_called;
    return e;
}

json efc_event_json(const EventScore& s) {
    return {{"informative", s.informative},
            {"valid", s.is_valid},
            {"non_redundant", s.is_non_redundant},
            {"max_jaccard", s.max_jaccard},
            {"provisional", s.provisional()}};
}

std::string efc_replan_note(int window, double credit) {
    char text[400];
    std::snprintf(text, sizeof text,
                  "[harness] Your last %d tool results brought almost no new, valid information (credited "
                  "feedback %.2f): they repeat earlier results, failed to run, or name nothing new. Change your "
                  "approach: look somewhere else, run a different command, or answer with what you know.",
                  window, credit);
    return text;
}

namespace {

// The ToolOutcome a "tool_call" line records (efc_tool_event reads only these fields).
ToolOutcome outcome_from_line(const json& line) {
    ToolOutcome o;
    o.is_called = line.value("is_called", false);
    o.is_error = line.value("is_error", false);
    o.text = line.value("result", "");
    if (line.contains("exit_code") && line["exit_code"].is_number_integer()) {
        o.exit_code = line["exit_code"].get<int>();
    }
    o.is_truncated = line.value("is_truncated", false);
    o.is_timed_out = line.value("is_timed_out", false);
    return o;
}

}  // namespace

Result<json> replay_transcript_efc(const std::string& path, const EfcConfig& config) {
    std::ifstream in(path);
    if (!in) {
        return make_error(ErrorCode::kNotFound, "agent efc-replay: %s: cannot open the transcript", path.c_str());
    }
    std::map<std::string, EfcScorer> scorers;
    std::string text;
    for (int n = 1; std::getline(in, text); ++n) {
        Result<json> parsed = gannet::json::parse(text);
        if (!parsed.has_value() || !parsed->is_object() || !parsed->contains("agent")
            || !(*parsed)["agent"].is_string()) {
            return make_error(ErrorCode::kDataLoss, "agent efc-replay: %s:%d: not a transcript event object",
                              path.c_str(), n);
        }
        const json& line = *parsed;
        const std::string agent = line["agent"].get<std::string>();
        const std::string event = line.value("event", "");
        if (event == "start") {
            scorers.insert_or_assign(agent, EfcScorer(config)).first->second.begin_task(line.value("task", ""));
            continue;
        }
        auto it = scorers.find(agent);
        if (it == scorers.end()) {
            continue;  // a "delegate" line comes before its agent's "start"
        }
        if (event == "model_call" && !line.contains("error")) {
            it->second.add_action(efc_action_text(line.value("content", ""), line.value("tool_calls", json::array())));
        } else if (event == "tool_call") {
            it->second.add_tool_event(
                efc_tool_event(line.value("name", ""), line.value("arguments", ""), outcome_from_line(line)));
        }
    }
    json agents = json::object();
    for (const auto& [id, s] : scorers) {
        int64_t n_credited = 0;
        for (const EventScore& e : s.events()) {
            n_credited += e.credit() > 0 ? 1 : 0;
        }
        agents[id] = {{"efc", s.efc()},
                      {"d_task", s.d_task()},
                      {"efc_per_demand", s.efc_per_demand()},
                      {"n_events", s.events().size()},
                      {"n_credited", n_credited}};
    }
    return json{{"agents", agents}};
}

int efc_replay_main(const std::vector<std::string>& args) {
    std::string path;
    bool is_help = false;
    AgentFlags flags("gannet agent efc-replay");
    flags.add_string("--transcript", &path, "a JSONL transcript written by gannet agent --transcript (required)");
    flags.add_bool("--help", &is_help, "show this help");
    Status s = flags.parse(args);
    if (s.ok() && is_help) {
        std::printf("usage: gannet agent efc-replay --transcript FILE\n\n%s", flags.usage().c_str());
        return 0;
    }
    if (s.ok() && path.empty()) {
        s = make_error(ErrorCode::kInvalidArgument, "gannet agent efc-replay: --transcript is required");
    }
    Result<json> r = s.ok() ? replay_transcript_efc(path, EfcConfig()) : Result<json>(s);
    if (!r.has_value()) {
        std::fprintf(stderr, "gannet agent: %s\n", r.error().message().c_str());
        return 1;
    }
    std::printf("%s\n", gannet::json::dump(*r).c_str());
    return 0;
}

}  // namespace gannet::agent
