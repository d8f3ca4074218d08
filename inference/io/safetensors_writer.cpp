#include "safetensors_writer.h"

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../status.h"

namespace sdgimp::io {

void write_safetensors(const std::string& path, const std::vector<FloatTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    nlohmann::json header = nlohmann::json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    uint64_t offset = 0;
    for (const auto& t : tensors) {
        int64_t n = 1;
        for (int64_t d : t.shape) n *= d;
        if (n != static_cast<int64_t>(t.values.size()))
            throw Error(ErrorCode::kInternal, "Tensor \"" + t.name + "\" has " + std::to_string(t.values.size()) +
                                                  " values but its shape needs " + std::to_string(n) + ".");
        const uint64_t bytes = t.values.size() * sizeof(float);
        header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    while (text.size() % 8) text.push_back(' ');  // data starts 8-byte aligned
    std::ofstream f(path, std::ios::binary);
    if (!f) throw Error(ErrorCode::kBadFile, "Cannot write " + path + "; check the folder exists and is writable.");
    uint64_t len = text.size();
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(len >> (8 * i));
    f.write(reinterpret_cast<const char*>(le), 8);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& t : tensors) {
        // Little-endian float32, as the format requires (this machine kind is little-endian).
        f.write(reinterpret_cast<const char*>(t.values.data()), static_cast<std::streamsize>(t.values.size() * sizeof(float)));
    }
    if (!f) throw Error(ErrorCode::kBadFile, "Writing " + path + " failed; check the free disk space.");
}

}  // namespace sdgimp::io
