#include "color_correction.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>

#include "../status.h"
#include "histogram_match.h"

namespace sdgimp::imaging {
namespace {

// OpenCV keeps its colour constants as exact doubles (written as raw IEEE bits) and builds its 8-bit
// tables in single precision with correctly rounded operations; plain float/double arithmetic
// without contraction gives the same numbers.
double from_bits(uint64_t bits) {
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
}

// Rows X, Y, Z of the sRGB (D65) matrix, and its inverse's rows R, G, B.
const std::array<double, 9>& srgb_to_xyz() {
    static const std::array<double, 9> m = {
        from_bits(0x3fda65a14488c60d), from_bits(0x3fd6e297396d0918), from_bits(0x3fc71819d2391d58),
        from_bits(0x3fcb38cda6e75ff6), from_bits(0x3fe6e297396d0918), from_bits(0x3fb279aae6c8f755),
        from_bits(0x3f93cc4ac6cdaf4b), from_bits(0x3fbe836eb4e98138), from_bits(0x3fee68427418d691)};
    return m;
}
const std::array<double, 9>& xyz_to_srgb() {
    static const std::array<double, 9> m = {
        from_bits(0x4009ec804102ff8f), from_bits(0xbff8982a9930be0e), from_bits(0xbfdfe7ff583a53b9),
        from_bits(0xbfef042528ae74f3), from_bits(0x3ffe040f23897204), from_bits(0x3fa546d3f9e7b80b),
        from_bits(0x3fac7de5082cf52c), from_bits(0xbfca1e14bdfd2631), from_bits(0x3ff0eabef06b3786)};
    return m;
}
const std::array<double, 3>& d65_white() {
    static const std::array<double, 3> w = {from_bits(0x3fee6a22b3892ee8), 1.0, from_bits(0x3ff16b8950763a19)};
    return w;
}

// Fixed-point layout of OpenCV's 8-bit Lab path.
constexpr int kLabShift = 12;                    // the XYZ coefficients' scale
constexpr int kGammaShift = 3;                   // linear RGB carries 3 extra bits
constexpr int kLabShift2 = kLabShift + kGammaShift;
constexpr int kCbrtTabSize = 256 * 3 / 2 * (1 << kGammaShift);
constexpr int kInvGammaShift = 12;
constexpr int kInvGammaTabSize = 1 << kInvGammaShift;
constexpr int kLutBase = 1 << 14;
constexpr int kMinAB = -8145;

int descale(int x, int n) { return (x + (1 << (n - 1))) >> n; }
int round_even(double v) { return static_cast<int>(std::nearbyint(v)); }
uint8_t saturate_u8(int v) { return static_cast<uint8_t>(std::clamp(v, 0, 255)); }

float apply_gamma(float x) {
    const double xd = x;
    const double threshold = 809.0 / 20000.0, low_scale = 323.0 / 25.0, power = 12.0 / 5.0, shift = 11.0 / 200.0;
    return static_cast<float>(xd <= threshold ? xd / low_scale : std::pow((xd + shift) / (1.0 + shift), power));
}

float apply_inv_gamma(float x) {
    const double xd = x;
    const double threshold = 7827.0 / 2500000.0, low_scale = 323.0 / 25.0, power = 12.0 / 5.0, shift = 11.0 / 200.0;
    return static_cast<float>(xd <= threshold ? xd * low_scale : std::pow(xd, 1.0 / power) * (1.0 + shift) - shift);
}

struct LabTables {
    std::array<int, 256> gamma{};                  // sRGB byte -> linear, 255 << 3 full scale
    std::array<int, kCbrtTabSize> cbrt{};          // linear (<< 3) -> f(t) << 15
    std::array<int, kInvGammaTabSize> inv_gamma{}; // linear (12 bits) -> sRGB byte
    std::array<int, 256> l_to_y{}, l_to_fy{};      // L byte -> Y and f(Y), both << 14
    std::vector<int> ab_to_xz;                     // f(X) or f(Z) (<< 14, offset by kMinAB) -> X or Z << 14
    std::array<int, 9> to_xyz{}, to_rgb{};

    LabTables() {
        const float f255 = 255.f;
        const float lthresh = 216.f / 24389.f, lscale = 841.f / 108.f, lbias = 16.f / 116.f;
        const float int_scale = static_cast<float>(255 * (1 << kGammaShift));
        for (int i = 0; i < 256; ++i) gamma[i] = round_even(int_scale * apply_gamma(static_cast<float>(i) / f255));
        const float inv_scale = 1.f / static_cast<float>(kInvGammaTabSize);
        for (int i = 0; i < kInvGammaTabSize; ++i)
            inv_gamma[i] = round_even(f255 * apply_inv_gamma(inv_scale * static_cast<float>(i)));
        const float cb_scale = 1.f / (f255 * static_cast<float>(1 << kGammaShift));
        const float lshift2 = static_cast<float>(1 << kLabShift2);
        for (int i = 0; i < kCbrtTabSize; ++i) {
            const float x = cb_scale * static_cast<float>(i);
            const float f = x < lthresh ? std::fma(x, lscale, lbias) : static_cast<float>(std::cbrt(static_cast<double>(x)));
            cbrt[i] = round_even(lshift2 * f);
        }
        for (int i = 0; i < 256; ++i) {
            if (i <= 20) {
                l_to_y[i] = round_even(static_cast<float>(i * kLutBase * 20 * 9) / static_cast<float>(17 * 29 * 29 * 29));
                l_to_fy[i] = round_even(static_cast<float>(kLutBase) *
                                        (16.f / 116.f + static_cast<float>(i * 5) / static_cast<float>(3 * 17 * 29)));
            } else {
                const float fy = static_cast<float>(i * 100 * kLutBase) / static_cast<float>(255 * 116) +
                                 static_cast<float>(16 * kLutBase) / 116.f;
                l_to_fy[i] = round_even(fy);
                l_to_y[i] = round_even(fy * fy * fy / static_cast<float>(kLutBase * kLutBase));
            }
        }
        ab_to_xz.resize(kLutBase * 9 / 4);
        for (int i = kMinAB; i < kLutBase * 9 / 4 + kMinAB; ++i) {
            // Below 6/29 the linear part of the inverse, above it the cube.
            const int v = i <= 3390 ? i * 108 / 841 - kLutBase * 16 / 116 * 108 / 841 : i * i / kLutBase * i / kLutBase;
            ab_to_xz[i - kMinAB] = v;
        }
        const auto& m = srgb_to_xyz();
        const auto& mi = xyz_to_srgb();
        const auto& w = d65_white();
        const double lshift = 1 << kLabShift;
        for (int row = 0; row < 3; ++row)
            for (int col = 0; col < 3; ++col) {
                to_xyz[row * 3 + col] = round_even(lshift * m[row * 3 + col] / w[row]);
                to_rgb[row * 3 + col] = round_even(lshift * mi[row * 3 + col] * w[col]);
            }
    }
};

const LabTables& lab_tables() {
    static const LabTables t;
    return t;
}

void require_same_size(const Image& a, const Image& b, const char* what) {
    if (!a.valid() || !b.valid() || a.width != b.width || a.height != b.height)
        throw Error(ErrorCode::kInvalidRequest, std::string(what) + " needs two images of one size.");
}

}  // namespace

Image rgb_to_lab(const Image& rgb) {
    if (!rgb.valid() || rgb.channels < 3) throw Error(ErrorCode::kInvalidRequest, "The Lab conversion needs an RGB image.");
    const LabTables& t = lab_tables();
    const auto& c = t.to_xyz;
    const int l_scale = (116 * 255 + 50) / 100;
    const int l_shift = -((16 * 255 * (1 << kLabShift2) + 50) / 100);
    Image out{rgb.width, rgb.height, 3, std::vector<uint8_t>(static_cast<size_t>(rgb.width) * rgb.height * 3)};
    const size_t n = static_cast<size_t>(rgb.width) * rgb.height;
    for (size_t i = 0; i < n; ++i) {
        const uint8_t* s = &rgb.pixels[i * rgb.channels];
        const int R = t.gamma[s[0]], G = t.gamma[s[1]], B = t.gamma[s[2]];
        const int fx = t.cbrt[descale(R * c[0] + G * c[1] + B * c[2], kLabShift)];
        const int fy = t.cbrt[descale(R * c[3] + G * c[4] + B * c[5], kLabShift)];
        const int fz = t.cbrt[descale(R * c[6] + G * c[7] + B * c[8], kLabShift)];
        uint8_t* d = &out.pixels[i * 3];
        d[0] = saturate_u8(descale(l_scale * fy + l_shift, kLabShift2));
        d[1] = saturate_u8(descale(500 * (fx - fy) + 128 * (1 << kLabShift2), kLabShift2));
        d[2] = saturate_u8(descale(200 * (fy - fz) + 128 * (1 << kLabShift2), kLabShift2));
    }
    return out;
}

Image lab_to_rgb(const Image& lab) {
    if (!lab.valid() || lab.channels != 3) throw Error(ErrorCode::kInvalidRequest, "The RGB conversion needs a 3-channel Lab image.");
    const LabTables& t = lab_tables();
    const auto& c = t.to_rgb;
    constexpr int kShift = kLabShift + (14 - kInvGammaShift);
    Image out{lab.width, lab.height, 3, std::vector<uint8_t>(lab.pixels.size())};
    const size_t n = static_cast<size_t>(lab.width) * lab.height;
    for (size_t i = 0; i < n; ++i) {
        const uint8_t* s = &lab.pixels[i * 3];
        const int y = t.l_to_y[s[0]], ify = t.l_to_fy[s[0]];
        // a/500 and b/200 in the 14-bit scale, by OpenCV's multiply-and-shift approximations.
        const int adiv = ((5 * s[1] * 53687 + (1 << 7)) >> 13) - 128 * kLutBase / 500;
        const int bdiv = ((s[2] * 41943 + (1 << 4)) >> 9) - 128 * kLutBase / 200 + 1;
        const int x = t.ab_to_xz[ify + adiv - kMinAB];
        const int z = t.ab_to_xz[ify - bdiv - kMinAB];
        uint8_t* d = &out.pixels[i * 3];
        for (int ch = 0; ch < 3; ++ch) {
            int v = descale(c[ch * 3] * x + c[ch * 3 + 1] * y + c[ch * 3 + 2] * z, kShift);
            v = std::clamp(v, 0, kInvGammaTabSize - 1);
            d[ch] = saturate_u8(t.inv_gamma[v]);
        }
    }
    return out;
}

Image match_histograms_u8(const Image& image, const Image& reference) {
    if (!image.valid() || !reference.valid() || image.channels != reference.channels)
        throw Error(ErrorCode::kInvalidRequest, "Histogram matching needs two images with the same channels.");
    const int ch = image.channels;
    const size_t n = static_cast<size_t>(image.width) * image.height;
    const size_t m = static_cast<size_t>(reference.width) * reference.height;
    Image out = image;
    for (int c = 0; c < ch; ++c) {
        std::array<int64_t, 256> src_counts{}, ref_counts{};
        for (size_t i = 0; i < n; ++i) ++src_counts[image.pixels[i * ch + c]];
        for (size_t i = 0; i < m; ++i) ++ref_counts[reference.pixels[i * ch + c]];
        // The template's values that occur and their quantiles (np.nonzero of the bincount).
        std::vector<double> ref_values, ref_q;
        int64_t run = 0;
        for (int v = 0; v < 256; ++v) {
            if (!ref_counts[v]) continue;
            run += ref_counts[v];
            ref_values.push_back(v);
            ref_q.push_back(static_cast<double>(run) / static_cast<double>(m));
        }
        std::array<uint8_t, 256> map{};
        run = 0;
        for (int v = 0; v < 256; ++v) {
            run += src_counts[v];
            if (!src_counts[v]) continue;
            const double q = static_cast<double>(run) / static_cast<double>(n);
            // Assigning the float result into the uint8 array truncates it.
            map[v] = static_cast<uint8_t>(numpy_interp(q, ref_q, ref_values));
        }
        for (size_t i = 0; i < n; ++i) out.pixels[i * ch + c] = map[image.pixels[i * ch + c]];
    }
    return out;
}

Image blend_luminosity(const Image& background, const Image& foreground) {
    require_same_size(background, foreground, "The luminosity blend");
    if (background.channels < 3 || foreground.channels < 3)
        throw Error(ErrorCode::kInvalidRequest, "The luminosity blend needs RGB images.");
    auto lum = [](const double* c) { return c[0] * 0.299 + c[1] * 0.587 + c[2] * 0.114; };
    Image out{background.width, background.height, 3, std::vector<uint8_t>(static_cast<size_t>(background.width) * background.height * 3)};
    const size_t n = static_cast<size_t>(background.width) * background.height;
    for (size_t i = 0; i < n; ++i) {
        double bg[3], fg[3];
        for (int k = 0; k < 3; ++k) {
            bg[k] = background.pixels[i * background.channels + k] / 255.0;
            fg[k] = foreground.pixels[i * foreground.channels + k] / 255.0;
        }
        const double target = lum(fg);
        const double delta = target - lum(bg);
        double c[3] = {bg[0] + delta, bg[1] + delta, bg[2] + delta};
        const double l = lum(c);
        const double lo = std::min({c[0], c[1], c[2]}), hi = std::max({c[0], c[1], c[2]});
        // ClipColor, the second step reading the first one's result as blendmodes' in-place rows do.
        if (lo < 0)
            for (double& v : c) v = l + ((v - l) * l) / (l - lo);
        if (hi > 1)
            for (double& v : c) v = l + ((v - l) * (1 - l)) / (hi - l);
        for (int k = 0; k < 3; ++k) {
            const double v = std::clamp(c[k], 0.0, 1.0);
            out.pixels[i * 3 + k] = static_cast<uint8_t>(v * 255);
        }
    }
    return out;
}

Image color_correction_target(const Image& rgb) { return rgb_to_lab(rgb); }

Image apply_color_correction(const Image& target_lab, const Image& rgb) {
    if (!target_lab.valid() || target_lab.channels != 3)
        throw Error(ErrorCode::kInvalidRequest, "The colour correction target must be a 3-channel Lab image.");
    const Image matched = lab_to_rgb(match_histograms_u8(rgb_to_lab(rgb), target_lab));
    return blend_luminosity(matched, rgb);
}

}  // namespace sdgimp::imaging
