// Incremental HTTP/1.1 "Transfer-Encoding: chunked" body decoder: feed raw bytes split anywhere,
// get the payload bytes out. Chunk extensions and trailers are skipped. Owner: bench helper.
// Thread-safety: one decoder per response.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace gannet::bench {

class ChunkedDecoder {
public:
    // Appends decoded payload to *out. Errors: kDataLoss on a malformed size line (the bad bytes are
    // quoted) or a chunk larger than 1 GiB.
    Status feed(std::string_view bytes, std::string* out);
    // True once the terminating zero-size chunk and the trailer's blank line have been read.
    bool is_done() const { return state_ == State::kDone; }

private:
    enum class State { kSize, kData, kDataEnd, kTrailer, kDone };
    State state_ = State::kSize;
    std::string line_;          // the size or trailer line being read
    uint64_t n_remaining_ = 0;  // payload bytes left in this chunk
};

}  // namespace gannet::bench
