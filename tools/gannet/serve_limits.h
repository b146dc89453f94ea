// The limit flags of `gannet serve` (request sizes, timeouts, admission, per-request generation
// caps), kept out of cmd_serve.cc: declare them on the command's Flags, then check and apply them.
// Owned by tools/gannet/. Not thread-safe (flag parsing runs once on the main thread).
#pragma once

#include <cstdint>

#include "base/status.h"
#include "flags.h"
#include "server/serve.h"

namespace gannet::app {

struct ServeLimitFlags {
    int64_t max_body_bytes = 4 << 20;
    int64_t max_header_bytes = 64 << 10;
    int64_t read_timeout_ms = 30000;
    int64_t idle_timeout_ms = 120000;
    int64_t max_pending_write_bytes = 8 << 20;
    int64_t max_requests_in_flight = 1024;
    int64_t max_requests_per_client = 0;
    int64_t max_tokens = 0;  // 0: up to the context; otherwise a larger max_tokens is a 400
    int64_t max_n = 16;      // choices per request; a larger n is a 400 (the request parser allows <= 16)
    bool is_metrics_public = false;

    void add_to(Flags& flags);
    // kInvalidArgument naming the flag, its value and the allowed range; fills options.http.
    Status apply(server::ServeOptions& options) const;
};

}  // namespace gannet::app
