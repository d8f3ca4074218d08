// A1111's inpaint preparation against oracle/math/inpaint.json: binary masks, crop regions and their
// expansion (exact), and the img2img init outputs (mask blur within OpenCV's rounding, latent masks).
#include <gtest/gtest.h>

#include "imaging/inpaint_prep.h"
#include "io/png_file.h"
#include "support/oracle.h"
#include "support/tensor_file.h"

using namespace sdgimp;

namespace {

const std::string& dir() {
    static const std::string d = test::oracle_dir() + "/math/";
    return d;
}

Image png(const std::string& rel) { return io::read_png(dir() + rel).image; }

int max_diff(const Image& a, const Image& b) {
    EXPECT_EQ(a.width, b.width);
    EXPECT_EQ(a.height, b.height);
    if (a.width != b.width || a.height != b.height) return 999;
    const Image x = imaging::to_rgb(a), y = imaging::to_rgb(b);
    int worst = 0;
    for (size_t i = 0; i < x.pixels.size(); ++i) worst = std::max(worst, std::abs(x.pixels[i] - y.pixels[i]));
    return worst;
}

double mean_diff(const Image& a, const Image& b) {
    if (a.width != b.width || a.height != b.height) return 999;
    const Image x = imaging::to_rgb(a), y = imaging::to_rgb(b);
    double s = 0;
    for (size_t i = 0; i < x.pixels.size(); ++i) s += std::abs(x.pixels[i] - y.pixels[i]);
    return s / static_cast<double>(x.pixels.size());
}

}  // namespace

TEST(OracleMath, InpaintMaskHelpers) {
    const auto data = test::read_json(dir() + "inpaint.json");
    ASSERT_FALSE(data["helpers"].empty());
    for (const auto& c : data["helpers"]) {
        SCOPED_TRACE(c["mask"].get<std::string>());
        const Image mask = png(c["mask"]);
        EXPECT_EQ(max_diff(imaging::binary_mask(mask, true), png(c["create_binary_mask_round1"])), 0);
        EXPECT_EQ(max_diff(imaging::binary_mask(mask, false), png(c["create_binary_mask_round0"])), 0);
        const Image bin = imaging::binary_mask(mask, true);
        for (const auto& cr : c["crop"]) {
            const int pad = cr["pad"];
            const auto box = imaging::crop_region(bin, pad);
            if (cr["get_crop_region_v2"].is_null()) {
                EXPECT_FALSE(box.has_value());
                continue;
            }
            ASSERT_TRUE(box.has_value());
            EXPECT_EQ(*box, (cr["get_crop_region_v2"].get<imaging::Box>())) << "pad " << pad;
            for (const auto& e : cr["expand"]) {
                const auto got = imaging::expand_crop_region(*box, e["processing_width"], e["processing_height"], bin.width, bin.height);
                EXPECT_EQ(got, (e["result"].get<imaging::Box>())) << e.dump();
            }
        }
    }
}

TEST(OracleMath, InpaintInit) {
    const auto data = test::read_json(dir() + "inpaint.json");
    const auto ref = test::load_tensor_file(dir() + "inpaint.safetensors");
    ASSERT_FALSE(data["init"].empty());
    int exact_overlay = 0, cases = 0;
    std::vector<double> fill_diffs;
    for (const auto& c : data["init"]) {
        SCOPED_TRACE(c["id"].get<std::string>());
        imaging::InpaintSettings s;
        s.width = c["width"];
        s.height = c["height"];
        s.mask_blur_x = c["mask_blur_x"];
        s.mask_blur_y = c["mask_blur_y"];
        s.masked_content = c["inpainting_fill"];
        s.full_res = c["inpaint_full_res"];
        s.padding = c["inpaint_full_res_padding"];
        s.mask_round = c["mask_round"];
        const auto p = imaging::prepare_inpaint(png(c["image"]), png(c["mask"]), s);
        ++cases;
        if (!c["inpaint_full_res_after_init"].get<bool>() && s.full_res) {
            EXPECT_TRUE(p.empty_mask);
            continue;
        }
        if (c["paste_to"].is_array() && s.full_res) {
            ASSERT_TRUE(p.paste_to.has_value());
            const auto pt = c["paste_to"].get<std::vector<int>>();
            EXPECT_EQ((*p.paste_to)[0], pt[0]);
            EXPECT_EQ((*p.paste_to)[1], pt[1]);
            EXPECT_EQ((*p.paste_to)[2] - (*p.paste_to)[0], pt[2]);
            EXPECT_EQ((*p.paste_to)[3] - (*p.paste_to)[1], pt[3]);
        }
        EXPECT_EQ(max_diff(p.mask_for_overlay, png(c["mask_for_overlay"])), 0);
        const int od = max_diff(p.overlay, png(c["overlay"]));
        EXPECT_LE(od, 4);
        exact_overlay += od == 0;
        if (s.masked_content == 1) {
            EXPECT_EQ(max_diff(p.encoder_input, png(c["encoder_input"])), 0);
        } else {
            fill_diffs.push_back(mean_diff(p.encoder_input, png(c["encoder_input"])));
        }
        const auto want = ref[c["latent_nmask_ch0"].get<std::string>()].contiguous().view(-1);
        ASSERT_EQ(static_cast<int64_t>(p.latent_nmask.size()), want.numel());
        const float* wp = want.data_ptr<float>();
        int off = 0;
        for (int64_t i = 0; i < want.numel(); ++i)
            off += std::fabs(p.latent_nmask[static_cast<size_t>(i)] - wp[i]) > (s.mask_round ? 0.0f : 0.02f);
        EXPECT_LE(off, want.numel() / 50) << "latent mask cells off";
    }
    std::cout << cases << " init cases, " << exact_overlay << " overlays exact\n";
    // "Fill" re-implements PIL's blur cascade in floating point: close on average, not bit-exact.
    for (double d : fill_diffs) EXPECT_LT(d, 3.0) << "mean abs difference of a filled encoder input";
}
