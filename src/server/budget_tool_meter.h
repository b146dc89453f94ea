// Metered MCP tools for `serve --budgets`: a tool whose budgets-file entry declares its output
// ({"tokens": T, "max_output_bytes": B}) costs T + ceil(output bytes / 4) tokens. The gate reserves
// the worst case T + ceil(B / 4) before the call (429 when it does not fit), buffers the answer
// through a MeteredWriter, and commits what the answer actually cost; an answer longer than B
// bytes (the tool returned more than it declared) is charged the reservation, no more, and replaced
// by a JSON-RPC error naming the tool, the declared and the actual size. The ledger never goes
// past the cap: at most the reservation is ever committed.
// Owned by src/server/. Thread-safe: a MeteredWriter forwards to a thread-safe writer and settles
// once (the answer, or its destruction when the handler dropped it unanswered).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "server/http_types.h"

namespace gannet::server {

// Bytes of tool output per token charged (the bytes estimator's ratio for English/code text).
constexpr uint64_t kToolOutputBytesPerToken = 4;

inline uint64_t tool_output_tokens(uint64_t bytes) {
    return (bytes + kToolOutputBytesPerToken - 1) / kToolOutputBytesPerToken;
}

// Buffers one answer (send(), or begin_stream()..end()) and hands it to `settle` once complete;
// `settle` decides what reaches `out`. Destroyed unanswered (the handler dropped the request), it
// settles with a response of status 0, so the reservation is still closed.
class MeteredWriter : public ResponseWriter {
public:
    using Settle = std::function<void(HttpResponse answer, ResponseWriter& out)>;
    MeteredWriter(std::shared_ptr<ResponseWriter> out, Settle settle)
        : out_(std::move(out)), settle_(std::move(settle)) {}
    ~MeteredWriter() override;

    void send(HttpResponse response) override { finish(std::move(response)); }
    void begin_stream(int status, HeaderList headers) override;
    void write(std::string chunk) override { stream_.body += chunk; }
    void end() override { finish(std::move(stream_)); }
    bool is_closed() const override { return out_->is_closed(); }
    void on_close(std::function<void()> fn) override { out_->on_close(std::move(fn)); }

private:
    void finish(HttpResponse answer);

    std::shared_ptr<ResponseWriter> out_;
    Settle settle_;
    HttpResponse stream_;  // guarded by the handler's single-writer discipline (one answer per request)
    std::atomic<bool> is_settled_{false};
};

}  // namespace gannet::server
