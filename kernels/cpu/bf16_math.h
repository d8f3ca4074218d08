// Vectorisable float helpers and bfloat16 <-> float conversions shared by the CPU kernels. Only
// arithmetic, selects and bit copies (no calls, no branches), so loops over them vectorise.
#pragma once

#include <cstdint>
#include <cstring>

namespace gd::kernels::detail {

// Cephes' expf: range reduction by ln 2 split in two, degree-6 polynomial, 2^k built in the exponent
// bits; within 2 ulp of std::exp.
inline float exp_poly(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    // Round to nearest by adding and removing 1.5 * 2^23 (|x * log2 e| < 2^22).
    const float k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    const float r = x - k * 0.693359375f + k * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(k) + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

inline float silu_poly(float v) { return v / (1.0f + exp_poly(-v)); }

// GELU with erf from Abramowitz & Stegun 7.1.26 (|error of erf| <= 1.5e-7): far below bfloat16's
// resolution (3.9e-3), so it serves the bfloat16 kernels; float32 keeps LibTorch's exact erf.
inline float gelu_as(float g) {
    const float x = (g < 0.0f ? -g : g) * 0.70710678118654752f;
    const float t = 1.0f / (1.0f + 0.3275911f * x);
    const float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    const float erfc_x = poly * exp_poly(-x * x);  // erfc(|g| / sqrt 2)
    // 1 + erf(g / sqrt 2) = 2 - erfc for g >= 0, erfc(|g| / sqrt 2) for g < 0 (no cancellation).
    const float one_plus_erf = g < 0.0f ? erfc_x : 2.0f - erfc_x;
    return 0.5f * g * one_plus_erf;
}

inline float load(float v) { return v; }
inline float load(uint16_t v) {
    const uint32_t bits = static_cast<uint32_t>(v) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

template <typename T>
inline T store(float v);
template <>
inline float store<float>(float v) { return v; }
template <>
inline uint16_t store<uint16_t>(float v) {
    // Round to nearest even, as LibTorch's float -> bfloat16 (the values here are finite).
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    return static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

}  // namespace gd::kernels::detail
