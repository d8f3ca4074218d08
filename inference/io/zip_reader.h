// Minimal read-only ZIP directory for torch.save archives. torch.save stores entries
// uncompressed (and 64-byte aligned), so only "stored" entries are served; anything compressed is
// refused, which also rules out decompression bombs. ZIP64 is supported (real checkpoints exceed 4 GiB).
#pragma once

#include <map>
#include <string>

#include "mapped_file.h"

namespace sdgimp::io {

struct ZipEntry {
    uint64_t data_offset = 0;  // from the start of the file
    uint64_t size = 0;
    uint16_t method = 0;       // 0 = stored
};

class ZipReader {
public:
    explicit ZipReader(std::shared_ptr<const MappedFile> file);

    static bool looks_like_zip(const MappedFile& file);

    const std::map<std::string, ZipEntry>& entries() const { return entries_; }
    const ZipEntry* find(const std::string& name) const;
    // Data of a stored entry; throws for compressed entries.
    const uint8_t* data(const ZipEntry& e, const std::string& name) const;

private:
    std::shared_ptr<const MappedFile> file_;
    std::map<std::string, ZipEntry> entries_;
};

}  // namespace sdgimp::io
