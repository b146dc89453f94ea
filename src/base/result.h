// Result<T>: a T or a non-OK Status. Member names follow std::expected (has_value, value, error,
// operator*, operator->) so a later move to std::expected<T, Status> stays mechanical.
// Thread-safety: as for T.
#pragma once

#include <utility>
#include <variant>

#include "base/check.h"
#include "base/status.h"

namespace gannet {

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor): return T from Result<T>
    Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
        GANNET_CHECK(!std::get<Status>(v_).ok());    // an OK status carries no value: a bug
    }

    bool has_value() const { return v_.index() == 0; }
    explicit operator bool() const { return has_value(); }

    T& value() & {
        GANNET_CHECK(has_value());
        return std::get<0>(v_);
    }
    const T& value() const& {
        GANNET_CHECK(has_value());
        return std::get<0>(v_);
    }
    T&& value() && {
        GANNET_CHECK(has_value());
        return std::get<0>(std::move(v_));
    }
    // The error; OK when a value is held.
    Status error() const { return has_value() ? Status() : std::get<Status>(v_); }

    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

private:
    std::variant<T, Status> v_;
};

}  // namespace gannet

#define GANNET_CONCAT_INNER_(a, b) a##b
#define GANNET_CONCAT_(a, b) GANNET_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function when expr (a Status) is not OK.
#define GANNET_RETURN_IF_ERROR(expr)                 \
    do {                                             \
        ::gannet::Status gannet_status_ = (expr);    \
        if (!gannet_status_.ok()) {                  \
            return gannet_status_;                   \
        }                                            \
    } while (0)

// lhs = value of expr (a Result<T>), or return its error from the enclosing function.
#define GANNET_ASSIGN_OR_RETURN(lhs, expr) GANNET_ASSIGN_OR_RETURN_IMPL_(GANNET_CONCAT_(gannet_result_, __LINE__), lhs, expr)
#define GANNET_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
    auto tmp = (expr);                                \
    if (!tmp.has_value()) {                           \
        return tmp.error();                           \
    }                                                 \
    lhs = std::move(tmp).value()
