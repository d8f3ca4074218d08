// A1111's img2img colour correction and its three library steps: OpenCV's 8-bit Lab conversions
// against values cv2 printed (published answers) and the CIE formulas, scikit-image's uint8
// histogram matching and blendmodes' luminosity blend on worked cases, and the whole correction on
// images whose answer is known.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "imaging/color_correction.h"
#include "status.h"

using namespace sdgimp;

namespace {

Image pixel(int r, int g, int b) { return Image{1, 1, 3, {static_cast<uint8_t>(r), static_cast<uint8_t>(g), static_cast<uint8_t>(b)}}; }

// Every 5th level of each channel: 52^3 colours in one row.
Image cube() {
    Image img{52 * 52 * 52, 1, 3, {}};
    for (int r = 0; r < 256; r += 5)
        for (int g = 0; g < 256; g += 5)
            for (int b = 0; b < 256; b += 5) img.pixels.insert(img.pixels.end(), {static_cast<uint8_t>(r), static_cast<uint8_t>(g), static_cast<uint8_t>(b)});
    return img;
}

// CIE L*a*b* (D65) of an sRGB byte triple from the textbook formulas, in OpenCV's 8-bit scaling.
void cie_lab(int r, int g, int b, double* out) {
    auto lin = [](int v) {
        const double c = v / 255.0;
        return c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4);
    };
    const double R = lin(r), G = lin(g), B = lin(b);
    const double X = (0.412453 * R + 0.357580 * G + 0.180423 * B) / 0.950456;
    const double Y = 0.212671 * R + 0.715160 * G + 0.072169 * B;
    const double Z = (0.019334 * R + 0.119193 * G + 0.950227 * B) / 1.088754;
    auto f = [](double t) { return t > 216.0 / 24389 ? std::cbrt(t) : t * 841.0 / 108 + 16.0 / 116; };
    const double L = Y > 216.0 / 24389 ? 116 * f(Y) - 16 : 24389.0 / 27 * Y;
    out[0] = L * 255 / 100;
    out[1] = 500 * (f(X) - f(Y)) + 128;
    out[2] = 200 * (f(Y) - f(Z)) + 128;
}

// The inverse: sRGB bytes (unrounded) of an 8-bit Lab triple, linear values clipped to [0, 1].
void cie_rgb(int l8, int a8, int b8, double* out) {
    const double L = l8 * 100.0 / 255, fy = (L + 16) / 116, fx = fy + (a8 - 128) / 500.0, fz = fy - (b8 - 128) / 200.0;
    auto finv = [](double f) { return f > 6.0 / 29 ? f * f * f : (f - 16.0 / 116) * 108 / 841; };
    const double X = finv(fx) * 0.950456, Y = L > 8 ? fy * fy * fy : L * 27 / 24389, Z = finv(fz) * 1.088754;
    const double m[9] = {3.240479, -1.53715, -0.498535, -0.969256, 1.875991, 0.041556, 0.055648, -0.204043, 1.057311};
    for (int c = 0; c < 3; ++c) {
        const double v = std::clamp(m[c * 3] * X + m[c * 3 + 1] * Y + m[c * 3 + 2] * Z, 0.0, 1.0);
        out[c] = 255 * (v <= 0.0031308 ? v * 12.92 : 1.055 * std::pow(v, 1 / 2.4) - 0.055);
    }
}

}  // namespace

TEST(ColorCorrection, LabMatchesPrintedOpenCVValues) {
    // cv2.cvtColor(np.uint8([[...]]), ...) outputs printed in public answers: RGB red via
    // COLOR_RGB2LAB (shown divided by 2.5 as 54.4 83.2 78), blue and (16, 158, 40) given as BGR
    // to COLOR_BGR2LAB, white and black.
    const std::vector<std::pair<std::array<int, 3>, std::array<int, 3>>> cases = {
        {{255, 0, 0}, {136, 208, 195}}, {{0, 0, 255}, {82, 207, 20}}, {{16, 158, 40}, {145, 71, 177}},
        {{255, 255, 255}, {255, 128, 128}}, {{0, 0, 0}, {0, 128, 128}}};
    for (const auto& [rgb, lab] : cases) {
        const Image got = imaging::rgb_to_lab(pixel(rgb[0], rgb[1], rgb[2]));
        EXPECT_EQ(got.pixels, (std::vector<uint8_t>{static_cast<uint8_t>(lab[0]), static_cast<uint8_t>(lab[1]), static_cast<uint8_t>(lab[2])}))
            << rgb[0] << "," << rgb[1] << "," << rgb[2];
    }
}

// How far each pixel of `got` is from `want` (rounded levels): the worst and the share within one.
static std::pair<int, double> level_error(const Image& got, const std::vector<double>& want) {
    int worst = 0;
    size_t within = 0;
    for (size_t i = 0; i < got.pixels.size(); i += 3) {
        int m = 0;
        for (int c = 0; c < 3; ++c)
            m = std::max(m, static_cast<int>(std::ceil(std::abs(got.pixels[i + c] - std::clamp(want[i + c], 0.0, 255.0)) - 0.5)));
        worst = std::max(worst, m);
        within += m <= 1;
    }
    return {worst, static_cast<double>(within) / (got.pixels.size() / 3)};
}

TEST(ColorCorrection, LabFollowsTheCieFormulas) {
    // OpenCV's fixed-point path rounds twice (its gamma and cube-root tables): off by two at most.
    const Image rgb = cube();
    const Image lab = imaging::rgb_to_lab(rgb);
    ASSERT_EQ(lab.pixels.size(), rgb.pixels.size());
    std::vector<double> want(rgb.pixels.size());
    for (size_t i = 0; i < rgb.pixels.size(); i += 3) cie_lab(rgb.pixels[i], rgb.pixels[i + 1], rgb.pixels[i + 2], &want[i]);
    const auto [worst, within] = level_error(lab, want);
    EXPECT_LE(worst, 2);
    EXPECT_GT(within, 0.99);
}

TEST(ColorCorrection, LabToRgbFollowsTheCieFormulas) {
    EXPECT_EQ(imaging::lab_to_rgb(pixel(255, 128, 128)).pixels, (std::vector<uint8_t>{255, 255, 255}));
    EXPECT_EQ(imaging::lab_to_rgb(pixel(0, 128, 128)).pixels, (std::vector<uint8_t>{0, 0, 0}));
    // Every third Lab byte triple against the inverse formulas (linear RGB clipped, as OpenCV does).
    Image lab{0, 1, 3, {}};
    for (int L = 0; L < 256; L += 3)
        for (int a = 0; a < 256; a += 3)
            for (int b = 0; b < 256; b += 3) lab.pixels.insert(lab.pixels.end(), {static_cast<uint8_t>(L), static_cast<uint8_t>(a), static_cast<uint8_t>(b)});
    lab.width = static_cast<int>(lab.pixels.size() / 3);
    const Image rgb = imaging::lab_to_rgb(lab);
    std::vector<double> want(lab.pixels.size());
    for (size_t i = 0; i < lab.pixels.size(); i += 3) cie_rgb(lab.pixels[i], lab.pixels[i + 1], lab.pixels[i + 2], &want[i]);
    const auto [worst, within] = level_error(rgb, want);
    EXPECT_LE(worst, 2);
    EXPECT_GT(within, 0.999);
    // There and back: 8-bit Lab keeps about 0.4 L* unit and one a*/b* unit, so colours move a
    // little (most where one channel is near zero under bright others).
    const Image c = cube();
    const Image back = imaging::lab_to_rgb(imaging::rgb_to_lab(c));
    double total = 0;
    for (size_t i = 0; i < c.pixels.size(); ++i) total += std::abs(c.pixels[i] - back.pixels[i]);
    EXPECT_LT(total / c.pixels.size(), 1.0);
}

TEST(ColorCorrection, HistogramMatchingOnWorkedCases) {
    // Source quantiles 0.5 / 0.75 / 1 of values 0, 1, 2; the template's 10, 20, 30 at 0.25 / 0.75 / 1.
    const Image src{4, 1, 1, {0, 0, 1, 2}}, tmpl{4, 1, 1, {10, 20, 20, 30}};
    EXPECT_EQ(imaging::match_histograms_u8(src, tmpl).pixels, (std::vector<uint8_t>{15, 15, 20, 30}));
    // 0.25 of the way along 31 / 0.75: 10.33 stored as 10; quantiles below the template's first clamp.
    const Image src2{4, 1, 1, {7, 7, 9, 9}}, tmpl2{4, 1, 1, {0, 31, 31, 31}};
    EXPECT_EQ(imaging::match_histograms_u8(src2, tmpl2).pixels, (std::vector<uint8_t>{10, 10, 31, 31}));
    const Image src3{3, 1, 1, {5, 6, 6}}, tmpl3{2, 1, 1, {100, 200}};
    EXPECT_EQ(imaging::match_histograms_u8(src3, tmpl3).pixels, (std::vector<uint8_t>{100, 200, 200}));
    // Channels are matched one by one; sizes may differ.
    const Image rgb{2, 1, 3, {0, 50, 9, 1, 60, 9}}, ref{1, 1, 3, {3, 4, 5}};
    EXPECT_EQ(imaging::match_histograms_u8(rgb, ref).pixels, (std::vector<uint8_t>{3, 4, 5, 3, 4, 5}));
    EXPECT_THROW(imaging::match_histograms_u8(rgb, src), Error);
}

TEST(ColorCorrection, LuminosityBlendOnWorkedCases) {
    // Red at mid grey's luminosity clips above 1; blue at a dark grey's clips below 0; a third case
    // only moves the colour. The expected bytes are SetLum/ClipColor in doubles, truncated.
    EXPECT_EQ(imaging::blend_luminosity(pixel(255, 0, 0), pixel(128, 128, 128)).pixels, (std::vector<uint8_t>{255, 73, 73}));
    EXPECT_EQ(imaging::blend_luminosity(pixel(0, 0, 255), pixel(10, 10, 10)).pixels, (std::vector<uint8_t>{0, 0, 87}));
    EXPECT_EQ(imaging::blend_luminosity(pixel(200, 30, 90), pixel(40, 220, 60)).pixels, (std::vector<uint8_t>{255, 92, 150}));
    // An image blended with itself is unchanged (every byte survives /255 * 255).
    const Image rgb = cube();
    EXPECT_EQ(imaging::blend_luminosity(rgb, rgb).pixels, rgb.pixels);
    EXPECT_THROW(imaging::blend_luminosity(rgb, pixel(0, 0, 0)), Error);
}

TEST(ColorCorrection, PullsAShiftedImageBackToItsTargetsColours) {
    // A smooth picture and the same picture with its blue raised and red lowered, as a run at low
    // denoising drifts: the correction against the first moves the second back, keeping its light.
    Image orig{64, 48, 3, {}};
    for (int y = 0; y < 48; ++y)
        for (int x = 0; x < 64; ++x)
            orig.pixels.insert(orig.pixels.end(), {static_cast<uint8_t>(40 + x * 2), static_cast<uint8_t>(60 + y * 3), static_cast<uint8_t>(90 + (x + y))});
    Image drifted = orig;
    for (size_t i = 0; i < drifted.pixels.size(); i += 3) {
        drifted.pixels[i] = static_cast<uint8_t>(drifted.pixels[i] - 25);
        drifted.pixels[i + 2] = static_cast<uint8_t>(std::min(255, drifted.pixels[i + 2] + 40));
    }
    const Image target = imaging::color_correction_target(orig);
    const Image fixed = imaging::apply_color_correction(target, drifted);
    ASSERT_EQ(fixed.pixels.size(), orig.pixels.size());
    auto mean_diff = [&](const Image& a, int c) {
        double s = 0;
        for (size_t i = c; i < a.pixels.size(); i += 3) s += a.pixels[i] - orig.pixels[i];
        return s / (a.pixels.size() / 3);
    };
    EXPECT_NEAR(mean_diff(drifted, 0), -25, 0.01);
    EXPECT_LT(std::abs(mean_diff(fixed, 0)), 8);
    EXPECT_LT(std::abs(mean_diff(fixed, 2)), 12);
    EXPECT_GT(std::abs(mean_diff(drifted, 2)), 35);
    // Corrected against its own colours an image barely moves.
    const Image same = imaging::apply_color_correction(imaging::color_correction_target(orig), orig);
    int worst = 0;
    double total = 0;
    for (size_t i = 0; i < orig.pixels.size(); ++i) {
        worst = std::max(worst, std::abs(same.pixels[i] - orig.pixels[i]));
        total += std::abs(same.pixels[i] - orig.pixels[i]);
    }
    EXPECT_LE(worst, 5);
    EXPECT_LT(total / orig.pixels.size(), 1.0);
    EXPECT_THROW(imaging::apply_color_correction(Image{1, 1, 1, {0}}, orig), Error);
}
