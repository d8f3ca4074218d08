#include "safetensors_reader.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "../status.h"

namespace sdgimp::io {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the reference library's own limit

uint64_t read_u64_le(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

bool parse_dtype(const std::string& s, DType* out) {
    static const std::map<std::string, DType> kNames = {
        {"F64", DType::kF64}, {"F32", DType::kF32}, {"F16", DType::kF16}, {"BF16", DType::kBF16},
        {"I64", DType::kI64}, {"I32", DType::kI32}, {"I16", DType::kI16}, {"I8", DType::kI8},
        {"U8", DType::kU8},   {"BOOL", DType::kBool}};
    auto it = kNames.find(s);
    if (it == kNames.end()) return false;
    *out = it->second;
    return true;
}

}  // namespace

bool looks_like_safetensors(const MappedFile& file) {
    if (file.size() < 10) return false;
    uint64_t n = read_u64_le(file.data());
    return n >= 2 && n <= kMaxHeaderBytes && n <= file.size() - 8 && file.data()[8] == '{';
}

SafetensorsFile read_safetensors(std::shared_ptr<const MappedFile> file) {
    const std::string& path = file->path();
    if (file->size() < 8) throw_bad_file(path, "is too short to be a safetensors file (truncated download?).");
    const uint64_t header_len = read_u64_le(file->data());
    if (header_len > kMaxHeaderBytes)
        throw_bad_file(path, "declares a " + std::to_string(header_len) +
                                 "-byte safetensors header, over the 100 MiB limit; the file is corrupt.");
    if (header_len > file->size() - 8)
        throw_bad_file(path, "its safetensors header runs past the end of the file; the file is truncated.");
    const char* hdr = reinterpret_cast<const char*>(file->data() + 8);
    nlohmann::json j = nlohmann::json::parse(hdr, hdr + header_len, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
        throw_bad_file(path, "its safetensors header is not a valid JSON object; the file is corrupt.");

    SafetensorsFile out;
    out.data_start = 8 + header_len;
    const size_t data_size = file->size() - out.data_start;
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& name = it.key();
        const nlohmann::json& v = it.value();
        if (name == "__metadata__") {
            if (!v.is_object()) throw_bad_file(path, "its __metadata__ entry is not an object; the file is corrupt.");
            for (auto m = v.begin(); m != v.end(); ++m)
                if (m.value().is_string()) out.metadata[m.key()] = m.value().get<std::string>();
            continue;
        }
        const std::string what = "tensor '" + name + "'";
        if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
            throw_bad_file(path, what + " lacks dtype, shape or data_offsets; the file is corrupt.");
        const auto& jd = v["dtype"];
        const auto& js = v["shape"];
        const auto& jo = v["data_offsets"];
        RawTensor t;
        if (!jd.is_string() || !parse_dtype(jd.get<std::string>(), &t.dtype))
            throw_bad_file(path, what + " has an unsupported dtype " + jd.dump() +
                                     "; convert the file to F32, F16 or BF16.");
        if (!js.is_array() || js.size() > 16)
            throw_bad_file(path, what + " has an invalid shape; the file is corrupt.");
        unsigned __int128 numel = 1;
        for (const auto& d : js) {
            if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t(1) << 40))
                throw_bad_file(path, what + " has an invalid shape; the file is corrupt.");
            t.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
            numel *= d.get<uint64_t>();
        }
        if (!jo.is_array() || jo.size() != 2 || !jo[0].is_number_unsigned() || !jo[1].is_number_unsigned())
            throw_bad_file(path, what + " has invalid data_offsets; the file is corrupt.");
        const uint64_t begin = jo[0].get<uint64_t>(), end = jo[1].get<uint64_t>();
        if (begin > end || end > data_size)
            throw_bad_file(path, what + " has data_offsets past the end of the file; the file is truncated or corrupt.");
        if (numel * dtype_size(t.dtype) != end - begin)
            throw_bad_file(path, what + " has " + std::to_string(end - begin) +
                                     " bytes of data, which does not match its shape and dtype; the file is corrupt.");
        t.strides = contiguous_strides(t.shape);
        t.data = file->data() + out.data_start + begin;
        t.storage_bytes = end - begin;
        t.owner = file;
        out.tensors.emplace(name, std::move(t));
    }
    return out;
}

}  // namespace sdgimp::io
