#include "budget/estimator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "base/check.h"
#include "budget/budget.h"

namespace gannet::budget {

ByteEstimator::ByteEstimator(double margin) : margin_(margin) {
    GANNET_CHECK(margin >= 1.0);
}

Result<uint64_t> ByteEstimator::estimate(std::string_view text) const {
    const double tokens = std::ceil(static_cast<double>(text.size()) * margin_);
    if (tokens > static_cast<double>(kMaxTokens)) {
        return make_error(ErrorCode::kInvalidArgument, "budget estimator: %zu bytes x %.2f exceed the maximum budget",
                          text.size(), margin_);
    }
    return static_cast<uint64_t>(tokens);
}

std::string ByteEstimator::name() const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "bytes-x%.1f", margin_);
    return buf;
}

P99OutputEstimator::P99OutputEstimator(uint64_t max_tokens, size_t n_warmup, size_t window)
    : max_tokens_(std::max<uint64_t>(max_tokens, 1)), n_warmup_(n_warmup), window_(std::max<size_t>(window, 1)) {}

uint64_t P99OutputEstimator::reserve() const {
    std::vector<uint64_t> v;
    {
        std::lock_guard lock(mu_);
        if (recent_.size() < n_warmup_) {
            return max_tokens_;
        }
        v.assign(recent_.begin(), recent_.end());
    }
    // Nearest-rank p99: the smallest value with at least 99% of the samples at or below it.
    const size_t rank = static_cast<size_t>(std::ceil(0.99 * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(rank - 1), v.end());
    return std::clamp<uint64_t>(v[rank - 1], 1, max_tokens_);
}

void P99OutputEstimator::observe(uint64_t completion_tokens) {
    std::lock_guard lock(mu_);
    recent_.push_back(completion_tokens);
    if (recent_.size() > window_) {
        recent_.pop_front();
    }
}

}  // namespace gannet::budget
