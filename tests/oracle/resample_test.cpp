// PIL-exact Lanczos resizing against the SD-upscale driver's "upscaled" images (oracle math/upscale.json).
#include <gtest/gtest.h>

#include "imaging/grid.h"
#include "imaging/sd_upscale.h"
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

TEST(OracleMath, SplitAndCombineGrid) {
    const std::string dir = test::oracle_dir() + "/math/";
    const auto data = test::read_json(dir + "upscale.json");
    ASSERT_FALSE(data["grids"].empty());
    for (const auto& c : data["grids"]) {
        SCOPED_TRACE(c["id"].get<std::string>());
        const Image in = io::read_png(dir + c["input"].get<std::string>()).image;
        auto g = imaging::split_grid(in, c["tile_w"], c["tile_h"], c["overlap"]);
        ASSERT_EQ(g.rows.size(), c["rows"].size());
        int k = 0;
        for (size_t r = 0; r < g.rows.size(); ++r) {
            EXPECT_EQ(g.rows[r].y, c["rows"][r]["y"].get<int>());
            ASSERT_EQ(g.rows[r].tiles.size(), c["rows"][r]["tiles"].size());
            for (size_t t = 0; t < g.rows[r].tiles.size(); ++t) {
                EXPECT_EQ(g.rows[r].tiles[t].x, c["rows"][r]["tiles"][t]["x"].get<int>());
                // The oracle's tile transform: (tile * (k % 3 + 1) + 17k) mod 256.
                for (auto& v : g.rows[r].tiles[t].tile.pixels) v = static_cast<uint8_t>((v * (k % 3 + 1) + 17 * k) % 256);
                ++k;
            }
        }
        EXPECT_EQ(k, c["tile_count"].get<int>());
        const Image want = io::read_png(dir + c["combined"].get<std::string>()).image;
        const Image got = imaging::combine_grid(g);
        ASSERT_EQ(got.width, want.width);
        EXPECT_EQ(got.pixels, want.pixels);
        if (c["identity_roundtrip_equal_input"].get<bool>()) {
            EXPECT_EQ(imaging::combine_grid(imaging::split_grid(in, c["tile_w"], c["tile_h"], c["overlap"])).pixels, in.pixels);
        }
    }
}

TEST(OracleMath, SdUpscaleDriver) {
    const std::string dir = test::oracle_dir() + "/math/";
    const auto data = test::read_json(dir + "upscale.json");
    ASSERT_FALSE(data["sd_upscale_script"].empty());
    for (const auto& c : data["sd_upscale_script"]) {
        SCOPED_TRACE(c["id"].get<std::string>());
        const Image in = io::read_png(dir + c["input"].get<std::string>()).image;
        Image up = in;
        if (c["upscaler"] == "Lanczos") {
            const double s = c["scale_factor"];
            up = imaging::resize(in, static_cast<int>(in.width * s), static_cast<int>(in.height * s));
            up = imaging::sd_upscale_resize_target(up, in.width, in.height, s);
        }
        const Image want_up = io::read_png(dir + c["upscaled"].get<std::string>()).image;
        ASSERT_EQ(up.width, want_up.width);
        EXPECT_EQ(up.pixels, want_up.pixels);
        imaging::SdUpscaleSettings st;
        st.tile_w = c["tile_w"];
        st.tile_h = c["tile_h"];
        st.overlap = c["overlap"];
        st.batch_size = c["batch_size"];
        st.batch_count = c["batch_count"];
        st.seed = c["seed"];
        std::vector<std::array<int64_t, 3>> calls;
        const auto results = imaging::sd_upscale_tiles(up, st, [&](const std::vector<Image>& tiles, int64_t batch_seed, int first) {
            std::vector<Image> out = tiles;
            for (size_t j = 0; j < out.size(); ++j) {
                const int k = first + static_cast<int>(j);
                calls.push_back({k, batch_seed + static_cast<int64_t>(j), batch_seed});
                for (auto& v : out[j].pixels) v = static_cast<uint8_t>((v * (k % 3 + 1) + 17 * k) % 256);
            }
            return out;
        });
        ASSERT_EQ(calls.size(), c["tile_calls"].size());
        for (size_t i = 0; i < calls.size(); ++i) {
            EXPECT_EQ(calls[i][0], c["tile_calls"][i]["tile_index"].get<int64_t>());
            EXPECT_EQ(calls[i][1], c["tile_calls"][i]["seed"].get<int64_t>());
            EXPECT_EQ(calls[i][2], c["tile_calls"][i]["batch_seed"].get<int64_t>());
        }
        ASSERT_EQ(results.size(), c["results"].size());
        for (size_t n = 0; n < results.size(); ++n)
            EXPECT_EQ(results[n].pixels, io::read_png(dir + c["results"][n].get<std::string>()).image.pixels) << "pass " << n;
    }
}
