// BudgetLedger: per-account token accounting kept in the shared store (mcp::Store: SQLite by
// default, Redis for a fleet), so every server of a fleet draws on one ledger and a restart loses
// no committed spend. Each account is one record "budget/<name>" = "<spent> <reserved>"; every
// change is a compare-and-set loop on it (SQLite: BEGIN IMMEDIATE; Redis: a Lua script), so two
// servers reserving at once can never both fit into the same remaining tokens.
// Reservations that were open when a server died stay reserved (counted as spent): the cap holds.
// Owned by src/server/. Thread-safe (the store is).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"
#include "mcp/store.h"

namespace gannet::server {

struct LedgerEntry {
    uint64_t spent = 0;     // committed tokens
    uint64_t reserved = 0;  // held by requests in flight
};

class BudgetLedger {
public:
    explicit BudgetLedger(std::shared_ptr<mcp::Store> store) : store_(std::move(store)) {}

    // kUnavailable when the store is down; kDataLoss for a record that is not "<spent> <reserved>".
    Result<LedgerEntry> read(const std::string& account) const;
    // Adds n to `reserved` if spent + reserved + n <= limit. Returns false (nothing changed) when it
    // does not fit. Errors as read(), and kUnavailable after too many lost CAS races.
    Result<bool> reserve(const std::string& account, uint64_t limit, uint64_t n);
    // Ends a reservation of `reserved` tokens: spent += min(actual, reserved), reserved -= reserved.
    Status commit(const std::string& account, uint64_t reserved, uint64_t actual);
    // Charges n outright if it fits (a tool call's fixed cost); false when it does not.
    Result<bool> charge(const std::string& account, uint64_t limit, uint64_t n);

private:
    std::shared_ptr<mcp::Store> store_;
};

}  // namespace gannet::server
