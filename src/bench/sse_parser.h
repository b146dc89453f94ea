// Incremental Server-Sent Events parser (WHATWG "event stream" rules, the subset OpenAI-style
// servers use): feed bytes as they arrive, split anywhere, and get one callback per event.
// Owner: bench helper. Thread-safety: one parser per stream.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace gannet::bench {

struct SseEvent {
    std::string type;  // "event:" field, "message" when absent; "error" for llama.cpp's bare "error:" lines
    std::string data;  // "data:" lines joined with '\n'
};

class SseParser {
public:
    using Callback = std::function<void(const SseEvent&)>;
    explicit SseParser(Callback on_event) : on_event_(std::move(on_event)) {}

    // Lines end in "\n", "\r\n" or "\r"; a "\r" at the end of one feed and "\n" at the start of the
    // next count once. A blank line dispatches the event if it has data.
    void feed(std::string_view bytes);
    // End of stream: a final event without its blank line is dispatched (lenient, as browsers are not,
    // because some servers close right after the last "data:" line).
    void finish();

private:
    void line(std::string_view text);
    void dispatch();

    Callback on_event_;
    std::string line_;
    bool has_pending_cr_ = false;  // last byte was '\r': a following '\n' belongs to it
    bool has_data_ = false;
    SseEvent event_;
};

}  // namespace gannet::bench
