// Line-at-a-time reading of gzip or plain text files: zlib's gz* API reads both, so one path serves
// `.jsonl` and `.jsonl.gz`. Owner: bench helper. Thread-safety: one reader per thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace gannet::bench {

// Owns a gzFile; reads one line at a time of any length. Move-only.
class LineReader {
public:
    // Errors: kNotFound when the file cannot be opened.
    static Result<LineReader> open(const std::string& path);
    LineReader(LineReader&& other) noexcept;
    LineReader& operator=(LineReader&& other) noexcept;
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;
    ~LineReader();

    // Next line without its '\n' (and '\r'). Result false at end of file; kDataLoss on a corrupt stream.
    Result<bool> next(std::string* line);
    int64_t line_number() const { return line_number_; }

private:
    LineReader(void* file, std::string path) : file_(file), path_(std::move(path)) {}

    void* file_ = nullptr;  // gzFile, kept opaque so <zlib.h> stays out of headers
    std::string path_;
    int64_t line_number_ = 0;
};

// Calls fn(line, line_number) (1-based) for each line; stops at the first non-OK Status from fn.
// Errors: kNotFound, kDataLoss (corrupt gzip), or fn's.
template <typename Fn>
Status for_each_line(const std::string& path, Fn&& fn) {
    GANNET_ASSIGN_OR_RETURN(LineReader reader, LineReader::open(path));
    std::string line;
    while (true) {
        GANNET_ASSIGN_OR_RETURN(bool has_line, reader.next(&line));
        if (!has_line) {
            return Status();
        }
        GANNET_RETURN_IF_ERROR(fn(std::string_view(line), reader.line_number()));
    }
}

}  // namespace gannet::bench
