#include "server/budget_ledger.h"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <functional>
#include <optional>
#include <thread>

namespace gannet::server {

namespace {

constexpr int kMaxCasAttempts = 1000;  // a race is lost only to a write that succeeded: progress is global

std::string key_of(const std::string& account) {
    return "budget/" + account;
}

Result<LedgerEntry> parse_entry(const std::string& account, const std::optional<std::string>& raw) {
    LedgerEntry e;
    if (!raw.has_value()) {
        return e;
    }
    int n_used = 0;
    if (std::sscanf(raw->c_str(), "%" SCNu64 " %" SCNu64 "%n", &e.spent, &e.reserved, &n_used) != 2
        || static_cast<size_t>(n_used) != raw->size()) {
        return make_error(ErrorCode::kDataLoss,
                          "budget ledger: record for '%s' is corrupt: '%s' (expected 'SPENT RESERVED')",
                          account.c_str(), raw->c_str());
    }
    return e;
}

std::string format_entry(const LedgerEntry& e) {
    return std::to_string(e.spent) + " " + std::to_string(e.reserved);
}

// Applies `change` to the account's record with compare-and-set until it wins. `change` returns
// false to leave the record as it is (then update() returns false).
Result<bool> update(mcp::Store& store, const std::string& account,
                    const std::function<Result<bool>(LedgerEntry&)>& change) {
    const std::string key = key_of(account);
    for (int attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
        GANNET_ASSIGN_OR_RETURN(std::optional<std::string> raw, store.get(key));
        GANNET_ASSIGN_OR_RETURN(LedgerEntry e, parse_entry(account, raw));
        GANNET_ASSIGN_OR_RETURN(bool is_changed, change(e));
        if (!is_changed) {
            return false;
        }
        GANNET_ASSIGN_OR_RETURN(bool swapped, store.compare_and_set(key, raw, format_entry(e), 0));
        if (swapped) {
            return true;
        }
        if (attempt > 8) {
            std::this_thread::sleep_for(std::chrono::microseconds(50 * (attempt - 8)));
        }
    }
    return make_error(ErrorCode::kUnavailable, "budget ledger: '%s': %d compare-and-set attempts lost", account.c_str(),
                      kMaxCasAttempts);
}

}  // namespace

Result<LedgerEntry> BudgetLedger::read(const std::string& account) const {
    GANNET_ASSIGN_OR_RETURN(std::optional<std::string> raw, store_->get(key_of(account)));
    return parse_entry(account, raw);
}

Result<bool> BudgetLedger::reserve(const std::string& account, uint64_t limit, uint64_t n) {
    return update(*store_, account, [limit, n](LedgerEntry& e) -> Result<bool> {
        // spent + reserved <= limit <= 2^62 is kept by every write, so these sums cannot wrap.
        if (n > limit || e.spent + e.reserved > limit - n) {
            return false;
        }
        e.reserved += n;
        return true;
    });
}

Status BudgetLedger::commit(const std::string& account, uint64_t reserved, uint64_t actual) {
    Result<bool> r = update(*store_, account, [&account, reserved, actual](LedgerEntry& e) -> Result<bool> {
        if (e.reserved < reserved) {
            return make_error(ErrorCode::kDataLoss,
                              "budget ledger: '%s' holds %" PRIu64 " reserved, %" PRIu64 " being released",
                              account.c_str(), e.reserved, reserved);
        }
        e.reserved -= reserved;
        e.spent += actual < reserved ? actual : reserved;
        return true;
    });
    return r.error();
}

Result<bool> BudgetLedger::charge(const std::string& account, uint64_t limit, uint64_t n) {
    return update(*store_, account, [limit, n](LedgerEntry& e) -> Result<bool> {
        if (n > limit || e.spent + e.reserved > limit - n) {
            return false;
        }
        e.spent += n;
        return true;
    });
}

}  // namespace gannet::server
