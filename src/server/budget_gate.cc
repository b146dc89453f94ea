#include "server/budget_gate.h"

#include <cctype>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <set>

#include "base/log.h"
#include "budget/budget.h"
#include "json/json.h"
#include "mcp/rpc_error.h"
#include "server/budget_tool_meter.h"

namespace gannet::server {

using nlohmann::json;

namespace {

// JSON-RPC server-error code for a tools/call refused by the budget (-32000..-32099 is ours).
constexpr int kRpcBudgetExhausted = -32029;

Status bad(const std::string& where, const std::string& what) {
    return make_error(ErrorCode::kInvalidArgument, "budgets %s: %s", where.c_str(), what.c_str());
}

// A token amount: a JSON integer in [0, 2^62]. Names the field and the bad value.
Result<uint64_t> parse_amount(const json& v, const std::string& where, const std::string& field) {
    const std::string got = v.dump();
    if (v.is_number_unsigned()) {
        const uint64_t n = v.get<uint64_t>();
        if (n > budget::kMaxTokens) {
            return bad(where, field + ": " + got + " overflows the maximum " + std::to_string(budget::kMaxTokens));
        }
        return n;
    }
    if (v.is_number_integer()) {
        return bad(where, field + ": must not be negative, got " + got);
    }
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (d < 0) {
            return bad(where, field + ": must not be negative, got " + got);
        }
        if (d > static_cast<double>(budget::kMaxTokens)) {
            return bad(where, field + ": " + got + " overflows the maximum " + std::to_string(budget::kMaxTokens));
        }
        return bad(where, field + ": must be a whole number of tokens, got " + got);
    }
    return bad(where, field + ": must be an integer number of tokens, got " + got);
}

Status check_fields(const json& obj, const std::set<std::string>& allowed, const std::string& where) {
    for (const auto& [k, v] : obj.items()) {
        if (allowed.count(k) == 0) {
            std::string list;
            for (const std::string& a : allowed) {
                list += (list.empty() ? "" : ", ") + a;
            }
            return bad(where, "unknown field '" + k + "' (expected " + list + ")");
        }
    }
    return Status();
}

Result<BudgetAccount> parse_account(const json& e, size_t i, const std::string& origin) {
    std::string where = origin + ": budgets[" + std::to_string(i) + "]";
    if (!e.is_object()) {
        return bad(where, "must be an object {\"name\", \"key\", \"tokens\"}, got " + e.dump());
    }
    BudgetAccount a;
    if (!e.contains("name") || !e["name"].is_string() || e["name"].get<std::string>().empty()) {
        return bad(where, "name: a non-empty string is required");
    }
    a.name = e["name"].get<std::string>();
    where += " (" + a.name + ")";
    GANNET_RETURN_IF_ERROR(check_fields(e, {"name", "key", "tokens"}, where));
    for (char c : a.name) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
            return bad(where, "name: only letters, digits, '-', '_' and '.' are allowed (it is a metrics label)");
        }
    }
    if (!e.contains("key") || !e["key"].is_string() || e["key"].get<std::string>().size() < 8) {
        return bad(where, "key: a string of at least 8 characters is required");
    }
    a.key = e["key"].get<std::string>();
    if (!e.contains("tokens")) {
        return bad(where, "tokens: required");
    }
    GANNET_ASSIGN_OR_RETURN(a.limit, parse_amount(e["tokens"], where, "tokens"));
    return a;
}

json error_json(const OpenAiError& e) {
    return json::parse(error_body(e));
}

HttpResponse json_reply(int status, const json& body) {
    return HttpResponse{
        .status = status, .headers = {{"Content-Type", "application/json"}}, .body = gannet::json::dump(body)};
}

OpenAiError unauthorized() {
    return {.http_status = 401,
            .message = "budgets: missing or unknown API key (send Authorization: Bearer KEY)",
            .type = "invalid_request_error",
            .param = "",
            .code = "invalid_api_key"};
}

OpenAiError exhausted(const std::string& message) {
    return {.http_status = 429,
            .message = message,
            .type = "insufficient_quota",
            .param = "",
            .code = "insufficient_quota"};
}

}  // namespace

Result<BudgetsConfig> parse_budgets(const std::string& text, const std::string& origin) {
    Result<json> parsed = gannet::json::parse(text);
    if (!parsed.has_value()) {
        return bad(origin, parsed.error().message());
    }
    const json& root = *parsed;
    if (!root.is_object()) {
        return bad(origin, "must be a JSON object {\"budgets\": [...], \"tool_costs\": {...}}");
    }
    GANNET_RETURN_IF_ERROR(check_fields(root, {"budgets", "tool_costs"}, origin));
    if (!root.contains("budgets") || !root["budgets"].is_array() || root["budgets"].empty()) {
        return bad(origin, "budgets: a non-empty array of {\"name\", \"key\", \"tokens\"} is required");
    }
    BudgetsConfig config;
    std::set<std::string> names;
    std::set<std::string> keys;
    for (size_t i = 0; i < root["budgets"].size(); ++i) {
        GANNET_ASSIGN_OR_RETURN(BudgetAccount a, parse_account(root["budgets"][i], i, origin));
        if (!names.insert(a.name).second) {
            return bad(origin, "budgets[" + std::to_string(i) + "]: duplicate name '" + a.name + "'");
        }
        if (!keys.insert(a.key).second) {
            return bad(origin, "budgets[" + std::to_string(i) + "] (" + a.name + "): its key is also another budget's");
        }
        config.accounts.push_back(std::move(a));
    }
    if (root.contains("tool_costs")) {
        const json& costs = root["tool_costs"];
        if (!costs.is_object()) {
            return bad(origin,
                       "tool_costs: must be an object {\"TOOL\": tokens or {\"tokens\": T, \"max_output_bytes\": B}, "
                       "\"default\": tokens}");
        }
        for (const auto& [tool, v] : costs.items()) {
            const std::string field = "tool_costs." + tool;
            if (v.is_object() && tool != "default") {  // a metered tool
                GANNET_RETURN_IF_ERROR(check_fields(v, {"tokens", "max_output_bytes"}, origin + ": " + field));
                if (!v.contains("tokens") || !v.contains("max_output_bytes")) {
                    return bad(origin, field + ": a metered tool needs both \"tokens\" and \"max_output_bytes\"");
                }
                GANNET_ASSIGN_OR_RETURN(config.tool_costs[tool], parse_amount(v["tokens"], origin, field + ".tokens"));
                GANNET_ASSIGN_OR_RETURN(uint64_t bytes,
                                        parse_amount(v["max_output_bytes"], origin, field + ".max_output_bytes"));
                if (bytes == 0) {
                    return bad(origin, field + ".max_output_bytes: must be at least 1, got 0");
                }
                config.tool_output_bytes[tool] = bytes;
                continue;
            }
            GANNET_ASSIGN_OR_RETURN(uint64_t cost, parse_amount(v, origin, field));
            if (tool == "default") {
                config.default_tool_cost = cost;
            } else {
                config.tool_costs[tool] = cost;
            }
        }
    }
    return config;
}

Result<BudgetsConfig> load_budgets_file(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
        return make_error(ErrorCode::kNotFound, "budgets %s: cannot open the file", path.c_str());
    }
    std::string text;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) {
        text.append(buf, n);
    }
    std::fclose(f);
    return parse_budgets(text, path);
}

BudgetTicket::BudgetTicket(std::shared_ptr<BudgetGate> gate, const BudgetAccount& account, uint64_t reserved,
                           bool is_budget_limited)
    : gate_(std::move(gate)), account_(account), reserved_(reserved), is_budget_limited_(is_budget_limited) {}

// Never reached the engine (or its callbacks were dropped): nothing was generated, refund it all.
BudgetTicket::~BudgetTicket() {
    commit(0);
}

void BudgetTicket::commit(uint64_t actual_tokens) {
    if (is_done_.exchange(true)) {
        return;
    }
    Status s = gate_->ledger_.commit(account_.name, reserved_, actual_tokens);
    if (!s.ok()) {
        // The tokens stay reserved in the ledger (counted against the budget), so the cap holds.
        gate_->n_ledger_errors_.fetch_add(1);
        GANNET_LOG_ERROR("budget", "commit account=%s reserved=%" PRIu64 " actual=%" PRIu64 ": %s",
                         account_.name.c_str(), reserved_, actual_tokens, s.message().c_str());
    }
}

std::optional<json> BudgetTicket::final_error(const std::string& finish_reason) const {
    if (!is_budget_limited_ || finish_reason != "length") {
        return std::nullopt;
    }
    json e = error_json(exhausted("budget exhausted: the output stopped at the " + std::to_string(reserved_)
                                  + " tokens left in budget '" + account_.name + "' (prompt included)"));
    e["error"]["code"] = "budget_exhausted";
    return e["error"];
}

std::string BudgetTicket::final_event(const std::string& finish_reason, const nlohmann::json& usage) const {
    std::optional<json> error = final_error(finish_reason);
    if (!error.has_value()) {
        return "";
    }
    return sse_data(json{{"error", std::move(*error)}, {"usage", usage}});
}

BudgetGate::BudgetGate(Key, BudgetsConfig config, std::shared_ptr<mcp::Store> store)
    : config_(std::move(config)), ledger_(std::move(store)) {
    std::map<std::string, std::string> keys;
    for (const BudgetAccount& a : config_.accounts) {
        keys[a.key] = a.name;
    }
    keys_ = mcp::Auth::from_tokens(std::move(keys));
}

Result<std::shared_ptr<BudgetGate>> BudgetGate::create(BudgetsConfig config, std::shared_ptr<mcp::Store> store) {
    auto gate = std::make_shared<BudgetGate>(Key{}, std::move(config), std::move(store));
    for (const BudgetAccount& a : gate->config_.accounts) {
        GANNET_RETURN_IF_ERROR(gate->ledger_.read(a.name).error());  // the store answers, records parse
    }
    return gate;
}

const BudgetAccount* BudgetGate::authenticate(const HttpRequest& request) const {
    std::optional<std::string> name = keys_.authenticate(request.header("authorization"));
    if (!name.has_value()) {
        return nullptr;
    }
    for (const BudgetAccount& a : config_.accounts) {
        if (a.name == *name) {
            return &a;
        }
    }
    return nullptr;
}

std::optional<OpenAiError> BudgetGate::admit(const HttpRequest& request, int32_t n_prompt, bool is_max_tokens_set,
                                             int32_t* max_tokens, std::shared_ptr<BudgetTicket>* ticket) {
    const BudgetAccount* a = authenticate(request);
    if (a == nullptr) {
        return unauthorized();
    }
    Result<LedgerEntry> e = ledger_.read(a->name);
    if (!e.has_value()) {
        return OpenAiError{
            .http_status = 503, .message = e.error().message(), .type = "server_error", .param = "", .code = ""};
    }
    const uint64_t used = e->spent + e->reserved;
    const uint64_t left = used >= a->limit ? 0 : a->limit - used;
    const uint64_t prompt = static_cast<uint64_t>(n_prompt);
    uint64_t output = static_cast<uint64_t>(*max_tokens);
    bool is_limited = false;
    if (!is_max_tokens_set && left > prompt && left - prompt < output) {
        output = left - prompt;  // run until the budget is spent, then end with budget_exhausted
        is_limited = true;
    }
    const uint64_t need = prompt + output;
    char detail[256];
    std::snprintf(detail, sizeof detail,
                  "budget '%s' has %" PRIu64 " tokens left (%" PRIu64 " spent, %" PRIu64 " reserved of %" PRIu64
                  "); this request needs %" PRIu64 " (%" PRIu64 " prompt + %" PRIu64 " max_tokens)",
                  a->name.c_str(), left, e->spent, e->reserved, a->limit, need, prompt, output);
    Result<bool> fits = need <= left ? ledger_.reserve(a->name, a->limit, need) : Result<bool>(false);
    if (!fits.has_value()) {
        return OpenAiError{
            .http_status = 503, .message = fits.error().message(), .type = "server_error", .param = "", .code = ""};
    }
    if (!*fits) {
        n_refused_.fetch_add(1);
        return exhausted(std::string("budget exhausted: ") + detail);
    }
    *max_tokens = static_cast<int32_t>(output);
    *ticket = std::make_shared<BudgetTicket>(shared_from_this(), *a, need, is_limited);
    return std::nullopt;
}

void BudgetGate::mount_metrics(HttpServer& http) {
    std::weak_ptr<BudgetGate> weak = weak_from_this();
    http.add_route("GET", "/metrics", [weak](HttpRequest, std::shared_ptr<ResponseWriter> w) {
        std::shared_ptr<BudgetGate> self = weak.lock();
        w->send(HttpResponse{.status = 200,
                             .headers = {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}},
                             .body = self ? self->metrics_text() : ""});
    });
}

void BudgetGate::mount(HttpServer& http) {
    std::weak_ptr<BudgetGate> weak = weak_from_this();
    http.add_route("GET", "/v1/budget", [weak](HttpRequest req, std::shared_ptr<ResponseWriter> w) {
        std::shared_ptr<BudgetGate> self = weak.lock();
        const BudgetAccount* a = self ? self->authenticate(req) : nullptr;
        if (a == nullptr) {
            w->send(json_reply(401, error_json(unauthorized())));
            return;
        }
        if (req.target.size() != req.path.size()) {
            // A key reads its own account only; no query can name another (nor is one ignored).
            w->send(json_reply(400, error_json({.http_status = 400,
                                                .message = "/v1/budget takes no query parameters, got '"
                                                           + req.target.substr(req.path.size()) + "'",
                                                .type = "invalid_request_error",
                                                .param = "",
                                                .code = ""})));
            return;
        }
        Result<LedgerEntry> e = self->ledger_.read(a->name);
        if (!e.has_value()) {
            w->send(json_reply(503, error_json({.http_status = 503,
                                                .message = e.error().message(),
                                                .type = "server_error",
                                                .param = "",
                                                .code = ""})));
            return;
        }
        const uint64_t used = e->spent + e->reserved;
        w->send(json_reply(200, {{"object", "budget"},
                                 {"name", a->name},
                                 {"limit_tokens", a->limit},
                                 {"spent_tokens", e->spent},
                                 {"reserved_tokens", e->reserved},
                                 {"remaining_tokens", used >= a->limit ? 0 : a->limit - used}}));
    });
}

Handler BudgetGate::wrap_mcp(Handler inner) {
    std::shared_ptr<BudgetGate> self = shared_from_this();
    return [self, inner = std::move(inner)](HttpRequest req, std::shared_ptr<ResponseWriter> w) {
        json msg = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
        const bool is_tool_call = req.method == "POST" && msg.is_object() && msg.value("method", "") == "tools/call"
                                  && msg.contains("params") && msg["params"].is_object()
                                  && msg["params"].contains("name") && msg["params"]["name"].is_string();
        if (!is_tool_call) {
            inner(std::move(req), std::move(w));  // everything else is the MCP server's to answer
            return;
        }
        const json id = msg.contains("id") ? msg["id"] : json();
        auto rpc_error = [&](int status, int code, const std::string& message, json data) {
            json body = {
                {"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}, {"data", data}}}};
            HttpResponse r = json_reply(status, body);
            if (status == 401) {
                r.headers.emplace_back("WWW-Authenticate", "Bearer");
            }
            w->send(std::move(r));
        };
        const BudgetAccount* a = self->authenticate(req);
        if (a == nullptr) {
            rpc_error(401, mcp::rpc_code::kInvalidRequest, unauthorized().message, json::object());
            return;
        }
        const std::string tool = msg["params"]["name"].get<std::string>();
        auto it = self->config_.tool_costs.find(tool);
        const uint64_t cost = it == self->config_.tool_costs.end() ? self->config_.default_tool_cost : it->second;
        if (auto metered = self->config_.tool_output_bytes.find(tool);
            metered != self->config_.tool_output_bytes.end()) {
            self->call_metered(std::move(req), std::move(w), inner, *a, tool, id, cost, metered->second);
            return;
        }
        Result<bool> charged = cost == 0 ? Result<bool>(true) : self->ledger_.charge(a->name, a->limit, cost);
        if (!charged.has_value()) {
            rpc_error(503, mcp::rpc_code::kInternalError, charged.error().message(), json::object());
            return;
        }
        if (!*charged) {
            self->n_refused_.fetch_add(1);
            rpc_error(429, kRpcBudgetExhausted,
                      "budget exhausted: tool '" + tool + "' costs " + std::to_string(cost) + " tokens, budget '"
                          + a->name + "' cannot pay it",
                      {{"tool", tool}, {"cost_tokens", cost}});
            return;
        }
        inner(std::move(req), std::move(w));
    };
}

void BudgetGate::call_metered(HttpRequest req, std::shared_ptr<ResponseWriter> w, const Handler& inner,
                              const BudgetAccount& a, const std::string& tool, const json& id, uint64_t cost,
                              uint64_t declared_bytes) {
    const uint64_t reserve = cost + tool_output_tokens(declared_bytes);
    Result<bool> fits = ledger_.reserve(a.name, a.limit, reserve);
    // By value: the settle callback below outlives this call.
    auto rpc_error = [id](int code, const std::string& message, json data) {
        return json{{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}, {"data", data}}}};
    };
    if (!fits.has_value()) {
        w->send(json_reply(503, rpc_error(mcp::rpc_code::kInternalError, fits.error().message(), json::object())));
        return;
    }
    if (!*fits) {
        n_refused_.fetch_add(1);
        w->send(json_reply(
            429, rpc_error(kRpcBudgetExhausted,
                           "budget exhausted: tool '" + tool + "' reserves " + std::to_string(reserve) + " tokens ("
                               + std::to_string(cost) + " + its declared " + std::to_string(declared_bytes)
                               + " output bytes), budget '" + a.name + "' cannot hold them",
                           {{"tool", tool}, {"reserve_tokens", reserve}})));
        return;
    }
    std::shared_ptr<BudgetGate> self = shared_from_this();
    auto settle = [self, &a, tool, cost, declared_bytes, reserve, rpc_error](HttpResponse answer, ResponseWriter& out) {
        const uint64_t bytes = answer.body.size();
        const bool is_over = answer.status == 0 || bytes > declared_bytes;  // 0: dropped unanswered
        const uint64_t charged = is_over ? reserve : std::min(reserve, cost + tool_output_tokens(bytes));
        if (Status s = self->ledger_.commit(a.name, reserve, charged); !s.ok()) {
            self->n_ledger_errors_.fetch_add(1);
            GANNET_LOG_ERROR("budget", "commit tool=%s account=%s: %s", tool.c_str(), a.name.c_str(),
                             s.message().c_str());
        }
        if (answer.status == 0) {
            return;
        }
        if (bytes > declared_bytes) {
            out.send(json_reply(200, rpc_error(kRpcBudgetExhausted,
                                               "budget: tool '" + tool + "' returned " + std::to_string(bytes)
                                                   + " bytes, more than the " + std::to_string(declared_bytes)
                                                   + " its budgets entry declares; charged the reservation ("
                                                   + std::to_string(reserve) + " tokens), result withheld",
                                               {{"tool", tool},
                                                {"declared_output_bytes", declared_bytes},
                                                {"output_bytes", bytes},
                                                {"charged_tokens", charged}})));
            return;
        }
        out.send(std::move(answer));
    };
    inner(std::move(req), std::make_shared<MeteredWriter>(std::move(w), std::move(settle)));
}

std::string BudgetGate::metrics_text() const {
    std::string s;
    auto family = [&s](const char* name, const char* help) {
        s += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n";
    };
    struct Row {
        const BudgetAccount* a;
        LedgerEntry e;
    };
    std::vector<Row> rows;
    for (const BudgetAccount& a : config_.accounts) {
        Result<LedgerEntry> e = ledger_.read(a.name);
        if (e.has_value()) {
            rows.push_back({&a, *e});
        }
    }
    auto emit = [&](const char* name, const char* help, auto value) {
        family(name, help);
        for (const Row& r : rows) {
            s += std::string(name) + "{budget=\"" + r.a->name + "\"} " + std::to_string(value(r)) + "\n";
        }
    };
    emit("gannet_budget_limit_tokens", "Token budget of each API key.", [](const Row& r) { return r.a->limit; });
    emit("gannet_budget_spent_tokens", "Committed tokens (shared ledger).", [](const Row& r) { return r.e.spent; });
    emit("gannet_budget_reserved_tokens", "Tokens reserved by requests in flight.",
         [](const Row& r) { return r.e.reserved; });
    emit("gannet_budget_remaining_tokens", "Tokens left to reserve.", [](const Row& r) {
        const uint64_t used = r.e.spent + r.e.reserved;
        return used >= r.a->limit ? uint64_t{0} : r.a->limit - used;
    });
    s += "# HELP gannet_budget_refusals_total Requests and tool calls refused for lack of budget (this server).\n"
         "# TYPE gannet_budget_refusals_total counter\ngannet_budget_refusals_total "
         + std::to_string(n_refused_.load()) + "\n";
    s += "# HELP gannet_budget_ledger_errors_total Commits the ledger refused (tokens left reserved).\n"
         "# TYPE gannet_budget_ledger_errors_total counter\ngannet_budget_ledger_errors_total "
         + std::to_string(n_ledger_errors_.load()) + "\n";
    return s;
}

}  // namespace gannet::server
