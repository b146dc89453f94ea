#include "bench/chunked_decoder.h"

#include <algorithm>

namespace gannet::bench {
namespace {

constexpr uint64_t kMaxChunkBytes = uint64_t{1} << 30;  // no SSE chunk is near this; a bigger one is garbage
constexpr size_t kMaxLineBytes = 4096;                  // size line with extensions, or one trailer line

// Parses the hex size at the start of a size line (extensions after ';' are ignored).
bool parse_size(const std::string& line, uint64_t* size) {
    uint64_t v = 0;
    size_t i = 0;
    for (; i < line.size(); ++i) {
        const char c = line[i];
        int digit;
        if (c >= '0' && c <= '9') {
            digit = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            digit = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            digit = c - 'A' + 10;
        } else {
            break;
        }
        v = v * 16 + static_cast<uint64_t>(digit);
        if (v > kMaxChunkBytes) {
            return false;
        }
    }
    if (i == 0) {
        return false;
    }
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
        ++i;
    }
    if (i != line.size() && line[i] != ';') {
        return false;
    }
    *size = v;
    return true;
}

}  // namespace

Status ChunkedDecoder::feed(std::string_view bytes, std::string* out) {
    size_t i = 0;
    while (i < bytes.size() && state_ != State::kDone) {
        if (state_ == State::kData) {
            const size_t n = static_cast<size_t>(std::min<uint64_t>(n_remaining_, bytes.size() - i));
            out->append(bytes.substr(i, n));
            i += n;
            n_remaining_ -= n;
            if (n_remaining_ == 0) {
                state_ = State::kDataEnd;
            }
            continue;
        }
        const char c = bytes[i++];
        if (c != '\n') {
            line_ += c;
            if (line_.size() > kMaxLineBytes) {
                return make_error(ErrorCode::kDataLoss, "bench: chunked body: line longer than %zu bytes",
                                  kMaxLineBytes);
            }
            continue;
        }
        if (!line_.empty() && line_.back() == '\r') {
            line_.pop_back();
        }
        if (state_ == State::kSize) {
            if (!parse_size(line_, &n_remaining_)) {
                return make_error(ErrorCode::kDataLoss, "bench: chunked body: bad chunk size line '%.40s'",
                                  line_.c_str());
            }
            state_ = n_remaining_ == 0 ? State::kTrailer : State::kData;
        } else if (state_ == State::kDataEnd) {
            if (!line_.empty()) {
                return make_error(ErrorCode::kDataLoss, "bench: chunked body: expected CRLF after chunk, got '%.40s'",
                                  line_.c_str());
            }
            state_ = State::kSize;
        } else if (state_ == State::kTrailer && line_.empty()) {
            state_ = State::kDone;
        }
        line_.clear();
    }
    return Status();
}

}  // namespace gannet::bench
