// BudgetGate: `gannet serve --budgets FILE`. Every API key has a token budget; each completion
// request reserves prompt + max_tokens in the shared ledger before it is scheduled (HTTP 429 in
// OpenAI's error shape when that does not fit), and commits the usage the engine reports when it
// ends (finished, failed, cancelled or disconnected); an MCP tools/call under the same key is
// charged the tool's cost from the same ledger. GET /v1/budget and /metrics report the state.
// A request without max_tokens gets at most what the budget still holds; if its output stops there
// the stream ends with a final "budget_exhausted" error event carrying the usage.
// Budgets file (JSON; unknown fields are errors):
//   {"budgets": [{"name": "alice", "key": "sk-...", "tokens": 100000}, ...],
//    "tool_costs": {"default": 0, "read_file": 20, "run_command": {"tokens": 50, "max_output_bytes": 8192}}}
// (a metered tool: budget_tool_meter.h)
// Owned by src/server/. Thread-safe: immutable after load; the ledger is the store's. admit() and
// commit() make one store round trip each (a local SQLite write or a Redis call, well under a
// millisecond) on the calling I/O or engine thread; a store that stalls stalls those threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "mcp/auth.h"
#include "mcp/store.h"
#include "server/budget_ledger.h"
#include "server/http_server.h"
#include "server/openai_json.h"

namespace gannet::server {

struct BudgetAccount {
    std::string name;  // ledger and metrics label; the key itself is never logged or exported
    std::string key;
    uint64_t limit = 0;  // tokens
};

struct BudgetsConfig {
    std::vector<BudgetAccount> accounts;
    std::map<std::string, uint64_t> tool_costs;  // by tool name
    uint64_t default_tool_cost = 0;
    // Metered tools ({"tokens": T, "max_output_bytes": B} entries): declared output bytes by tool name
    // (their T is in tool_costs). See budget_tool_meter.h.
    std::map<std::string, uint64_t> tool_output_bytes;
};

// Parses a budgets file's text; `origin` names it in errors ("budgets FILE: budgets[2] (bob): tokens:
// ..."). kInvalidArgument for malformed JSON, unknown or missing fields, duplicate names or keys,
// amounts that are negative, fractional or above 2^62.
Result<BudgetsConfig> parse_budgets(const std::string& text, const std::string& origin);
Result<BudgetsConfig> load_budgets_file(const std::string& path);  // + kNotFound

class BudgetGate;

// One admitted request's reservation. commit() once with the billed usage; dropping it uncommitted
// (the request never reached the engine) refunds it all.
class BudgetTicket {
public:
    BudgetTicket(std::shared_ptr<BudgetGate> gate, const BudgetAccount& account, uint64_t reserved,
                 bool is_budget_limited);
    ~BudgetTicket();
    BudgetTicket(const BudgetTicket&) = delete;
    BudgetTicket& operator=(const BudgetTicket&) = delete;

    void commit(uint64_t actual_tokens);
    // The error object ({message, type "insufficient_quota", code "budget_exhausted"}) a response must
    // carry when its output stopped at the budget ("length" while the budget, not the request, set
    // max_tokens); none otherwise. A non-streamed response carries it as a top-level "error" beside
    // its choices and usage (docs/budgets.md: the billed output is delivered, the cut is explicit).
    std::optional<nlohmann::json> final_error(const std::string& finish_reason) const;
    // The same as the SSE event that must precede [DONE] ({"error": ..., "usage": ...}); "" if none.
    std::string final_event(const std::string& finish_reason, const nlohmann::json& usage) const;

private:
    std::shared_ptr<BudgetGate> gate_;
    const BudgetAccount& account_;  // owned by gate_'s config, which it keeps alive
    uint64_t reserved_;
    bool is_budget_limited_;
    std::atomic<bool> is_done_{false};
};

class BudgetGate : public std::enable_shared_from_this<BudgetGate> {
    struct Key {};  // passkey: only create() can construct (the constructor is public for make_shared)

public:
    static Result<std::shared_ptr<BudgetGate>> create(BudgetsConfig config, std::shared_ptr<mcp::Store> store);

    // Admits a completion request of n_prompt tokens. *max_tokens is the request's (is_max_tokens_set)
    // or the context's rest; without an explicit one it is lowered to what the budget holds.
    // Returns the error to send (401 unknown/missing key, 429 not enough budget, 503 store down).
    std::optional<OpenAiError> admit(const HttpRequest& request, int32_t n_prompt, bool is_max_tokens_set,
                                     int32_t* max_tokens, std::shared_ptr<BudgetTicket>* ticket);

    // GET /v1/budget.
    void mount(HttpServer& http);
    // GET /metrics with only the budget lines: for `serve --no-model`, where no model route serves
    // /metrics (with a model, the OpenAI routes append metrics_text() to the engine's).
    void mount_metrics(HttpServer& http);
    // Wraps the MCP handler: tools/call is charged the tool's cost under the request's key first.
    Handler wrap_mcp(Handler inner);
    // Prometheus lines: limit, spent, reserved, remaining per account; refusals.
    std::string metrics_text() const;

    BudgetLedger& ledger() { return ledger_; }

    BudgetGate(Key, BudgetsConfig config, std::shared_ptr<mcp::Store> store);

private:
    const BudgetAccount* authenticate(const HttpRequest& request) const;
    // A metered tool's call (budget_tool_meter.h): reserve, run through a MeteredWriter, commit.
    void call_metered(HttpRequest req, std::shared_ptr<ResponseWriter> w, const Handler& inner, const BudgetAccount& a,
                      const std::string& tool, const nlohmann::json& id, uint64_t cost, uint64_t declared_bytes);
    friend class BudgetTicket;

    BudgetsConfig config_;
    mcp::Auth keys_;  // key -> account name, compared in constant time
    BudgetLedger ledger_;
    std::atomic<uint64_t> n_refused_{0};
    std::atomic<uint64_t> n_ledger_errors_{0};
};

}  // namespace gannet::server
