// Status: an error code plus a message, or OK. Errors are values in Gannet, never thrown
// (see STYLE.md "Error handling"). OK is a null pointer, as in leveldb, so passing OK around is free.
// Thread-safety: immutable after construction; safe to share.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace gannet {

enum class ErrorCode {
    kOk = 0,
    kInvalidArgument,
    kNotFound,
    kResourceExhausted,  // KV blocks, token budget, device memory
    kDeadlineExceeded,
    kCancelled,
    kDataLoss,  // corrupt or truncated model/file
    kUnimplemented,
    kInternal,
    kUnavailable,
    kPermissionDenied,
    kAlreadyExists,
};

const char* error_code_name(ErrorCode code);

class [[nodiscard]] Status {
public:
    Status() = default;  // OK
    Status(ErrorCode code, std::string message);

    static Status ok_status() { return Status(); }

    bool ok() const { return rep_ == nullptr; }
    ErrorCode code() const { return rep_ ? rep_->code : ErrorCode::kOk; }
    // Empty for OK.
    const std::string& message() const;
    // "invalid_argument: gguf: ..." — for logs and CLI errors.
    std::string to_string() const;

    // Marks a status as deliberately unused.
    void ignore() const {}

private:
    struct Rep {
        ErrorCode code;
        std::string message;
    };
    std::shared_ptr<const Rep> rep_;
};

// printf-style constructor: make_error(ErrorCode::kDataLoss, "gguf: bad magic %08x", magic).
[[gnu::format(printf, 2, 3)]] Status make_error(ErrorCode code, const char* fmt, ...);

// printf into a std::string; shared by logging and error messages.
[[gnu::format(printf, 1, 2)]] std::string str_printf(const char* fmt, ...);

}  // namespace gannet
