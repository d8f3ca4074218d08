#include "raw_tensor.h"

#include "../status.h"

namespace sdgimp::io {

size_t dtype_size(DType t) {
    switch (t) {
        case DType::kF64: case DType::kI64: return 8;
        case DType::kF32: case DType::kI32: return 4;
        case DType::kF16: case DType::kBF16: case DType::kI16: return 2;
        case DType::kI8: case DType::kU8: case DType::kBool: return 1;
    }
    return 1;
}

const char* dtype_name(DType t) {
    switch (t) {
        case DType::kF64: return "F64";
        case DType::kF32: return "F32";
        case DType::kF16: return "F16";
        case DType::kBF16: return "BF16";
        case DType::kI64: return "I64";
        case DType::kI32: return "I32";
        case DType::kI16: return "I16";
        case DType::kI8: return "I8";
        case DType::kU8: return "U8";
        case DType::kBool: return "BOOL";
    }
    return "?";
}

int64_t RawTensor::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

bool RawTensor::is_contiguous() const { return strides == contiguous_strides(shape); }

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
    std::vector<int64_t> s(shape.size(), 1);
    for (size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * shape[i];
    return s;
}

void check_view_in_bounds(const RawTensor& t, const std::string& file, const std::string& what) {
    if (t.shape.size() != t.strides.size() || t.shape.size() > 16)
        throw_bad_file(file, what + " has an invalid shape/stride description; the file is corrupt.");
    const unsigned __int128 limit = t.storage_bytes / dtype_size(t.dtype);
    if (t.storage_offset < 0)
        throw_bad_file(file, what + " has a negative storage offset; the file is corrupt.");
    unsigned __int128 last = static_cast<uint64_t>(t.storage_offset);
    bool empty = false;
    for (size_t i = 0; i < t.shape.size(); ++i) {
        if (t.shape[i] < 0 || t.strides[i] < 0 || t.shape[i] > (int64_t(1) << 40))
            throw_bad_file(file, what + " has a negative or absurd dimension; the file is corrupt.");
        if (t.shape[i] == 0) empty = true;
        else last += static_cast<unsigned __int128>(t.shape[i] - 1) * static_cast<uint64_t>(t.strides[i]);
    }
    if (!empty && last >= limit)
        throw_bad_file(file, what + " points past the end of its data; the file is truncated or corrupt.");
}

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

}  // namespace sdgimp::io
