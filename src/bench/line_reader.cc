#include "bench/line_reader.h"

#include <zlib.h>

#include <utility>

namespace gannet::bench {

Result<LineReader> LineReader::open(const std::string& path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (f == nullptr) {
        return make_error(ErrorCode::kNotFound, "bench: cannot open '%s'", path.c_str());
    }
    // 256 KiB: the text file is 34 MB unpacked; a bigger buffer halves the read calls for nothing.
    gzbuffer(f, 256 * 1024);
    return LineReader(f, path);
}

LineReader::LineReader(LineReader&& other) noexcept
    : file_(std::exchange(other.file_, nullptr)), path_(std::move(other.path_)), line_number_(other.line_number_) {}

LineReader& LineReader::operator=(LineReader&& other) noexcept {
    if (this != &other) {
        if (file_ != nullptr) {
            gzclose(static_cast<gzFile>(file_));
        }
        file_ = std::exchange(other.file_, nullptr);
        path_ = std::move(other.path_);
        line_number_ = other.line_number_;
    }
    return *this;
}

LineReader::~LineReader() {
    if (file_ != nullptr) {
        gzclose(static_cast<gzFile>(file_));
    }
}

Result<bool> LineReader::next(std::string* line) {
    line->clear();
    gzFile f = static_cast<gzFile>(file_);
    char buf[64 * 1024];
    bool got_any = false;
    // gzgets stops at '\n' or a full buffer, so long lines (a whole trajectory) take several calls.
    while (gzgets(f, buf, sizeof(buf)) != nullptr) {
        got_any = true;
        line->append(buf);
        if (!line->empty() && line->back() == '\n') {
            break;
        }
    }
    int err = Z_OK;
    const char* msg = gzerror(f, &err);
    if (err != Z_OK) {  // Z_BUF_ERROR here means a truncated gzip stream
        return make_error(ErrorCode::kDataLoss, "bench: %s: line %lld: corrupt or truncated file: %s", path_.c_str(),
                          static_cast<long long>(line_number_ + 1), msg);
    }
    if (!got_any) {
        return false;
    }
    while (!line->empty() && (line->back() == '\n' || line->back() == '\r')) {
        line->pop_back();
    }
    ++line_number_;
    return true;
}

}  // namespace gannet::bench
