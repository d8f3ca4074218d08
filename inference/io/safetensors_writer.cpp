#include "safetensors_writer.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../status.h"

namespace sdgimp::io {

void write_safetensors(const std::string& path, const std::vector<FloatTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    std::vector<RawBytesTensor> raw;
    for (const auto& t : tensors) {
        int64_t n = 1;
        for (int64_t d : t.shape) n *= d;
        if (n != static_cast<int64_t>(t.values.size()))
            throw Error(ErrorCode::kInternal, "Tensor \"" + t.name + "\" has " + std::to_string(t.values.size()) +
                                                  " values but its shape needs " + std::to_string(n) + ".");
        // Little-endian float32, as the format requires (this machine kind is little-endian).
        raw.push_back({t.name, "F32", t.shape, reinterpret_cast<const uint8_t*>(t.values.data()), t.values.size() * sizeof(float)});
    }
    write_safetensors_raw(path, raw, metadata);
}

void write_safetensors_raw(const std::string& path, const std::vector<RawBytesTensor>& tensors,
                           const std::map<std::string, std::string>& metadata) {
    static const std::map<std::string, size_t> kSizes = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
                                                         {"I32", 4}, {"I16", 2}, {"I8", 1}, {"U8", 1}, {"BOOL", 1}};
    nlohmann::json header = nlohmann::json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    uint64_t offset = 0;
    for (const auto& t : tensors) {
        const auto size = kSizes.find(t.dtype);
        if (size == kSizes.end()) throw Error(ErrorCode::kInternal, "Tensor \"" + t.name + "\" has dtype " + t.dtype + ", which safetensors has no name for.");
        uint64_t n = 1;
        for (int64_t d : t.shape) n *= static_cast<uint64_t>(d);
        if (n * size->second != t.bytes)
            throw Error(ErrorCode::kInternal, "Tensor \"" + t.name + "\" has " + std::to_string(t.bytes) + " bytes but its shape needs " +
                                                  std::to_string(n * size->second) + ".");
        header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes}}};
        offset += t.bytes;
    }
    std::string text = header.dump();
    while (text.size() % 8) text.push_back(' ');
    const std::string partial = path + ".partial";
    {
        std::ofstream f(partial, std::ios::binary);
        if (!f) throw Error(ErrorCode::kBadFile, "Cannot write " + path + "; check the folder exists and is writable.");
        uint64_t len = text.size();
        unsigned char le[8];
        for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(len >> (8 * i));
        f.write(reinterpret_cast<const char*>(le), 8);
        f.write(text.data(), static_cast<std::streamsize>(text.size()));
        for (const auto& t : tensors) f.write(reinterpret_cast<const char*>(t.data), static_cast<std::streamsize>(t.bytes));
        if (!f) {
            f.close();
            std::remove(partial.c_str());
            throw Error(ErrorCode::kBadFile, "Writing " + path + " failed; check the free disk space.");
        }
    }
    if (std::rename(partial.c_str(), path.c_str()) != 0) {
        std::remove(partial.c_str());
        throw Error(ErrorCode::kBadFile, "Cannot write " + path + "; check the folder is writable.");
    }
}

}  // namespace sdgimp::io
