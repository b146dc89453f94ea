#include "agent/agent.h"

#include <thread>
#include <utility>

#include "agent/agent_tools.h"
#include "base/check.h"
#include "json/json.h"

namespace gannet::agent {

using nlohmann::json;

namespace {

constexpr const char* kDefaultSystemPrompt =
    "You are an agent working in a workspace through tools. Call a tool when you need to read, list, "
    "search or change files; answer in plain text when the task is done.";
constexpr int kMaxToolCallsPerStep = 4;

EfcConfig efc_config(const EfcStopConfig& stop) {
    EfcConfig c;
    c.stall_window = stop.window;
    c.stall_min_credit = stop.min_credit;
    return c;
}

// Puts `part` back into `into`. Both came from one budget, so the sum cannot pass kMaxTokens.
void give_back(budget::Budget& into, budget::Budget&& part) {
    Result<budget::Budget> merged = std::move(into).merge(std::move(part));
    GANNET_CHECK(merged.has_value());
    into = std::move(merged).value();
}

class AgentLoop {
public:
    AgentLoop(const AgentConfig& config, std::string id, budget::Budget&& budget)
        : config_(config), budget_(std::move(budget)), efc_(efc_config(config.efc_stop)) {
        out_.agent_id = std::move(id);
    }

    Result<AgentRun> run(const std::string& task);

private:
    enum class StepEnd { kContinue, kStop };
    Result<StepEnd> model_step(int64_t step);
    Status tool_step(int64_t step, const json& tool_calls);
    void log(const std::string& event, json fields) {
        if (config_.transcript != nullptr) {
            config_.transcript->write(out_.agent_id, event, std::move(fields));
        }
    }

    // --efc-stop: after a tool step, replan (a note to the model) or stop when feedback stalled.
    StepEnd check_stall(int64_t step);

    const AgentConfig& config_;
    budget::Budget budget_;
    EfcScorer efc_;
    size_t efc_events_at_replan_ = 0;  // a new stall is judged only on results after the last replan
    AgentOutcome out_;
    std::optional<AgentTools> tools_;
    json messages_ = json::array();
    json pending_tool_calls_;
};

Result<AgentLoop::StepEnd> AgentLoop::model_step(int64_t step) {
    const budget::ByteEstimator bytes;
    const budget::PromptEstimator& estimator = config_.prompt_estimator ? *config_.prompt_estimator : bytes;
    const json& tools = tools_ ? tools_->openai_tools() : json::array();
    // The estimate covers what the server renders: the messages and the tool definitions.
    GANNET_ASSIGN_OR_RETURN(uint64_t prompt_estimate,
                            estimator.estimate(gannet::json::dump(json{{"messages", messages_}, {"tools", tools}})));
    uint64_t output_cap = config_.output_estimator ? config_.output_estimator->reserve() : config_.max_output_tokens;
    output_cap = std::min(output_cap, config_.max_output_tokens);
    const uint64_t need = prompt_estimate + output_cap;
    Result<std::pair<budget::Budget, budget::Budget>> parts = std::move(budget_).split(need);
    if (!parts.has_value()) {  // refused: budget_ is unchanged
        out_.stop_reason = "budget";
        log("budget_stop", {{"step", step}, {"needed_tokens", need}, {"held_tokens", budget_.tokens()}});
        return StepEnd::kStop;
    }
    budget_ = std::move(parts->second);
    budget::Budget held = std::move(parts->first);
    ++out_.n_model_calls;
    out_.reserved_tokens += need;
    Result<ChatReply> reply = chat(config_.endpoint, messages_, tools, output_cap, config_.temperature,
                                   config_.seed + static_cast<uint64_t>(step) * 7919);
    if (!reply.has_value()) {
        give_back(budget_, std::move(held));
        return reply.error();
    }
    json event = {{"step", step},
                  {"reserved_tokens", need},
                  {"prompt_estimate", prompt_estimate},
                  {"max_tokens", output_cap},
                  {"http_status", reply->http_status}};
    if (!reply->is_ok()) {
        give_back(budget_, std::move(held));  // nothing was billed
        event["error"] = {{"type", reply->error_type}, {"code", reply->error_code}, {"message", reply->error_message}};
        log("model_call", std::move(event));
        if (reply->http_status == 429) {
            ++out_.n_false_refusals;  // the harness held the tokens, yet the server refused
            out_.stop_reason = "server_refused";
        } else {
            out_.stop_reason = reply->error_code == "context_length_exceeded" ? "context" : "error";
        }
        out_.answer = reply->error_message;
        return StepEnd::kStop;
    }
    const uint64_t billed = reply->total_tokens();
    out_.billed_tokens += billed;
    if (billed > need) {
        ++out_.n_violations;  // the estimate was below the bill: A1 broken; pay what was held
        out_.spent_tokens += need;
        (void)std::move(held).consume();
    } else {
        Result<budget::Budget> rest = std::move(held).spend(billed);
        GANNET_CHECK(rest.has_value());
        give_back(budget_, std::move(rest).value());
        out_.spent_tokens += billed;
    }
    if (config_.output_estimator) {
        config_.output_estimator->observe(reply->completion_tokens);
    }
    event["usage"] = {{"prompt_tokens", reply->prompt_tokens}, {"completion_tokens", reply->completion_tokens}};
    event["finish_reason"] = reply->finish_reason;
    event["content"] = reply->content;
    event["tool_calls"] = reply->tool_calls;
    log("model_call", std::move(event));
    efc_.add_action(efc_action_text(reply->content, reply->tool_calls));
    json assistant = {{"role", "assistant"}, {"content", reply->content}};
    if (!reply->tool_calls.empty()) {
        assistant["tool_calls"] = reply->tool_calls;
    }
    messages_.push_back(std::move(assistant));
    out_.answer = reply->content;
    if (reply->tool_calls.empty() || !tools_) {
        out_.stop_reason = "answer";
        return StepEnd::kStop;
    }
    pending_tool_calls_ = reply->tool_calls;
    return StepEnd::kContinue;
}

Status AgentLoop::tool_step(int64_t step, const json& tool_calls) {
    int n = 0;
    for (const json& tc : tool_calls) {
        if (++n > kMaxToolCallsPerStep) {
            break;
        }
        const json fn = tc.is_object() ? tc.value("function", json::object()) : json::object();
        const std::string name = fn.value("name", "");
        const std::string args = fn.contains("arguments") && fn["arguments"].is_string()
                                     ? fn["arguments"].get<std::string>()
                                     : gannet::json::dump(fn.value("arguments", json::object()));
        ToolOutcome outcome;
        Result<std::pair<budget::Budget, budget::Budget>> fee = std::move(budget_).split(config_.tool_cost);
        if (!fee.has_value()) {
            outcome.is_error = true;
            outcome.text =
                "error: the budget cannot pay this tool call (" + std::to_string(config_.tool_cost) + " tokens)";
        } else {
            budget_ = std::move(fee->second);
            Result<ToolOutcome> r = tools_->call(name, args, config_.max_tool_result_bytes);
            if (!r.has_value()) {
                give_back(budget_, std::move(fee->first));
                return r.error();
            }
            outcome = std::move(*r);
            if (outcome.is_called) {
                ++out_.n_tool_calls;
                out_.spent_tokens += config_.tool_cost;
                (void)std::move(fee->first).consume();
            } else {
                give_back(budget_, std::move(fee->first));  // refused before the call: costs nothing
            }
        }
        const size_t index = efc_.add_tool_event(efc_tool_event(name, args, outcome));
        json efc = efc_event_json(efc_.events()[index]);
        efc["efc_so_far"] = efc_.efc();
        efc["is_stalled"] = efc_.is_stalled();
        log("tool_call", {{"step", step},
                          {"name", name},
                          {"arguments", args},
                          {"is_called", outcome.is_called},
                          {"is_error", outcome.is_error},
                          {"exit_code", outcome.exit_code ? json(*outcome.exit_code) : json(nullptr)},
                          {"is_truncated", outcome.is_truncated},
                          {"is_timed_out", outcome.is_timed_out},
                          {"result", outcome.text},
                          {"efc", std::move(efc)}});
        messages_.push_back({{"role", "tool"},
                             {"tool_call_id", tc.is_object() ? tc.value("id", "") : ""},
                             {"name", name},
                             {"content", outcome.text}});
    }
    return Status();
}

AgentLoop::StepEnd AgentLoop::check_stall(int64_t step) {
    const EfcStopConfig& stop = config_.efc_stop;
    const size_t n_events = efc_.events().size();
    if (!stop.is_enabled || !efc_.is_stalled() || n_events - efc_events_at_replan_ < static_cast<size_t>(stop.window)) {
        return StepEnd::kContinue;
    }
    double credit = 0;
    for (size_t i = n_events - static_cast<size_t>(stop.window); i < n_events; ++i) {
        credit += efc_.events()[i].provisional();
    }
    if (out_.n_efc_replans >= stop.max_replans) {
        out_.stop_reason = "efc_stall";
        log("efc_stop",
            {{"step", step}, {"window", stop.window}, {"credit", credit}, {"n_replans", out_.n_efc_replans}});
        return StepEnd::kStop;
    }
    ++out_.n_efc_replans;
    efc_events_at_replan_ = n_events;
    const std::string note = efc_replan_note(stop.window, credit);
    log("efc_replan", {{"step", step}, {"window", stop.window}, {"credit", credit}, {"note", note}});
    messages_.push_back({{"role", "user"}, {"content", note}});
    return StepEnd::kContinue;
}

Result<AgentRun> AgentLoop::run(const std::string& task) {
    log("start", {{"task", task}, {"budget_tokens", budget_.tokens()}});
    efc_.begin_task(task);
    if (!config_.mcp_url.empty()) {
        GANNET_ASSIGN_OR_RETURN(AgentTools t, AgentTools::connect(config_.mcp_url, config_.endpoint.api_key));
        tools_.emplace(std::move(t));
    }
    messages_.push_back({{"role", "system"},
                         {"content", config_.system_prompt.empty() ? kDefaultSystemPrompt : config_.system_prompt}});
    messages_.push_back({{"role", "user"}, {"content", task}});
    out_.stop_reason = "max_steps";
    for (int64_t step = 0; step < config_.max_steps; ++step) {
        GANNET_ASSIGN_OR_RETURN(StepEnd end, model_step(step));
        if (end == StepEnd::kStop) {
            break;
        }
        GANNET_RETURN_IF_ERROR(tool_step(step, pending_tool_calls_));
        if (check_stall(step) == StepEnd::kStop) {
            break;
        }
    }
    json retained = json::array();
    for (const EventScore& e : efc_.events()) {
        retained.push_back({{"retained", e.is_retained}, {"credit", e.credit()}});
    }
    out_.efc = efc_.efc();
    out_.d_task = efc_.d_task();
    log("efc", {{"efc", efc_.efc()},
                {"d_task", efc_.d_task()},
                {"efc_per_demand", efc_.efc_per_demand()},
                {"n_events", efc_.events().size()},
                {"n_replans", out_.n_efc_replans},
                {"events", std::move(retained)}});
    log("finish", {{"stop_reason", out_.stop_reason},
                   {"spent_tokens", out_.spent_tokens},
                   {"billed_tokens", out_.billed_tokens},
                   {"reserved_tokens", out_.reserved_tokens},
                   {"leftover_tokens", budget_.tokens()},
                   {"n_model_calls", out_.n_model_calls},
                   {"n_tool_calls", out_.n_tool_calls},
                   {"n_violations", out_.n_violations}});
    AgentRun run;
    run.outcome = std::move(out_);
    run.leftover.emplace(std::move(budget_));
    return run;
}

// Splits `budget` into n children + the parent's own share, runs the children concurrently, merges
// back what they leave. Returns the children's outcomes; *budget ends holding the parent's share
// plus every child's leftover.
Result<std::vector<AgentOutcome>> delegate(const AgentConfig& config, const std::string& task, budget::Budget& budget,
                                           const std::string& id) {
    const int n = config.n_children;
    const uint64_t share = budget.tokens() / static_cast<uint64_t>(n + 1);
    std::vector<budget::Budget> shares;
    for (int i = 0; i < n; ++i) {
        Result<std::pair<budget::Budget, budget::Budget>> parts = std::move(budget).split(share);
        GANNET_CHECK(parts.has_value());  // n shares of tokens/(n+1) always fit
        shares.push_back(std::move(parts->first));
        budget = std::move(parts->second);
    }
    if (config.transcript != nullptr) {
        config.transcript->write(id, "delegate",
                                 {{"n_children", n}, {"share_tokens", share}, {"kept_tokens", budget.tokens()}});
    }
    AgentConfig child_config = config;
    child_config.n_children = 0;
    std::vector<std::optional<Result<AgentRun>>> results(static_cast<size_t>(n));
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i, b = std::move(shares[static_cast<size_t>(i)])]() mutable {
            const std::string subtask = "Sub-task " + std::to_string(i + 1) + " of " + std::to_string(n) + ": " + task;
            AgentConfig mine = child_config;
            mine.seed = config.seed + 1000003ull * static_cast<uint64_t>(i + 1);
            results[static_cast<size_t>(i)] = run_agent(mine, subtask, std::move(b), id + "." + std::to_string(i + 1));
        });
    }
    for (std::thread& t : threads) {
        t.join();
    }
    std::vector<AgentOutcome> outcomes;
    Status first_error;
    for (std::optional<Result<AgentRun>>& r : results) {
        if (!r->has_value()) {
            first_error = first_error.ok() ? r->error() : first_error;  // that child's budget is forfeited
            continue;
        }
        AgentRun run = std::move(**r);
        give_back(budget, std::move(*run.leftover));
        outcomes.push_back(std::move(run.outcome));
    }
    if (!first_error.ok()) {
        return first_error;
    }
    return outcomes;
}

}  // namespace

Result<AgentRun> run_agent(const AgentConfig& config, const std::string& task, budget::Budget&& budget,
                           const std::string& agent_id) {
    budget::Budget mine = std::move(budget);
    std::string own_task = task;
    std::vector<AgentOutcome> children;
    if (config.n_children > 0) {
        GANNET_ASSIGN_OR_RETURN(children, delegate(config, task, mine, agent_id));
        own_task += "\n\nYour sub-agents answered:";
        for (const AgentOutcome& c : children) {
            own_task += "\n- " + c.agent_id + ": " + c.answer.substr(0, 200);
        }
    }
    AgentConfig own = config;
    own.n_children = 0;
    AgentLoop loop(own, agent_id, std::move(mine));
    GANNET_ASSIGN_OR_RETURN(AgentRun run, loop.run(own_task));
    for (AgentOutcome& c : children) {
        run.outcome.spent_tokens += c.spent_tokens;
        run.outcome.billed_tokens += c.billed_tokens;
        run.outcome.reserved_tokens += c.reserved_tokens;
        run.outcome.n_violations += c.n_violations;
        run.outcome.n_false_refusals += c.n_false_refusals;
        run.outcome.n_model_calls += c.n_model_calls;
        run.outcome.n_tool_calls += c.n_tool_calls;
        run.outcome.children.push_back(std::move(c));
    }
    return run;
}

}  // namespace gannet::agent
