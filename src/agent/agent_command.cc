#include "agent/agent_command.h"

#include <cstdio>
#include <cstdlib>
#include <optional>

#include "agent/agent.h"
#include "agent/agent_experiment.h"
#include "agent/agent_flags.h"
#include "agent/exact_counter.h"
#include "json/json.h"

namespace gannet::agent {

namespace {

int fail(const Status& s) {
    std::fprintf(stderr, "gannet agent: %s\n", s.message().c_str());
    return 1;
}

// The MCP endpoint beside an OpenAI base URL: http://H:P/v1 -> http://H:P/mcp (gannet serve mounts both).
std::string default_mcp_url(const bench::Url& url) {
    const bool is_v6 = url.host.find(':') != std::string::npos;
    return "http://" + (is_v6 ? "[" + url.host + "]" : url.host) + ":" + std::to_string(url.port) + "/mcp";
}

// The estimators --estimator names, owned here for the run (the config points into this).
struct EstimatorSet {
    std::optional<ExactCounter> exact;
    std::optional<budget::TokenizerEstimator> tokens;
    std::optional<budget::P99OutputEstimator> p99;

    // kNotFound/kDataLoss when the tokenizer GGUF cannot be read. REQUIRES: name was validated.
    Status setup(const std::string& name, const std::string& tokenizer_path, uint64_t max_tokens, AgentConfig* config) {
        if (name == "bytes") {
            return Status();  // the harness's default
        }
        GANNET_ASSIGN_OR_RETURN(ExactCounter loaded, ExactCounter::load(tokenizer_path));
        exact.emplace(std::move(loaded));
        tokens.emplace([this](std::string_view text) { return exact->count(text); });
        config->prompt_estimator = &*tokens;
        if (name == "adaptive") {
            p99.emplace(max_tokens);  // shared by the sub-agents: it is thread-safe
            config->output_estimator = &*p99;
        }
        return Status();
    }
};

nlohmann::json outcome_json(const AgentOutcome& o) {
    nlohmann::json j = {{"agent", o.agent_id},
                        {"stop_reason", o.stop_reason},
                        {"n_model_calls", o.n_model_calls},
                        {"n_tool_calls", o.n_tool_calls},
                        {"spent_tokens", o.spent_tokens},
                        {"billed_tokens", o.billed_tokens},
                        {"reserved_tokens", o.reserved_tokens},
                        {"violations", o.n_violations},
                        {"false_refusals", o.n_false_refusals},
                        {"efc", o.efc},
                        {"d_task", o.d_task},
                        {"efc_replans", o.n_efc_replans}};
    nlohmann::json children = nlohmann::json::array();
    for (const AgentOutcome& c : o.children) {
        children.push_back(outcome_json(c));
    }
    if (!children.empty()) {
        j["children"] = children;
    }
    return j;
}

}  // namespace

int agent_main(const std::vector<std::string>& args) {
    if (!args.empty() && args[0] == "efc-replay") {
        return efc_replay_main({args.begin() + 1, args.end()});
    }
    std::string task;
    std::string endpoint = "http://127.0.0.1:8080/v1";
    std::string mcp_url;
    std::string transcript_path;
    std::string api_key;
    std::string model;
    int64_t budget_tokens = 20000;
    int64_t max_steps = 8;
    int64_t max_tokens = 64;
    int64_t n_children = 0;
    int64_t seed = 1;
    int64_t tool_cost = 0;
    double temperature = 0.7;
    std::string estimator = "bytes";
    const char* env_model = std::getenv("GANNET_MODEL");
    std::string tokenizer_path = env_model && *env_model ? env_model : "models/gannet-default.gguf";
    bool is_no_tools = false;
    bool is_help = false;
    EfcStopConfig efc_stop;
    int64_t efc_window = efc_stop.window;
    int64_t efc_replans = efc_stop.max_replans;
    AgentFlags flags("gannet agent");
    flags.add_string("--task", &task, "what the agent should do (required)");
    flags.add_string("--endpoint", &endpoint, "OpenAI base URL (default http://127.0.0.1:8080/v1)");
    flags.add_string("--mcp", &mcp_url, "MCP server URL (default: /mcp beside --endpoint)");
    flags.add_bool("--no-tools", &is_no_tools, "run without an MCP server");
    flags.add_string("--api-key", &api_key, "Bearer key for the model and the tools (gannet serve --budgets)");
    flags.add_string("--model", &model, "model name (default: the first GET /models lists)");
    flags.add_int("--budget", &budget_tokens, 0, int64_t{1} << 62,
                  "token budget for the run, sub-agents included (20000)");
    flags.add_int("--max-steps", &max_steps, 1, 1000, "model calls per agent (8)");
    flags.add_int("--max-tokens", &max_tokens, 1, 1 << 20, "output tokens per model call (64)");
    flags.add_int("--delegate", &n_children, 0, 64,
                  "sub-agents the task is delegated to first, each with a split budget (0)");
    flags.add_double("--temperature", &temperature, 0, 2, "sampling temperature (0.7)");
    flags.add_int("--seed", &seed, 0, int64_t{1} << 62, "sampling seed (1)");
    flags.add_int("--tool-cost", &tool_cost, 0, int64_t{1} << 40,
                  "tokens each tool call costs (match the server's tool_costs)");
    flags.add_string(
        "--estimator", &estimator,
        "bytes (x2 + max_tokens, default), tokenizer (exact prompt + max_tokens) or adaptive (exact + p99 output)");
    flags.add_string("--tokenizer", &tokenizer_path,
                     "GGUF the server runs, for --estimator tokenizer|adaptive (default $GANNET_MODEL or "
                     "models/gannet-default.gguf)");
    flags.add_string("--transcript", &transcript_path, "write every event as JSON lines to FILE");
    flags.add_bool("--efc-stop", &efc_stop.is_enabled,
                   "when credited feedback stalls (docs/efc.md), send a replan note, then stop (\"efc_stall\")");
    flags.add_int("--efc-window", &efc_window, 1, 1000, "--efc-stop: judge the last N tool results (4)");
    flags.add_double("--efc-min-credit", &efc_stop.min_credit, 0, 1000,
                     "--efc-stop: stalled when those results carry less provisional credit than this (0.5)");
    flags.add_int("--efc-replans", &efc_replans, 0, 100, "--efc-stop: replan notes before stopping (1)");
    flags.add_bool("--help", &is_help, "show this help");
    if (Status s = flags.parse(args); !s.ok()) {
        return fail(s);
    }
    efc_stop.window = static_cast<int>(efc_window);
    efc_stop.max_replans = static_cast<int>(efc_replans);
    if (is_help) {
        std::printf(
            "usage: gannet agent --task TEXT [--endpoint URL] [--mcp URL] [--budget N] [--max-steps N]\n"
            "                    [--transcript FILE] [--delegate N] ...\n"
            "       gannet agent budget-experiment [--runs N] [--json] ...\n"
            "       gannet agent efc-replay --transcript FILE\n\n%s",
            flags.usage().c_str());
        return 0;
    }
    if (task.empty()) {
        return fail(make_error(ErrorCode::kInvalidArgument, "--task is required"));
    }
    if (estimator != "bytes" && estimator != "tokenizer" && estimator != "adaptive") {
        return fail(make_error(ErrorCode::kInvalidArgument,
                               "--estimator must be bytes, tokenizer or adaptive, got '%s'", estimator.c_str()));
    }
    AgentConfig config;
    Result<bench::Url> url = bench::parse_url(endpoint);
    if (!url.has_value()) {
        return fail(url.error());
    }
    config.endpoint.url = *url;
    config.endpoint.api_key = api_key;
    config.endpoint.model = model;
    if (config.endpoint.model.empty()) {
        Result<std::string> m = resolve_model(config.endpoint);
        if (!m.has_value()) {
            return fail(m.error());
        }
        config.endpoint.model = *m;
    }
    config.mcp_url = is_no_tools ? "" : (mcp_url.empty() ? default_mcp_url(*url) : mcp_url);
    config.max_steps = max_steps;
    config.max_output_tokens = static_cast<uint64_t>(max_tokens);
    config.n_children = static_cast<int>(n_children);
    config.temperature = temperature;
    config.seed = static_cast<uint64_t>(seed);
    config.tool_cost = static_cast<uint64_t>(tool_cost);
    config.efc_stop = efc_stop;
    EstimatorSet estimators;
    if (Status s = estimators.setup(estimator, tokenizer_path, static_cast<uint64_t>(max_tokens), &config); !s.ok()) {
        return fail(s);
    }
    AgentTranscript transcript;
    if (Status s = transcript.open(transcript_path); !s.ok()) {
        return fail(s);
    }
    config.transcript = &transcript;
    // The command holds the only mint: everything the run spends comes from this one budget.
    budget::BudgetMint mint(static_cast<uint64_t>(budget_tokens));
    Result<budget::Budget> root = mint.mint(static_cast<uint64_t>(budget_tokens));
    if (!root.has_value()) {
        return fail(root.error());
    }
    Result<AgentRun> run = run_agent(config, task, std::move(*root));
    if (!run.has_value()) {
        return fail(run.error());
    }
    nlohmann::json summary = outcome_json(run->outcome);
    summary["budget_tokens"] = budget_tokens;
    summary["leftover_tokens"] = run->leftover->tokens();
    std::printf("%s\n%s\n", run->outcome.answer.c_str(), gannet::json::dump(summary).c_str());
    return 0;
}

}  // namespace gannet::agent

namespace gannet::agent {

int budget_experiment_main(const std::vector<std::string>& args) {
    ExperimentOptions o;
    std::string endpoint = "http://127.0.0.1:8080/v1";
    int64_t runs = o.runs;
    int64_t n_stratified = o.n_stratified;
    int64_t max_tokens = static_cast<int64_t>(o.max_tokens);
    int64_t seed = 1;
    bool is_json = false;
    bool is_help = false;
    const char* env_model = std::getenv("GANNET_MODEL");
    o.tokenizer_path = env_model && *env_model ? env_model : "models/gannet-default.gguf";
    AgentFlags flags("gannet agent budget-experiment");
    flags.add_string("--endpoint", &endpoint,
                     "OpenAI base URL of the server under test (default http://127.0.0.1:8080/v1)");
    flags.add_string("--api-key", &o.endpoint.api_key, "Bearer key, when the server has --budgets");
    flags.add_string(
        "--tokenizer", &o.tokenizer_path,
        "GGUF the server runs (its tokenizer and chat template; default $GANNET_MODEL or models/gannet-default.gguf)");
    flags.add_int("--runs", &runs, 1, 10000, "runs per arm of the retry and fan-out experiments (30)");
    flags.add_int("--stratified-runs", &n_stratified, 12, 100000,
                  "at least this many temperature x estimator runs (160)");
    flags.add_int("--max-tokens", &max_tokens, 1, 4096, "output cap per call (64)");
    flags.add_int("--seed", &seed, 0, int64_t{1} << 40, "base sampling seed (1)");
    flags.add_bool("--json", &is_json, "print only the summary JSON line");
    flags.add_bool("--help", &is_help, "show this help");
    if (Status s = flags.parse(args); !s.ok()) {
        return fail(s);
    }
    if (is_help) {
        std::printf(
            "usage: gannet agent budget-experiment [--runs N] [--json] [--endpoint URL] [--tokenizer GGUF]\n\n%s",
            flags.usage().c_str());
        return 0;
    }
    Result<bench::Url> url = bench::parse_url(endpoint);
    if (!url.has_value()) {
        return fail(url.error());
    }
    o.endpoint.url = *url;
    Result<std::string> model = resolve_model(o.endpoint);
    if (!model.has_value()) {
        return fail(model.error());
    }
    o.endpoint.model = *model;
    o.runs = static_cast<int>(runs);
    o.n_stratified = static_cast<int>(n_stratified);
    o.max_tokens = static_cast<uint64_t>(max_tokens);
    o.seed = static_cast<uint64_t>(seed);
    o.is_quiet = is_json;
    Result<nlohmann::json> summary = run_budget_experiment(o);
    if (!summary.has_value()) {
        return fail(summary.error());
    }
    if (!is_json) {
        std::printf("%-11s %-10s %5s %10s %14s %16s\n", "temperature", "estimator", "runs", "violations",
                    "false_refusals", "over_reservation");
        for (const nlohmann::json& c : (*summary)["cells"]) {
            std::printf("%-11.1f %-10s %5d %10d %14d %16.2f\n", c["temperature"].get<double>(),
                        c["estimator"].get<std::string>().c_str(), c["runs"].get<int>(), c["violations"].get<int>(),
                        c["false_refusals"].get<int>(), c["over_reservation"].get<double>());
        }
    }
    std::printf("%s\n", gannet::json::dump(*summary).c_str());
    return 0;
}

}  // namespace gannet::agent
