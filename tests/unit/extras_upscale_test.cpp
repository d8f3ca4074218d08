// A1111's Extras upscale (postprocessing_upscale.py): its size arithmetic and records against values
// CPython computed from its code, PIL's blend and paste on worked bytes, and whole runs through the
// engine against the pieces (Lanczos and Nearest, which need no model files).
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "imaging/extras_upscale.h"
#include "imaging/resample.h"
#include "pipeline/upscale.h"
#include "status.h"

using namespace sdgimp;

namespace {

Image gradient(int w, int h) {
    Image img{w, h, 3, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c) img.pixels[(static_cast<size_t>(y) * w + x) * 3 + c] = static_cast<uint8_t>((x * 5 + y * 3 * (c + 1)) % 256);
    return img;
}

}  // namespace

TEST(ExtrasUpscale, SizeArithmeticFollowsA1111) {
    using imaging::limit_size_by_one_dimension;
    EXPECT_EQ(limit_size_by_one_dimension(1000.0, 500.0, 512), (std::pair<int, int>{512, 256}));
    EXPECT_EQ(limit_size_by_one_dimension(300.0, 900.0, 512), (std::pair<int, int>{170, 512}));
    EXPECT_EQ(limit_size_by_one_dimension(400.5, 300.25, 512), (std::pair<int, int>{400, 300}));
    EXPECT_EQ(limit_size_by_one_dimension(333.0 * 1.7, 100 * 1.7, 512), (std::pair<int, int>{512, 153}));

    imaging::ExtrasUpscaleSettings s;
    s.upscale_by = 2;
    auto c = imaging::plan_extras_upscale(100, 75, s);
    EXPECT_EQ(c.factor, 2.0);
    EXPECT_FALSE(c.crop);
    EXPECT_EQ(imaging::extras_info_text(c.info), "Postprocess upscale by: 2.0");
    // "Max side length": 400x300 would pass 300, so A1111 scales to 300x225 uncropped.
    s.upscale_by = 4;
    s.max_side_length = 300;
    c = imaging::plan_extras_upscale(100, 75, s);
    EXPECT_EQ(c.factor, 3.0);
    EXPECT_FALSE(c.crop);
    EXPECT_EQ(imaging::extras_info_text(c.info), "Postprocess upscale by: 4.0, Max side length: 300");
    // "Scale to" 256x256 with crop: the larger ratio, then the crop canvas.
    s = {};
    s.scale_to = true;
    s.to_width = s.to_height = 256;
    c = imaging::plan_extras_upscale(100, 75, s);
    EXPECT_DOUBLE_EQ(c.factor, 3.4133333333333336);
    EXPECT_TRUE(c.crop);
    EXPECT_EQ(c.crop_w, 256);
    EXPECT_EQ(imaging::extras_info_text(c.info), "Postprocess upscale to: 256x256, Postprocess crop to: 256x256");
    s.crop = false;
    EXPECT_FALSE(imaging::plan_extras_upscale(100, 75, s).crop);
    // Out of A1111's sliders: one sentence.
    s = {};
    s.upscale_by = 9;
    EXPECT_THROW(imaging::validate_extras_upscale(s), Error);
    s = {};
    s.upscaler_2_visibility = 1.5;
    EXPECT_THROW(imaging::validate_extras_upscale(s), Error);
    s = {};
    EXPECT_EQ(s.ldsr_steps, 100);  // A1111's "LDSR processing steps" default
    s.ldsr_steps = 0;
    EXPECT_THROW(imaging::validate_extras_upscale(s), Error);
}

TEST(ExtrasUpscale, PilBlendAndPaste) {
    // a + alpha (b - a) in single precision, truncated (CPython with float32 rounding at each step).
    const Image a{5, 1, 1, {10, 200, 0, 3, 250}}, b{5, 1, 1, {200, 10, 255, 4, 0}};
    EXPECT_EQ(imaging::pil_blend(a, b, 0.3).pixels[0], 67);
    EXPECT_EQ(imaging::pil_blend(a, b, 0.5).pixels[1], 105);
    EXPECT_EQ(imaging::pil_blend(a, b, 0.7).pixels[2], 178);
    EXPECT_EQ(imaging::pil_blend(a, b, 0.999).pixels[3], 3);
    EXPECT_EQ(imaging::pil_blend(a, b, 0.001).pixels[4], 249);
    EXPECT_EQ(imaging::pil_blend(a, b, 0).pixels, a.pixels);
    EXPECT_EQ(imaging::pil_blend(a, b, 1).pixels, b.pixels);
    EXPECT_THROW(imaging::pil_blend(a, Image{1, 1, 1, {0}}, 0.5), Error);
    // Centred on black: 3x2 into 5x4 lands at (1, 1); 6x6 into 4x4 keeps the middle.
    const Image small = gradient(3, 2);
    const Image out = imaging::paste_centered(small, 5, 4);
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 5; ++x)
            for (int ch = 0; ch < 3; ++ch) {
                const bool inside = x >= 1 && x < 4 && y >= 1 && y < 3;
                const uint8_t want = inside ? small.pixels[((y - 1) * 3 + (x - 1)) * 3 + ch] : 0;
                EXPECT_EQ(out.pixels[(y * 5 + x) * 3 + ch], want) << x << "," << y;
            }
    const Image big = gradient(6, 6);
    const Image mid = imaging::paste_centered(big, 4, 4);
    EXPECT_EQ(mid.pixels[0], big.pixels[(1 * 6 + 1) * 3]);
    EXPECT_EQ(mid.pixels[(3 * 4 + 3) * 3 + 2], big.pixels[(4 * 6 + 4) * 3 + 2]);
}

TEST(ExtrasUpscale, EngineRunsEqualThePieces) {
    Engine engine;
    const Image img = gradient(100, 75);
    pipeline::Upscalers u;
    pipeline::UpscaleOptions a1111;
    a1111.a1111_size = true;
    imaging::ExtrasUpscaleSettings s;
    s.upscaler_1 = "Lanczos";
    s.upscaler_2 = "Nearest";
    s.upscaler_2_visibility = 0.4;
    s.upscale_by = 2;
    Image out;
    std::string info;
    Status st = engine.extras_upscale(img, s, {}, &out, &info);
    ASSERT_TRUE(st.ok) << st.message;
    // A1111's sizes: 200 x (150 // 8 * 8).
    EXPECT_EQ(out.width, 200);
    EXPECT_EQ(out.height, 144);
    const Image first = u.upscale(img, "Lanczos", 2, a1111), second = u.upscale(img, "Nearest", 2, a1111);
    EXPECT_EQ(out.pixels, imaging::pil_blend(first, second, 0.4).pixels);
    EXPECT_EQ(info, "Postprocess upscale by: 2.0, Postprocess upscaler: Lanczos, Postprocess upscaler 2: Nearest");
    // Visibility 0: the second upscaler is neither run nor recorded.
    s.upscaler_2_visibility = 0;
    ASSERT_TRUE(engine.extras_upscale(img, s, {}, &out, &info).ok);
    EXPECT_EQ(out.pixels, first.pixels);
    EXPECT_EQ(info, "Postprocess upscale by: 2.0, Postprocess upscaler: Lanczos");
    // "Scale to" 256x256, cropped: 336x256 centred on the canvas.
    s.scale_to = true;
    s.to_width = s.to_height = 256;
    ASSERT_TRUE(engine.extras_upscale(img, s, {}, &out, &info).ok);
    EXPECT_EQ(out.width, 256);
    EXPECT_EQ(out.height, 256);
    const Image up = u.upscale(img, "Lanczos", 256.0 / 75, a1111);
    EXPECT_EQ(up.width, 336);
    EXPECT_EQ(out.pixels, imaging::paste_centered(up, 256, 256).pixels);
    EXPECT_EQ(info, "Postprocess upscale to: 256x256, Postprocess crop to: 256x256, Postprocess upscaler: Lanczos");
    // Smaller than the image: Lanczos straight to A1111's multiple-of-8 size (80x64), then the crop.
    s.to_width = s.to_height = 64;
    ASSERT_TRUE(engine.extras_upscale(img, s, {}, &out, &info).ok);
    EXPECT_EQ(out.pixels, imaging::paste_centered(imaging::resize(img, 80, 64, imaging::Filter::kLanczos), 64, 64).pixels);
    // Upscaler 1 "None": the image as it is, nothing recorded; an unknown name is one sentence.
    s.upscaler_1 = "None";
    ASSERT_TRUE(engine.extras_upscale(img, s, {}, &out, &info).ok);
    EXPECT_EQ(out.pixels, img.pixels);
    EXPECT_TRUE(info.empty());
    s.upscaler_1 = "Lanczos";
    s.upscaler_2 = "Nowhere 4x";
    s.upscaler_2_visibility = 0.5;
    st = engine.extras_upscale(img, s, {}, &out, &info);
    EXPECT_FALSE(st.ok);
    EXPECT_NE(st.message.find("\"Nowhere 4x\" was not found"), std::string::npos) << st.message;
}
