// PIL-exact Lanczos resizing against the SD-upscale driver's "upscaled" images (oracle math/upscale.json).
#include <gtest/gtest.h>

#include "imaging/resample.h"
#include "io/png_file.h"
#include "status.h"
#include "support/oracle.h"

using namespace sdgimp;

TEST(OracleMath, LanczosUpscaleMatchesPil) {
    const std::string dir = test::oracle_dir() + "/math/";
    const auto data = test::read_json(dir + "upscale.json");
    int checked = 0;
    for (const auto& c : data["sd_upscale_script"]) {
        if (c["upscaler"] != "Lanczos") continue;
        SCOPED_TRACE(c["id"].get<std::string>());
        Image in = io::read_png(dir + c["input"].get<std::string>()).image;
        const double scale = c["scale_factor"];
        Image up = imaging::resize(in, static_cast<int>(in.width * scale), static_cast<int>(in.height * scale));
        const int w = up.width / 8 * 8, h = up.height / 8 * 8;
        if (w != up.width || h != up.height) up = imaging::resize(up, w, h);
        const Image want = io::read_png(dir + c["upscaled"].get<std::string>()).image;
        ASSERT_EQ(up.width, want.width);
        ASSERT_EQ(up.height, want.height);
        ASSERT_EQ(up.channels, want.channels);
        EXPECT_EQ(up.pixels, want.pixels);
        ++checked;
    }
    EXPECT_GT(checked, 0);
}

TEST(Resample, BadSizesAreErrors) {
    Image img{4, 4, 3, std::vector<uint8_t>(48, 7)};
    EXPECT_THROW(imaging::resize(img, 0, 4), Error);
    const Image same = imaging::resize(img, 8, 8);
    for (uint8_t v : same.pixels) EXPECT_EQ(v, 7);  // a flat image stays flat
}
