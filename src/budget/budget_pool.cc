#include "budget/budget_pool.h"

#include <utility>

#include "base/check.h"

namespace gannet::budget {

struct BudgetPool::State {
    mutable std::mutex mu;
    PoolStats s;  // guarded by mu

    // Only a bug in this file can break it, so it is a CHECK, not a Status.
    void check_invariant() const {
        GANNET_CHECK(s.available + s.outstanding + s.spent + s.forfeited == s.initial);
        GANNET_CHECK(s.available + s.outstanding <= s.initial);
    }
};

Result<BudgetPool> BudgetPool::create(Budget&& funds) {
    GANNET_ASSIGN_OR_RETURN(uint64_t tokens, std::move(funds).consume());
    auto state = std::make_shared<State>();
    state->s.initial = tokens;
    state->s.available = tokens;
    return BudgetPool(std::move(state));
}

Result<Reservation> BudgetPool::reserve(uint64_t n) {
    if (n > kMaxTokens) {
        return make_error(ErrorCode::kInvalidArgument, "budget pool: reserve: %llu tokens exceed the maximum %llu",
                          static_cast<unsigned long long>(n), static_cast<unsigned long long>(kMaxTokens));
    }
    if (!state_) {
        return make_error(ErrorCode::kInternal, "budget pool: reserve on a moved-from pool");
    }
    std::lock_guard lock(state_->mu);
    if (n > state_->s.available) {
        return make_error(ErrorCode::kResourceExhausted,
                          "budget pool: reserve: %llu tokens asked, %llu available (%llu reserved, %llu spent of %llu)",
                          static_cast<unsigned long long>(n), static_cast<unsigned long long>(state_->s.available),
                          static_cast<unsigned long long>(state_->s.outstanding),
                          static_cast<unsigned long long>(state_->s.spent),
                          static_cast<unsigned long long>(state_->s.initial));
    }
    state_->s.available -= n;
    state_->s.outstanding += n;
    state_->check_invariant();
    return Reservation(state_, n);
}

PoolStats BudgetPool::stats() const {
    if (!state_) {
        return PoolStats{};  // moved from: holds nothing
    }
    std::lock_guard lock(state_->mu);
    return state_->s;
}

Reservation::Reservation(Reservation&& other) noexcept
    : state_(std::move(other.state_)), tokens_(std::exchange(other.tokens_, 0)) {}

Reservation& Reservation::operator=(Reservation&& other) noexcept {
    if (this != &other) {
        release();
        state_ = std::move(other.state_);
        tokens_ = std::exchange(other.tokens_, 0);
    }
    return *this;
}

Reservation::~Reservation() {
    release();
}

void Reservation::release() {
    if (!state_) {
        return;
    }
    std::lock_guard lock(state_->mu);
    state_->s.outstanding -= tokens_;
    state_->s.forfeited += tokens_;
    state_->check_invariant();
    state_.reset();
    tokens_ = 0;
}

Status Reservation::commit(uint64_t actual) && {
    if (!state_) {
        return make_error(ErrorCode::kInternal, "budget pool: commit on a finished or moved-from reservation");
    }
    std::shared_ptr<BudgetPool::State> state = std::move(state_);
    const uint64_t reserved = std::exchange(tokens_, 0);
    const uint64_t spent = actual < reserved ? actual : reserved;
    {
        std::lock_guard lock(state->mu);
        state->s.outstanding -= reserved;
        state->s.spent += spent;
        state->s.available += reserved - spent;
        state->check_invariant();
    }
    if (actual > reserved) {
        return make_error(ErrorCode::kResourceExhausted,
                          "budget pool: commit: %llu tokens used, %llu reserved (charged the reservation only)",
                          static_cast<unsigned long long>(actual), static_cast<unsigned long long>(reserved));
    }
    return Status();
}

Status Reservation::cancel() && {
    if (!state_) {
        return make_error(ErrorCode::kInternal, "budget pool: cancel on a finished or moved-from reservation");
    }
    std::shared_ptr<BudgetPool::State> state = std::move(state_);
    const uint64_t reserved = std::exchange(tokens_, 0);
    std::lock_guard lock(state->mu);
    state->s.outstanding -= reserved;
    state->s.available += reserved;
    state->check_invariant();
    return Status();
}

}  // namespace gannet::budget
