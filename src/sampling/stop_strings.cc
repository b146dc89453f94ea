#include "sampling/stop_strings.h"

#include <algorithm>

namespace gannet::sampling {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops) {
    for (std::string& s : stops) {
        if (!s.empty()) {
            stops_.push_back(std::move(s));
        }
    }
}

std::string StopStringMatcher::feed(std::string_view text) {
    if (stopped_) {
        return "";
    }
    pending_.append(text);
    size_t first_match = std::string::npos;
    for (const std::string& s : stops_) {
        first_match = std::min(first_match, pending_.find(s));
    }
    if (first_match != std::string::npos) {
        stopped_ = true;
        std::string out = pending_.substr(0, first_match);
        pending_.clear();
        return out;
    }
    // Hold back the longest suffix that is a proper prefix of a stop string; it may complete later.
    size_t hold = 0;
    for (const std::string& s : stops_) {
        const size_t max_len = std::min(s.size() - 1, pending_.size());
        for (size_t len = max_len; len > hold; --len) {
            if (pending_.compare(pending_.size() - len, len, s, 0, len) == 0) {
                hold = len;
                break;
            }
        }
    }
    std::string out = pending_.substr(0, pending_.size() - hold);
    pending_.erase(0, pending_.size() - hold);
    return out;
}

std::string StopStringMatcher::flush() {
    std::string out = std::move(pending_);
    pending_.clear();
    return stopped_ ? std::string() : out;
}

}  // namespace gannet::sampling
