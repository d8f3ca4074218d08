// A1111's images.flatten (PIL's paste of an RGBA image onto the background colour with itself as the
// mask, then RGB) on worked bytes, and the colour setting's parsing.
#include <gtest/gtest.h>

#include "imaging/flatten.h"
#include "request.h"
#include "status.h"

using namespace sdgimp;

TEST(Flatten, CompositesOntoTheBackgroundAsPilDoes) {
    // PIL's BLEND(a, bg, fg) = DIV255(bg * (255 - a) + fg * a), DIV255(v) = ((v + 128) >> 8 + v + 128) >> 8.
    const Image rgba{4, 1, 4, {10, 20, 30, 255, 10, 20, 30, 0, 200, 100, 0, 128, 0, 0, 0, 1}};
    const Image out = imaging::flatten(rgba, {255, 255, 255});
    ASSERT_EQ(out.channels, 3);
    // Opaque: itself; clear: the background; half: 200*128 + 255*127 = 57985 -> 227, 100*128 + 255*127 = 45185 -> 177,
    // 0*128 + 255*127 = 32385 -> 127; alpha 1 over white: 255*254 = 64770 -> 254.
    EXPECT_EQ(out.pixels, (std::vector<uint8_t>{10, 20, 30, 255, 255, 255, 227, 177, 127, 254, 254, 254}));
    const Image black = imaging::flatten(rgba, {0, 0, 0});
    EXPECT_EQ(black.pixels, (std::vector<uint8_t>{10, 20, 30, 0, 0, 0, 100, 50, 0, 0, 0, 0}));
    // RGB and gray images are left as they are.
    const Image rgb{1, 1, 3, {1, 2, 3}}, gray{1, 1, 1, {7}};
    EXPECT_EQ(imaging::flatten(rgb, {255, 255, 255}).pixels, rgb.pixels);
    EXPECT_EQ(imaging::flatten(gray, {255, 255, 255}).pixels, (std::vector<uint8_t>{7, 7, 7}));
}

TEST(Flatten, BackgroundColourSetting) {
    EXPECT_EQ(imaging::parse_background_color("#ffffff"), (std::array<uint8_t, 3>{255, 255, 255}));
    EXPECT_EQ(imaging::parse_background_color("#0A8b10"), (std::array<uint8_t, 3>{10, 139, 16}));
    EXPECT_EQ(imaging::parse_background_color("#f80"), (std::array<uint8_t, 3>{255, 136, 0}));
    for (const char* bad : {"", "white", "#ffff", "#gggggg", "ffffff"}) {
        try {
            imaging::parse_background_color(bad);
            ADD_FAILURE() << bad;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("write it as #rrggbb"), std::string::npos) << e.what();
        }
    }
    // A request with a bad colour is refused before any work.
    GenerateRequest r;
    r.img2img_background_color = "#12";
    EXPECT_THROW(validate(r), Error);
}
