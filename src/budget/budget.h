// Budget: an affine (move-only) token budget. It can be spent, split into two that sum to the
// original, merged back, or consumed, but never duplicated: the copy operations are deleted and
// every operation is &&-qualified, so passing a budget to a sub-agent hands it over instead of
// copying a counter (the delegation fan-out bug of ../shared/specs/papers.md §9). Budgets come only
// from a BudgetMint, the authority object a caller must hold to create funds.
// Owned by src/budget/. Thread-compatible: a Budget is a value with one owner at a time.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "base/result.h"

namespace gannet::budget {

// Amounts are tokens. Anything above 2^62 is rejected so that a sum of two valid amounts can never
// wrap a uint64_t (the crate's "MAX < 2^63" const assert).
inline constexpr uint64_t kMaxTokens = uint64_t{1} << 62;

class BudgetMint;

class Budget {
public:
    // A moved-from budget: holds 0 and refuses every operation.
    Budget(Budget&& other) noexcept
        : tokens_(std::exchange(other.tokens_, 0)), is_live_(std::exchange(other.is_live_, false)) {}
    Budget& operator=(Budget&& other) noexcept;
    Budget(const Budget&) = delete;
    Budget& operator=(const Budget&) = delete;
    ~Budget() = default;

    // Each operation consumes *this on success (it is left moved-from, holding 0). On error *this is
    // unchanged, so a refused spend loses no funds. Errors: kResourceExhausted (insufficient funds),
    // kInvalidArgument (a merge past kMaxTokens, or a budget merged with itself), kInternal when *this (or `other`) was
    // moved from: a bug, logged at ERROR.

    // What remains after spending n.
    [[nodiscard]] Result<Budget> spend(uint64_t n) &&;
    // {a budget of exactly n, the rest}; the two always sum to the original.
    [[nodiscard]] Result<std::pair<Budget, Budget>> split(uint64_t n) &&;
    // One budget holding both; `other` is consumed with *this.
    [[nodiscard]] Result<Budget> merge(Budget&& other) &&;
    // Ends the budget; returns what it held (spent in full by the caller).
    [[nodiscard]] Result<uint64_t> consume() &&;

    // Reading is allowed through const&: it cannot create or move funds.
    uint64_t tokens() const { return tokens_; }
    bool is_live() const { return is_live_; }

private:
    friend class BudgetMint;
    explicit Budget(uint64_t tokens) : tokens_(tokens), is_live_(true) {}
    Status check_live(const char* op) const;

    uint64_t tokens_ = 0;
    bool is_live_ = false;  // false once moved from or consumed
};

// The authority to create budgets. Whoever holds the mint (the server's budgets file loader, the
// `gannet agent` command) can issue up to `max_total` tokens in all; code handed only a Budget
// cannot create funds. Move-only, so the authority cannot be duplicated either.
class BudgetMint {
public:
    explicit BudgetMint(uint64_t max_total) : remaining_(max_total) {}
    BudgetMint(BudgetMint&&) noexcept = default;
    BudgetMint& operator=(BudgetMint&&) noexcept = default;
    BudgetMint(const BudgetMint&) = delete;
    BudgetMint& operator=(const BudgetMint&) = delete;

    // kInvalidArgument above kMaxTokens; kResourceExhausted past what this mint may still issue.
    [[nodiscard]] Result<Budget> mint(uint64_t tokens);
    uint64_t remaining() const { return remaining_; }

private:
    uint64_t remaining_;
};

}  // namespace gannet::budget
