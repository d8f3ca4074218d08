// A memory map of a whole file: checkpoints are gigabytes and must not be copied. The mapping is
// private, so tensors may view it and a write would only ever touch a private copy of a page.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace sdgimp::io {

class MappedFile {
public:
    // Throws sdgimp::Error (kModelNotFound / kBadFile) naming the path.
    static std::shared_ptr<MappedFile> open(const std::string& path);
    // Wraps bytes already in memory (fuzzers, tests); the bytes are copied.
    static std::shared_ptr<MappedFile> from_bytes(const uint8_t* data, size_t size, std::string name);

    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    const std::string& path() const { return path_; }

private:
    MappedFile() = default;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    bool mapped_ = false;
    std::unique_ptr<uint8_t[]> owned_;
    std::string path_;
};

// "size:inode:mtime_ns" of the file as it is now, empty when it cannot be examined: equal stamps
// mean the same, unchanged file (a cached hash or a loaded model still fits it).
std::string file_stamp(const std::string& path);

}  // namespace sdgimp::io
