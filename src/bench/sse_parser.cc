#include "bench/sse_parser.h"

namespace gannet::bench {

void SseParser::feed(std::string_view bytes) {
    for (char c : bytes) {
        if (has_pending_cr_) {
            has_pending_cr_ = false;
            if (c == '\n') {
                continue;  // second half of a "\r\n" split across feeds or not
            }
        }
        if (c == '\r' || c == '\n') {
            has_pending_cr_ = (c == '\r');
            line(line_);
            line_.clear();
        } else {
            line_ += c;
        }
    }
}

void SseParser::finish() {
    if (!line_.empty()) {
        line(line_);
        line_.clear();
    }
    dispatch();
}

void SseParser::line(std::string_view text) {
    if (text.empty()) {
        dispatch();
        return;
    }
    if (text.front() == ':') {
        return;  // comment / keep-alive
    }
    const size_t colon = text.find(':');
    std::string_view field = text.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
    }
    if (field == "data" || field == "error") {
        if (has_data_) {
            event_.data += '\n';
        }
        event_.data.append(value);
        has_data_ = true;
        if (field == "error") {
            event_.type = "error";
        }
    } else if (field == "event") {
        event_.type = std::string(value);
    }
    // "id" and "retry" do not matter to a benchmark client.
}

void SseParser::dispatch() {
    if (has_data_) {
        if (event_.type.empty()) {
            event_.type = "message";
        }
        on_event_(event_);
    }
    event_ = SseEvent();
    has_data_ = false;
}

}  // namespace gannet::bench
