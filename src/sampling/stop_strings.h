// StopStringMatcher: watches the decoded text stream for stop strings. Text that could still be the
// start of a stop string is held back until it is ruled out, so a client never sees part of a stop
// string. Owner: sampling. Thread-safety: not thread-safe; one per sequence.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gannet::sampling {

class StopStringMatcher {
public:
    // Empty stop strings are ignored.
    explicit StopStringMatcher(std::vector<std::string> stops);

    // Appends newly decoded text and returns what may be emitted now. When a stop string completes,
    // returns the text before it, and stopped() turns true; later calls return "".
    std::string feed(std::string_view text);
    // At the end of generation without a stop: the text still held back.
    std::string flush();
    bool stopped() const { return stopped_; }

private:
    std::vector<std::string> stops_;
    std::string pending_;  // held back: a suffix that is a prefix of some stop string
    bool stopped_ = false;
};

}  // namespace gannet::sampling
