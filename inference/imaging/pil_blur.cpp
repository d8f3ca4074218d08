#include "pil_blur.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "../status.h"

namespace sdgimp::imaging {

float pil_box_radius(float radius, int passes) {
    // Gwosdek et al., "Theoretical foundations of Gaussian convolution by extended box filtering":
    // an integer box of radius l plus a fractional weight a on the next pixel each side.
    const float sigma2 = radius * radius / static_cast<float>(passes);
    const float box = static_cast<float>(std::sqrt(12.0 * sigma2 + 1.0));
    const float l = static_cast<float>(std::floor((box - 1.0) / 2.0));
    float a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2);
    a /= 6 * (sigma2 - (l + 1) * (l + 1));
    return l + a;
}

namespace {

// One box pass over `n` samples spaced `stride` apart, from `in` to `out` (distinct buffers).
void box_pass(const uint8_t* in, uint8_t* out, int n, size_t stride, int r, uint32_t whole, uint32_t edge) {
    auto px = [&](int i) -> uint32_t { return in[static_cast<size_t>(std::clamp(i, 0, n - 1)) * stride]; };
    uint32_t acc = 0;
    for (int i = -r; i <= r; ++i) acc += px(i);
    for (int x = 0; x < n; ++x) {
        const uint32_t sum = acc * whole + (px(x - r - 1) + px(x + r + 1)) * edge;
        out[static_cast<size_t>(x) * stride] = static_cast<uint8_t>((sum + (1u << 23)) >> 24);
        acc += px(x + r + 1) - px(x - r);
    }
}

}  // namespace

Image pil_gaussian_blur_gray(const Image& gray, float radius) {
    if (gray.channels != 1 || !gray.valid()) throw Error(ErrorCode::kInternal, "The PIL blur takes one-channel images.");
    if (radius <= 0) return gray;
    const float box = pil_box_radius(radius, 3);
    const int r = static_cast<int>(box);
    // Weights in 24-bit fixed point: `whole` for the 2r+1 pixels inside, `edge` for the two beside.
    const uint32_t whole = static_cast<uint32_t>(static_cast<float>(1 << 24) / (box * 2 + 1));
    const uint32_t edge = ((1u << 24) - static_cast<uint32_t>(r * 2 + 1) * whole) / 2;
    const int w = gray.width, h = gray.height;
    std::vector<uint8_t> a = gray.pixels, b(a.size());
    for (int pass = 0; pass < 3; ++pass) {
        for (int y = 0; y < h; ++y) box_pass(&a[static_cast<size_t>(y) * w], &b[static_cast<size_t>(y) * w], w, 1, r, whole, edge);
        a.swap(b);
    }
    for (int pass = 0; pass < 3; ++pass) {
        for (int x = 0; x < w; ++x) box_pass(&a[static_cast<size_t>(x)], &b[static_cast<size_t>(x)], h, static_cast<size_t>(w), r, whole, edge);
        a.swap(b);
    }
    Image out = gray;
    out.pixels = std::move(a);
    return out;
}

}  // namespace sdgimp::imaging
