#include "agent/agent_experiment.h"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "agent/exact_counter.h"
#include "base/check.h"
#include "budget/budget.h"
#include "budget/estimator.h"
#include "json/json.h"

namespace gannet::agent {

using nlohmann::json;

namespace {

// Task prompts of varied length, so prompt estimates are exercised across sizes.
const char* const kTasks[] = {
    "List the files in the workspace.",
    "Summarise the README in two sentences, then say which command starts the server.",
    "Read config.json, check that every port is between 1024 and 65535, and report the ones that are not, with "
    "the line where each appears. Then propose a fix for each one and explain why it is safe to apply.",
    "Count the words in notes.txt.",
    "Find every TODO in src/ and group them by owner; for each group give the oldest one first.",
};

json first_messages(int task) {
    return json::array({{{"role", "system"}, {"content", "You are a careful agent. Answer briefly."}},
                        {{"role", "user"}, {"content", kTasks[task % static_cast<int>(std::size(kTasks))]}}});
}

struct CallResult {
    enum class Kind { kBilled, kHarnessRefused, kServerRefused } kind = Kind::kBilled;
    uint64_t reserved = 0;
    uint64_t billed = 0;
    uint64_t exact_worst_case = 0;  // exact prompt + output cap (for the false-refusal check)
    std::string content;
};

struct Estimators {
    const budget::PromptEstimator* prompt;
    budget::P99OutputEstimator* output;  // null: the static cap
};

// One model call paid from an affine budget: split off the reservation (estimate + output cap), send
// the cap as max_tokens, spend the bill from the reservation and merge the rest back.
Result<CallResult> affine_call(const ExperimentOptions& o, const ExactCounter& exact, const json& messages,
                               budget::Budget& b, const Estimators& est, double temperature, uint64_t seed) {
    const std::string text = gannet::json::dump(messages);
    CallResult r;
    GANNET_ASSIGN_OR_RETURN(uint64_t prompt_estimate, est.prompt->estimate(text));
    const uint64_t cap = est.output ? std::min(est.output->reserve(), o.max_tokens) : o.max_tokens;
    GANNET_ASSIGN_OR_RETURN(uint64_t exact_prompt, exact.count(text));
    r.exact_worst_case = exact_prompt + cap;
    r.reserved = prompt_estimate + cap;
    Result<std::pair<budget::Budget, budget::Budget>> parts = std::move(b).split(r.reserved);
    if (!parts.has_value()) {
        r.kind = CallResult::Kind::kHarnessRefused;
        return r;
    }
    b = std::move(parts->second);
    budget::Budget held = std::move(parts->first);
    Result<ChatReply> reply = chat(o.endpoint, messages, json::array(), cap, temperature, seed, o.stop);
    if (!reply.has_value() || !reply->is_ok()) {
        Result<budget::Budget> back = std::move(b).merge(std::move(held));
        GANNET_CHECK(back.has_value());
        b = std::move(back).value();
        if (!reply.has_value()) {
            return reply.error();
        }
        if (reply->http_status != 429) {
            return make_error(ErrorCode::kInternal, "budget-experiment: HTTP %d: %s", reply->http_status,
                              reply->error_message.c_str());
        }
        r.kind = CallResult::Kind::kServerRefused;
        return r;
    }
    r.billed = reply->total_tokens();
    r.content = reply->content;
    if (est.output != nullptr) {
        est.output->observe(reply->completion_tokens);
    }
    // A bill above the reservation cannot be paid from it: the whole reservation is spent, and the
    // caller counts a violation (billed > reserved).
    Result<budget::Budget> rest = std::move(held).spend(std::min(r.billed, r.reserved));
    GANNET_CHECK(rest.has_value());
    Result<budget::Budget> merged = std::move(b).merge(std::move(rest).value());
    GANNET_CHECK(merged.has_value());
    b = std::move(merged).value();
    return r;
}

// The naive baseline the paper found in frameworks: a plain counter of what was spent, checked
// before each call against the copy of the parent's remaining budget this child was given.
Result<uint64_t> naive_child(const ExperimentOptions& o, uint64_t copied_remaining, int child, uint64_t seed) {
    uint64_t spent = 0;
    json messages = first_messages(child);
    for (int call = 0; call < 20 && spent < copied_remaining; ++call) {
        GANNET_ASSIGN_OR_RETURN(ChatReply reply, chat(o.endpoint, messages, json::array(), o.max_tokens, 1.0,
                                                      seed + static_cast<uint64_t>(call), o.stop));
        if (!reply.is_ok()) {
            break;
        }
        spent += reply.total_tokens();
    }
    return spent;
}

struct Tally {
    int n_runs = 0;
    int n_overshoot = 0;
    int n_violations = 0;
    int n_false_refusals = 0;
    uint64_t reserved = 0;
    uint64_t billed = 0;
    double factor() const { return billed == 0 ? 0.0 : static_cast<double>(reserved) / static_cast<double>(billed); }
};

// Runs an affine loop until the budget refuses (max_calls at most); adds to the tally.
Status affine_run(const ExperimentOptions& o, const ExactCounter& exact, budget::Budget b, uint64_t cap_tokens,
                  const Estimators& est, double temperature, uint64_t seed, int task, int max_calls, Tally* tally,
                  std::mutex* mu) {
    json messages = first_messages(task);
    uint64_t billed = 0;
    Tally t;
    for (int call = 0; call < max_calls; ++call) {
        const uint64_t remaining = b.tokens();
        GANNET_ASSIGN_OR_RETURN(
            CallResult r, affine_call(o, exact, messages, b, est, temperature, seed + static_cast<uint64_t>(call)));
        if (r.kind != CallResult::Kind::kBilled) {
            // Refused although the exact worst case fitted, or the server refused an admitted call.
            t.n_false_refusals += r.kind == CallResult::Kind::kServerRefused || r.exact_worst_case <= remaining;
            break;
        }
        billed += r.billed;
        t.reserved += r.reserved;
        t.billed += r.billed;
        t.n_violations += r.billed > r.reserved;
        messages.push_back({{"role", "assistant"}, {"content", r.content}});
        messages.push_back({{"role", "user"}, {"content", "Go on."}});
    }
    std::lock_guard lock(*mu);
    ++tally->n_runs;
    tally->n_overshoot += billed > cap_tokens;
    tally->n_violations += t.n_violations + (billed > cap_tokens);
    tally->n_false_refusals += t.n_false_refusals;
    tally->reserved += t.reserved;
    tally->billed += t.billed;
    return Status();
}

void progress(const ExperimentOptions& o, const char* what, int done, int total) {
    if (!o.is_quiet) {
        std::fprintf(stderr, "\rbudget-experiment: %s %d/%d   ", what, done, total);
        std::fflush(stderr);
    }
}

}  // namespace

namespace {

constexpr int kChildren = 4;

// What every arm shares: the options, the exact counter, the estimators, the one mint.
struct Lab {
    const ExperimentOptions& o;
    const ExactCounter& exact;
    const budget::ByteEstimator bytes;
    const budget::TokenizerEstimator tokens;
    // Every budget comes from this one mint, sized for everything the experiments hand out.
    budget::BudgetMint mint{budget::kMaxTokens};
    std::mutex mu;

    Lab(const ExperimentOptions& options, const ExactCounter& counter)
        : o(options), exact(counter), tokens([&counter](std::string_view text) { return counter.count(text); }) {}

    uint64_t child_seed(int run, int c) const { return o.seed + 1000u * static_cast<uint64_t>(run * kChildren + c); }

    // 1. Retry loop: one agent calling until its budget refuses.
    Status retry(Tally* tally) {
        for (int run = 0; run < o.runs; ++run) {
            GANNET_ASSIGN_OR_RETURN(budget::Budget b, mint.mint(o.retry_budget));
            GANNET_RETURN_IF_ERROR(affine_run(o, exact, std::move(b), o.retry_budget, {&bytes, nullptr}, 1.0,
                                              o.seed + 7 * static_cast<uint64_t>(run), run, 1000, tally, &mu));
            progress(o, "retry loop", run + 1, o.runs);
        }
        return Status();
    }

    // 2a. Each child got a copy of the parent's plain counter. Returns whether the run overshot.
    Result<bool> naive_fanout(int run) {
        std::atomic<uint64_t> total{0};
        std::vector<Status> errors(kChildren);
        std::vector<std::thread> threads;
        for (int c = 0; c < kChildren; ++c) {
            threads.emplace_back([&, c] {
                Result<uint64_t> spent = naive_child(o, o.fanout_budget, c, child_seed(run, c));
                errors[static_cast<size_t>(c)] = spent.error();
                total.fetch_add(spent.has_value() ? *spent : 0);
            });
        }
        for (std::thread& t : threads) {
            t.join();
        }
        for (const Status& s : errors) {
            GANNET_RETURN_IF_ERROR(s);
        }
        return total.load() > o.fanout_budget;
    }

    // 2b. The same fan-out with split(): the children's budgets sum to the parent's.
    Status split_fanout(int run, Tally* split) {
        GANNET_ASSIGN_OR_RETURN(budget::Budget parent, mint.mint(o.fanout_budget));
        std::vector<budget::Budget> shares;
        for (int c = 0; c < kChildren - 1; ++c) {
            GANNET_ASSIGN_OR_RETURN(auto parts, std::move(parent).split(o.fanout_budget / kChildren));
            shares.push_back(std::move(parts.first));
            parent = std::move(parts.second);
        }
        shares.push_back(std::move(parent));
        Tally one;
        std::vector<Status> errors(kChildren);
        std::vector<std::thread> threads;
        for (int c = 0; c < kChildren; ++c) {
            threads.emplace_back([&, c, b = std::move(shares[static_cast<size_t>(c)])]() mutable {
                errors[static_cast<size_t>(c)] = affine_run(o, exact, std::move(b), o.fanout_budget, {&tokens, nullptr},
                                                            1.0, child_seed(run, c), c, 20, &one, &mu);
            });
        }
        for (std::thread& t : threads) {
            t.join();
        }
        for (const Status& s : errors) {
            GANNET_RETURN_IF_ERROR(s);
        }
        // A run overshoots when its children together were billed more than the parent's budget.
        ++split->n_runs;
        split->n_overshoot += one.billed > o.fanout_budget;
        split->n_violations += one.n_violations;
        return Status();
    }

    // 3 + 4. Temperatures x estimators; the adaptive p99 learns per temperature. Fills the per-cell
    // table and one tally per estimator.
    Status stratified(Tally (&by_estimator)[3], json* table) {
        const int n_cells = static_cast<int>(o.temperatures.size()) * 3;
        const int per_cell = (o.n_stratified + n_cells - 1) / n_cells;
        const char* const kNames[3] = {"bytes", "tokenizer", "adaptive"};
        int done = 0;
        for (double temperature : o.temperatures) {
            budget::P99OutputEstimator p99(o.max_tokens);
            for (int e = 0; e < 3; ++e) {
                Tally cell;
                const Estimators est = e == 0 ? Estimators{&bytes, nullptr}
                                              : (e == 1 ? Estimators{&tokens, nullptr} : Estimators{&tokens, &p99});
                for (int run = 0; run < per_cell; ++run) {
                    GANNET_ASSIGN_OR_RETURN(budget::Budget b, mint.mint(o.task_budget));
                    const uint64_t seed = o.seed + 31u * static_cast<uint64_t>(done);
                    GANNET_RETURN_IF_ERROR(affine_run(o, exact, std::move(b), o.task_budget, est, temperature, seed,
                                                      run, o.task_calls, &cell, &mu));
                    progress(o, "stratified", ++done, per_cell * n_cells);
                }
                table->push_back({{"temperature", temperature},
                                  {"estimator", kNames[e]},
                                  {"runs", cell.n_runs},
                                  {"violations", cell.n_violations},
                                  {"false_refusals", cell.n_false_refusals},
                                  {"over_reservation", cell.factor()}});
                Tally& all = by_estimator[e];
                all.n_runs += cell.n_runs;
                all.n_violations += cell.n_violations;
                all.n_false_refusals += cell.n_false_refusals;
                all.reserved += cell.reserved;
                all.billed += cell.billed;
            }
        }
        return Status();
    }
};

}  // namespace

Result<json> run_budget_experiment(const ExperimentOptions& o) {
    GANNET_ASSIGN_OR_RETURN(ExactCounter exact, ExactCounter::load(o.tokenizer_path));
    Lab lab(o, exact);
    Tally retry;
    GANNET_RETURN_IF_ERROR(lab.retry(&retry));
    int naive_overshoot = 0;
    Tally split;
    for (int run = 0; run < o.runs; ++run) {
        GANNET_ASSIGN_OR_RETURN(bool is_over, lab.naive_fanout(run));
        naive_overshoot += is_over;
        GANNET_RETURN_IF_ERROR(lab.split_fanout(run, &split));
        progress(o, "fan-out", run + 1, o.runs);
    }
    Tally cells[3];
    json table = json::array();
    GANNET_RETURN_IF_ERROR(lab.stratified(cells, &table));
    if (!o.is_quiet) {
        std::fprintf(stderr, "\n");
    }
    int n_stratified = 0;
    int violations = retry.n_violations + split.n_violations;
    int false_refusals = 0;
    for (const Tally& t : cells) {
        n_stratified += t.n_runs;
        violations += t.n_violations;
        false_refusals += t.n_false_refusals;
    }
    return json{{"runs", o.runs},
                {"retry_overshoot", retry.n_overshoot},
                {"naive_overshoot", naive_overshoot},
                {"split_overshoot", split.n_overshoot},
                {"stratified_runs", n_stratified},
                {"violations", violations},
                {"false_refusals", false_refusals},
                {"over_reservation",
                 {{"static", cells[0].factor()}, {"tokenizer", cells[1].factor()}, {"adaptive", cells[2].factor()}}},
                {"cells", table}};
}

}  // namespace gannet::agent
