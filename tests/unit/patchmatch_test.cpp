// Classical object removal: the hole is rebuilt from the surrounding texture, the rest is untouched,
// and hostile masks are refused.
#include <gtest/gtest.h>

#include <cmath>

#include "imaging/patchmatch_fill.h"
#include "status.h"

using namespace sdgimp;

namespace {

// Diagonal stripes with a soft colour ramp: a texture a good fill can continue.
Image stripes(int w, int h) {
    Image img{w, h, 3, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const bool on = ((x + y) / 6) % 2 == 0;
            uint8_t* p = &img.pixels[(static_cast<size_t>(y) * w + x) * 3];
            p[0] = on ? 200 : 40;
            p[1] = on ? 60 : 180;
            p[2] = static_cast<uint8_t>(80 + y / 2);
        }
    return img;
}

Image box_mask(int w, int h, int x0, int y0, int x1, int y1) {
    Image m{w, h, 1, std::vector<uint8_t>(static_cast<size_t>(w) * h, 0)};
    for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) m.pixels[static_cast<size_t>(y) * w + x] = 255;
    return m;
}

double hole_error(const Image& a, const Image& b, const Image& mask) {
    double e = 0;
    size_t n = 0;
    for (size_t i = 0; i < mask.pixels.size(); ++i)
        if (mask.pixels[i]) {
            for (int k = 0; k < 3; ++k) e += std::abs(a.pixels[i * 3 + k] - b.pixels[i * 3 + k]);
            n += 3;
        }
    return e / static_cast<double>(n);
}

}  // namespace

TEST(PatchMatch, ContinuesTheTextureIntoTheHole) {
    const Image truth = stripes(160, 120);
    const Image mask = box_mask(160, 120, 60, 40, 100, 80);
    Image holed = truth;
    for (size_t i = 0; i < mask.pixels.size(); ++i)
        if (mask.pixels[i]) holed.pixels[i * 3] = holed.pixels[i * 3 + 1] = holed.pixels[i * 3 + 2] = 255;  // the "object"
    const Image out = imaging::patchmatch_fill(holed, mask);
    // Outside the hole nothing changes.
    for (size_t i = 0; i < mask.pixels.size(); ++i) {
        if (mask.pixels[i]) continue;
        for (int k = 0; k < 3; ++k) ASSERT_EQ(out.pixels[i * 3 + k], holed.pixels[i * 3 + k]);
    }
    // Inside, the object is gone and the stripes are back: far closer to the truth than a flat
    // average colour would be (the stripes alternate between two far-apart colours).
    Image flat = holed;
    for (size_t i = 0; i < mask.pixels.size(); ++i)
        if (mask.pixels[i]) {
            flat.pixels[i * 3] = 120;
            flat.pixels[i * 3 + 1] = 120;
        }
    const double err = hole_error(out, truth, mask), flat_err = hole_error(flat, truth, mask);
    EXPECT_LT(err, 0.4 * flat_err) << "fill error " << err << " vs flat " << flat_err;
    EXPECT_LT(hole_error(out, holed, mask), 255 - 60) << "the white object must be gone";
    // Deterministic for a seed.
    EXPECT_EQ(imaging::patchmatch_fill(holed, mask).pixels, out.pixels);
}

TEST(PatchMatch, RefusesEmptyAndFullMasks) {
    const Image img = stripes(40, 30);
    EXPECT_THROW(imaging::patchmatch_fill(img, box_mask(40, 30, 0, 0, 0, 0)), Error);
    EXPECT_THROW(imaging::patchmatch_fill(img, box_mask(40, 30, 0, 0, 40, 30)), Error);
    EXPECT_THROW(imaging::patchmatch_fill(img, box_mask(20, 30, 0, 0, 5, 5)), Error);
    // A tiny image with a hole near the edge still fills.
    const Image small = imaging::patchmatch_fill(img, box_mask(40, 30, 34, 0, 40, 6));
    EXPECT_EQ(small.width, 40);
}
