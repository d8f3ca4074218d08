#include "model_hash.h"

#include "safetensors_reader.h"
#include "sha256.h"

namespace sdgimp::io {

std::string old_model_hash(const MappedFile& file) {
    constexpr size_t kOffset = 0x100000, kLength = 0x10000;
    const size_t begin = std::min(file.size(), kOffset);
    const size_t end = std::min(file.size(), kOffset + kLength);
    return sha256_hex(file.data() + begin, end - begin).substr(0, 8);
}

std::optional<std::string> addnet_hash(const MappedFile& file) {
    if (!looks_like_safetensors(file)) return std::nullopt;
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | file.data()[i];
    return sha256_hex(file.data() + 8 + n, file.size() - 8 - n);
}

ModelHashes compute_model_hashes(const MappedFile& file) {
    ModelHashes h;
    h.sha256 = sha256_hex(file.data(), file.size());
    h.shorthash = h.sha256.substr(0, 10);
    h.old_hash = old_model_hash(file);
    h.addnet_hash = addnet_hash(file);
    return h;
}

}  // namespace sdgimp::io
