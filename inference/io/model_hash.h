// A1111's model hashes: the old 8-hex "model_hash" (SHA-256 of 64 KiB at offset 1 MiB) and the
// new 10-hex shorthash (first 10 hex of the whole file's SHA-256); plus the addnet hash of a
// safetensors file's data section.
#pragma once

#include <optional>
#include <string>

#include "mapped_file.h"

namespace sdgimp::io {

struct ModelHashes {
    std::string sha256;        // whole file
    std::string shorthash;     // sha256[:10], shown as "Model hash" by A1111 1.x
    std::string old_hash;      // 8 hex, A1111's legacy model_hash
    std::optional<std::string> addnet_hash;  // safetensors only
};

std::string old_model_hash(const MappedFile& file);
// The SHA-256 of a safetensors file's data section (its header left out); nullopt for other files.
std::optional<std::string> addnet_hash(const MappedFile& file);
ModelHashes compute_model_hashes(const MappedFile& file);

}  // namespace sdgimp::io
