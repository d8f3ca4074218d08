// Reads .safetensors files: 8-byte little-endian header length, JSON header, raw data.
// The header is untrusted: every offset, size and dtype is checked before any tensor is exposed.
#pragma once

#include <map>
#include <string>

#include "raw_tensor.h"

namespace sdgimp::io {

struct SafetensorsFile {
    TensorMap tensors;
    std::map<std::string, std::string> metadata;  // "__metadata__"
    size_t data_start = 0;                        // first byte after the header
};

SafetensorsFile read_safetensors(std::shared_ptr<const MappedFile> file);

// True when the first bytes look like a safetensors header (used to pick a reader).
bool looks_like_safetensors(const MappedFile& file);

}  // namespace sdgimp::io
