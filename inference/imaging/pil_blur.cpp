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

Image pil_gaussian_blur(const Image& img, float radius) {
    if (!img.valid()) throw Error(ErrorCode::kInternal, "The PIL blur got an invalid image.");
    if (radius <= 0) return img;
    const float box = pil_box_radius(radius, 3);
    const int r = static_cast<int>(box);
    // Weights in 24-bit fixed point: `whole` for the 2r+1 pixels inside, `edge` for the two beside.
    const uint32_t whole = static_cast<uint32_t>(static_cast<float>(1 << 24) / (box * 2 + 1));
    const uint32_t edge = ((1u << 24) - static_cast<uint32_t>(r * 2 + 1) * whole) / 2;
    const int w = img.width, h = img.height;
    const size_t ch = static_cast<size_t>(img.channels);
    std::vector<uint8_t> a = img.pixels, b(a.size());
    for (int pass = 0; pass < 3; ++pass) {
        for (int y = 0; y < h; ++y)
            for (size_t c = 0; c < ch; ++c) {
                const size_t at = static_cast<size_t>(y) * w * ch + c;
                box_pass(&a[at], &b[at], w, ch, r, whole, edge);
            }
        a.swap(b);
    }
    for (int pass = 0; pass < 3; ++pass) {
        for (int x = 0; x < w; ++x)
            for (size_t c = 0; c < ch; ++c) {
                const size_t at = static_cast<size_t>(x) * ch + c;
                box_pass(&a[at], &b[at], h, static_cast<size_t>(w) * ch, r, whole, edge);
            }
        a.swap(b);
    }
    Image out = img;
    out.pixels = std::move(a);
    return out;
}

namespace {

uint8_t mul_div255(uint32_t v, uint32_t a) {
    const uint32_t t = v * a + 128;
    return static_cast<uint8_t>((t + (t >> 8)) >> 8);
}

uint8_t shift_div255(uint32_t v) { return static_cast<uint8_t>(((v >> 8) + v) >> 8); }

}  // namespace

Image pil_masked_paste(const Image& rgb, const Image& alpha) {
    Image out;
    out.width = rgb.width;
    out.height = rgb.height;
    out.channels = 4;
    out.pixels.resize(static_cast<size_t>(rgb.width) * rgb.height * 4);
    for (size_t i = 0; i < alpha.pixels.size(); ++i) {
        const uint32_t a = alpha.pixels[i];
        for (int c = 0; c < 3; ++c) out.pixels[i * 4 + c] = mul_div255(rgb.pixels[i * 3 + c], a);
        out.pixels[i * 4 + 3] = mul_div255(255, a);
    }
    return out;
}

Image pil_premultiply(const Image& rgba) {
    Image out = rgba;
    for (size_t i = 0; i + 3 < out.pixels.size(); i += 4) {
        const uint32_t a = rgba.pixels[i + 3];
        if (a == 255 || a == 0) continue;
        for (int c = 0; c < 3; ++c) out.pixels[i + c] = mul_div255(rgba.pixels[i + c], a);
    }
    return out;
}

Image pil_unpremultiply(const Image& p) {
    Image out = p;
    for (size_t i = 0; i + 3 < out.pixels.size(); i += 4) {
        const uint32_t a = p.pixels[i + 3];
        if (a == 255 || a == 0) continue;
        for (int c = 0; c < 3; ++c) out.pixels[i + c] = static_cast<uint8_t>(std::min<uint32_t>(255, 255 * p.pixels[i + c] / a));
    }
    return out;
}

void pil_alpha_composite(Image* dst, const Image& src) {
    // PIL's integer "over", with 7 extra bits of precision in the colour weights.
    constexpr uint32_t kBits = 7;
    for (size_t i = 0; i + 3 < dst->pixels.size(); i += 4) {
        const uint8_t* s = &src.pixels[i];
        uint8_t* d = &dst->pixels[i];
        if (s[3] == 0) continue;
        const uint32_t blend = d[3] * (255u - s[3]);
        const uint32_t outa255 = s[3] * 255u + blend;
        const uint32_t coef1 = s[3] * 255u * 255u * (1u << kBits) / outa255;
        const uint32_t coef2 = 255u * (1u << kBits) - coef1;
        for (int c = 0; c < 3; ++c) {
            const uint32_t t = s[c] * coef1 + d[c] * coef2 + (0x80u << kBits);
            d[c] = static_cast<uint8_t>(((t >> 8) + t) >> 8 >> kBits);
        }
        d[3] = shift_div255(outa255 + 0x80);
    }
}

}  // namespace sdgimp::imaging
