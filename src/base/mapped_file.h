// MappedFile: a read-only mmap of a whole file, move-only. Views into it (spans, string_views)
// live as long as the MappedFile. Thread-safety: immutable after open(); safe to share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "base/result.h"

namespace gannet {

class MappedFile {
public:
    // kNotFound when the file is missing, kInvalidArgument for a directory or unreadable file.
    // An empty file maps to an empty span (no mmap).
    static Result<MappedFile> open(const std::string& path);

    MappedFile() = default;
    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile();

    std::span<const uint8_t> bytes() const { return {data_, size_}; }
    size_t size_bytes() const { return size_; }
    const std::string& path() const { return path_; }

private:
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    std::string path_;
};

// Reads a whole (small) file into a string. kNotFound / kInvalidArgument as for MappedFile::open.
Result<std::string> read_file(const std::string& path);

}  // namespace gannet
