#include "budget/budget.h"

#include "base/log.h"

namespace gannet::budget {

Budget& Budget::operator=(Budget&& other) noexcept {
    if (this != &other) {
        tokens_ = std::exchange(other.tokens_, 0);
        is_live_ = std::exchange(other.is_live_, false);
    }
    return *this;
}

// Using a moved-from budget is a bug in the caller, but it must not crash a server: it fails as a
// value, loudly (ERROR log), and moves no funds.
Status Budget::check_live(const char* op) const {
    if (is_live_) {
        return Status();
    }
    GANNET_LOG_ERROR("budget", "%s on a moved-from or consumed budget", op);
    return make_error(ErrorCode::kInternal, "budget: %s: the budget was moved from or consumed (it holds 0)", op);
}

Result<Budget> Budget::spend(uint64_t n) && {
    GANNET_RETURN_IF_ERROR(check_live("spend"));
    if (n > tokens_) {
        return make_error(ErrorCode::kResourceExhausted,
                          "budget: spend: insufficient funds: %llu tokens asked, %llu held",
                          static_cast<unsigned long long>(n), static_cast<unsigned long long>(tokens_));
    }
    Budget rest(tokens_ - n);
    tokens_ = 0;
    is_live_ = false;
    return rest;
}

Result<std::pair<Budget, Budget>> Budget::split(uint64_t n) && {
    GANNET_RETURN_IF_ERROR(check_live("split"));
    if (n > tokens_) {
        return make_error(ErrorCode::kResourceExhausted,
                          "budget: split: insufficient funds: %llu tokens asked, %llu held",
                          static_cast<unsigned long long>(n), static_cast<unsigned long long>(tokens_));
    }
    std::pair<Budget, Budget> parts{Budget(n), Budget(tokens_ - n)};
    tokens_ = 0;
    is_live_ = false;
    return parts;
}

Result<Budget> Budget::merge(Budget&& other) && {
    GANNET_RETURN_IF_ERROR(check_live("merge"));
    GANNET_RETURN_IF_ERROR(other.check_live("merge (argument)"));
    if (&other == this) {
        return make_error(ErrorCode::kInvalidArgument, "budget: merge: a budget cannot be merged with itself");
    }
    // Both are <= kMaxTokens = 2^62, so the sum cannot wrap.
    const uint64_t sum = tokens_ + other.tokens_;
    if (sum > kMaxTokens) {
        return make_error(ErrorCode::kInvalidArgument, "budget: merge: %llu tokens exceed the maximum %llu",
                          static_cast<unsigned long long>(sum), static_cast<unsigned long long>(kMaxTokens));
    }
    tokens_ = 0;
    is_live_ = false;
    other.tokens_ = 0;
    other.is_live_ = false;
    return Budget(sum);
}

Result<uint64_t> Budget::consume() && {
    GANNET_RETURN_IF_ERROR(check_live("consume"));
    const uint64_t n = tokens_;
    tokens_ = 0;
    is_live_ = false;
    return n;
}

Result<Budget> BudgetMint::mint(uint64_t tokens) {
    if (tokens > kMaxTokens) {
        return make_error(ErrorCode::kInvalidArgument, "budget: mint: %llu tokens exceed the maximum %llu",
                          static_cast<unsigned long long>(tokens), static_cast<unsigned long long>(kMaxTokens));
    }
    if (tokens > remaining_) {
        return make_error(ErrorCode::kResourceExhausted,
                          "budget: mint: %llu tokens asked, this mint may issue %llu more",
                          static_cast<unsigned long long>(tokens), static_cast<unsigned long long>(remaining_));
    }
    remaining_ -= tokens;
    return Budget(tokens);
}

}  // namespace gannet::budget
