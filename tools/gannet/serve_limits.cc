#include "serve_limits.h"

#include <string>

namespace gannet::app {

namespace {

Status check_range(const char* flag, int64_t value, int64_t lo, int64_t hi) {
    if (value < lo || value > hi) {
        return make_error(ErrorCode::kInvalidArgument, "%s must be in [%lld, %lld], got %lld", flag,
                          static_cast<long long>(lo), static_cast<long long>(hi), static_cast<long long>(value));
    }
    return Status();
}

}  // namespace

void ServeLimitFlags::add_to(Flags& flags) {
    flags.add_int("--max-body-bytes", &max_body_bytes, "largest request body; larger gets 413 (default 4 MiB)");
    flags.add_int("--max-header-bytes", &max_header_bytes, "largest request head; larger gets 431 (default 64 KiB)");
    flags.add_int("--read-timeout-ms", &read_timeout_ms,
                  "a connection's first request must arrive within this (default 30000; slowloris guard)");
    flags.add_int("--idle-timeout-ms", &idle_timeout_ms,
                  "keep-alive connections idle longer are closed (default 120000)");
    flags.add_int("--max-pending-write-bytes", &max_pending_write_bytes,
                  "a client this many response bytes behind is dropped (default 8 MiB)");
    flags.add_int("--max-requests-in-flight", &max_requests_in_flight,
                  "requests in flight server-wide; beyond, 503 + Retry-After (default 1024, 0: unbounded)");
    flags.add_int("--max-requests-per-client", &max_requests_per_client,
                  "requests (streams included) in flight per client address; beyond, 429 + Retry-After (default 0: "
                  "unbounded; behind a proxy all clients share one address)");
    flags.add_int("--max-tokens", &max_tokens, "largest max_tokens a request may ask for (default 0: the context)");
    flags.add_int("--max-n", &max_n, "largest n (choices) a request may ask for, 1..16 (default 16)");
    flags.add_bool("--public-metrics", &is_metrics_public, "with --auth-tokens: /metrics answers without a token");
}

Status ServeLimitFlags::apply(server::ServeOptions& options) const {
    constexpr int64_t kGiB = int64_t{1} << 30;
    constexpr int64_t kDay = 24 * 3600 * 1000;
    GANNET_RETURN_IF_ERROR(check_range("--max-body-bytes", max_body_bytes, 1, kGiB));
    GANNET_RETURN_IF_ERROR(check_range("--max-header-bytes", max_header_bytes, 1024, 16 << 20));
    GANNET_RETURN_IF_ERROR(check_range("--read-timeout-ms", read_timeout_ms, 1, kDay));
    GANNET_RETURN_IF_ERROR(check_range("--idle-timeout-ms", idle_timeout_ms, 1, kDay));
    GANNET_RETURN_IF_ERROR(check_range("--max-pending-write-bytes", max_pending_write_bytes, 4096, kGiB));
    GANNET_RETURN_IF_ERROR(check_range("--max-requests-in-flight", max_requests_in_flight, 0, 1 << 20));
    GANNET_RETURN_IF_ERROR(check_range("--max-requests-per-client", max_requests_per_client, 0, 1 << 20));
    GANNET_RETURN_IF_ERROR(check_range("--max-tokens", max_tokens, 0, 1 << 30));
    GANNET_RETURN_IF_ERROR(check_range("--max-n", max_n, 1, 16));
    if (is_metrics_public && options.auth_tokens_file.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "--public-metrics needs --auth-tokens (without it every route is open)");
    }
    server::HttpServerConfig& h = options.http;
    h.max_body_bytes = static_cast<size_t>(max_body_bytes);
    h.max_header_bytes = static_cast<size_t>(max_header_bytes);
    h.read_timeout_ms = static_cast<int>(read_timeout_ms);
    h.idle_timeout_ms = static_cast<int>(idle_timeout_ms);
    h.max_pending_write_bytes = static_cast<size_t>(max_pending_write_bytes);
    h.max_requests_in_flight = static_cast<int>(max_requests_in_flight);
    h.max_requests_per_client = static_cast<int>(max_requests_per_client);
    options.is_metrics_public = is_metrics_public;
    return Status();
}

}  // namespace gannet::app
