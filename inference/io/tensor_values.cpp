#include "tensor_values.h"

#include <cstring>

namespace sdgimp::io {

float half_to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) bits = sign;
        else {  // subnormal: normalise
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) { mant <<= 1; --exp; }
            bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000 | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

float bf16_to_float(uint16_t b) {
    uint32_t bits = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

std::vector<double> tensor_values(const RawTensor& t) {
    const int64_t n = t.numel();
    std::vector<double> out;
    out.reserve(static_cast<size_t>(n));
    std::vector<int64_t> idx(t.shape.size(), 0);
    for (int64_t k = 0; k < n; ++k) {
        int64_t off = t.storage_offset;
        for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * t.strides[d];
        const uint8_t* p = t.data + off * static_cast<int64_t>(dtype_size(t.dtype));
        double v = 0;
        switch (t.dtype) {
            case DType::kF64: { double x; std::memcpy(&x, p, 8); v = x; break; }
            case DType::kF32: { float x; std::memcpy(&x, p, 4); v = x; break; }
            case DType::kF16: { uint16_t x; std::memcpy(&x, p, 2); v = half_to_float(x); break; }
            case DType::kBF16: { uint16_t x; std::memcpy(&x, p, 2); v = bf16_to_float(x); break; }
            case DType::kI64: { int64_t x; std::memcpy(&x, p, 8); v = static_cast<double>(x); break; }
            case DType::kI32: { int32_t x; std::memcpy(&x, p, 4); v = x; break; }
            case DType::kI16: { int16_t x; std::memcpy(&x, p, 2); v = x; break; }
            case DType::kI8: v = static_cast<int8_t>(*p); break;
            case DType::kU8: case DType::kBool: v = *p; break;
        }
        out.push_back(v);
        for (size_t d = idx.size(); d-- > 0;) {
            if (++idx[d] < t.shape[d]) break;
            idx[d] = 0;
        }
    }
    return out;
}

}  // namespace sdgimp::io
