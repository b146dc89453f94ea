#include "base/status.h"

#include <cstdarg>
#include <cstdio>

namespace gannet {

const char* error_code_name(ErrorCode code) {
    switch (code) {
        case ErrorCode::kOk: return "ok";
        case ErrorCode::kInvalidArgument: return "invalid_argument";
        case ErrorCode::kNotFound: return "not_found";
        case ErrorCode::kResourceExhausted: return "resource_exhausted";
        case ErrorCode::kDeadlineExceeded: return "deadline_exceeded";
        case ErrorCode::kCancelled: return "cancelled";
        case ErrorCode::kDataLoss: return "data_loss";
        case ErrorCode::kUnimplemented: return "unimplemented";
        case ErrorCode::kInternal: return "internal";
        case ErrorCode::kUnavailable: return "unavailable";
        case ErrorCode::kPermissionDenied: return "permission_denied";
        case ErrorCode::kAlreadyExists: return "already_exists";
    }
    return "unknown";
}

Status::Status(ErrorCode code, std::string message) {
    if (code != ErrorCode::kOk) {
        rep_ = std::make_shared<const Rep>(Rep{code, std::move(message)});
    }
}

const std::string& Status::message() const {
    static const std::string kEmpty;
    return rep_ ? rep_->message : kEmpty;
}

std::string Status::to_string() const {
    if (ok()) {
        return "ok";
    }
    return std::string(error_code_name(rep_->code)) + ": " + rep_->message;
}

namespace {
std::string vformat(const char* fmt, va_list args) {
    va_list copy;
    va_copy(copy, args);
    const int n = std::vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    if (n <= 0) {
        return std::string();
    }
    std::string out(static_cast<size_t>(n), '\0');
    std::vsnprintf(out.data(), out.size() + 1, fmt, args);
    return out;
}
}  // namespace

Status make_error(ErrorCode code, const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    std::string msg = vformat(fmt, args);
    va_end(args);
    return Status(code, std::move(msg));
}

std::string str_printf(const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    std::string out = vformat(fmt, args);
    va_end(args);
    return out;
}

}  // namespace gannet
