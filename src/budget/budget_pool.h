// BudgetPool: a budget shared by concurrent callers (the fan-out children of one agent, the requests
// of one API key) through RAII reservations. reserve(n) takes n from `available` at once, so
// concurrent callers can never jointly promise more than the pool holds; commit(actual) spends the
// actual amount and refunds the rest; cancel() refunds all; dropping an uncommitted reservation
// forfeits it (the tokens stay debited: an unknown outcome is assumed fully spent, never refunded).
// Invariant, checked after every change: available + outstanding + spent + forfeited == initial,
// hence available + outstanding <= initial. Owned by src/budget/. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "base/result.h"
#include "budget/budget.h"

namespace gannet::budget {

struct PoolStats {
    uint64_t initial = 0;
    uint64_t available = 0;
    uint64_t outstanding = 0;  // reserved, not yet committed or cancelled
    uint64_t spent = 0;        // committed
    uint64_t forfeited = 0;    // dropped without commit/cancel
};

class Reservation;

class BudgetPool {
public:
    // The pool owns `funds` (consumed). kInternal when `funds` was moved from.
    static Result<BudgetPool> create(Budget&& funds);
    BudgetPool(BudgetPool&&) noexcept = default;
    BudgetPool& operator=(BudgetPool&&) noexcept = default;
    BudgetPool(const BudgetPool&) = delete;
    BudgetPool& operator=(const BudgetPool&) = delete;

    // All or nothing: kResourceExhausted (nothing taken) when n > available; kInvalidArgument for
    // n > kMaxTokens; kInternal on a moved-from pool (whose stats() are all 0).
    [[nodiscard]] Result<Reservation> reserve(uint64_t n);
    PoolStats stats() const;

    struct State;

private:
    explicit BudgetPool(std::shared_ptr<State> state) : state_(std::move(state)) {}
    // Shared with the reservations, so a reservation that outlives the pool object stays valid.
    std::shared_ptr<State> state_;
};

class Reservation {
public:
    Reservation(Reservation&& other) noexcept;
    Reservation& operator=(Reservation&& other) noexcept;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    ~Reservation();  // forfeits when neither committed nor cancelled

    // Spends `actual` and refunds reserved - actual. actual > reserved is a caller that was billed
    // more than it reserved: the whole reservation is spent (never more: the cap holds) and the
    // call returns kResourceExhausted naming both amounts. kInternal on a finished reservation.
    [[nodiscard]] Status commit(uint64_t actual) &&;
    // Refunds everything. kInternal on a finished reservation.
    [[nodiscard]] Status cancel() &&;

    uint64_t tokens() const { return tokens_; }
    bool is_pending() const { return state_ != nullptr; }

private:
    friend class BudgetPool;
    Reservation(std::shared_ptr<BudgetPool::State> state, uint64_t tokens)
        : state_(std::move(state)), tokens_(tokens) {}
    void release();  // forfeit

    std::shared_ptr<BudgetPool::State> state_;  // null once committed, cancelled, forfeited or moved from
    uint64_t tokens_ = 0;
};

}  // namespace gannet::budget
