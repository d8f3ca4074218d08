// A1111's inpaint preparation against oracle/math/inpaint.json: binary masks, crop regions and their
// expansion (exact), and the img2img init outputs (mask blur within OpenCV's rounding, latent masks).
#include <gtest/gtest.h>

#include "imaging/inpaint_prep.h"
#include "pipeline/inpaint.h"
#include "sampling/denoiser.h"
#include "io/png_file.h"
#include "support/oracle.h"
#include "status.h"
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
        // "Masked content: fill" (PIL's premultiplied paste, blur cascade and alpha_composite), to the bit.
        EXPECT_EQ(max_diff(imaging::fill_masked(png(c["image"]), bin), png(c["fill_with_binary_mask"])), 0);
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
    int cases = 0;
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
        EXPECT_EQ(max_diff(p.overlay, png(c["overlay"])), 0);
        // "Original" and "fill" alike (fill is PIL's own arithmetic).
        EXPECT_EQ(max_diff(p.encoder_input, png(c["encoder_input"])), 0) << "masked content " << s.masked_content;
        const auto want = ref[c["latent_nmask_ch0"].get<std::string>()].contiguous().view(-1);
        ASSERT_EQ(static_cast<int64_t>(p.latent_nmask.size()), want.numel());
        const float* wp = want.data_ptr<float>();
        int off = 0;
        for (int64_t i = 0; i < want.numel(); ++i)
            off += std::fabs(p.latent_nmask[static_cast<size_t>(i)] - wp[i]) > 0.0f;
        EXPECT_EQ(off, 0) << "latent mask cells off";
    }
    std::cout << cases << " init cases\n";
}

// The whole inpaint pipeline on the oracle's toy UNet and toy VAE (A1111's Euler a, 10 steps,
// strength 0.75): the engine's inpaint core runs with them plugged in, from the PNGs to the final
// image: sampled latent, decoded image and the image put back under the overlay.
namespace {

torch::Tensor toy_unet(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& c) {
    auto tc = torch::cos(t.to(torch::kFloat) / 100.0f).view({-1, 1, 1, 1});
    return 0.9f * x + 0.1f * torch::sin(3.0f * x) + (0.02f * tc * c.view({-1, 1, 1, 1}));
}

pipeline::ImageCodec toy_vae() {
    static const float kE[4][3] = {{0.8f, 0.3f, -0.2f}, {-0.1f, 0.7f, 0.4f}, {0.5f, -0.6f, 0.2f}, {0.2f, 0.2f, 0.9f}};
    static const float kD[3][4] = {{0.6f, -0.2f, 0.3f, 0.1f}, {0.1f, 0.5f, -0.3f, 0.2f}, {-0.2f, 0.3f, 0.1f, 0.6f}};
    const auto E = torch::from_blob(const_cast<float*>(&kE[0][0]), {4, 3}).clone();
    const auto D = torch::from_blob(const_cast<float*>(&kD[0][0]), {3, 4}).clone();
    pipeline::ImageCodec c;
    c.scale_factor = 1.0;
    c.encode_posterior = [E](const torch::Tensor& img) {
        const auto mean = torch::einsum("oc,bchw->bohw", {E, torch::avg_pool2d(img, 8)});
        return std::make_pair(mean, torch::zeros_like(mean));
    };
    c.decode_first_stage = [D](const torch::Tensor& z) {
        const auto small = torch::tanh(torch::einsum("oc,bchw->bohw", {D, z}));
        return small.repeat_interleave(8, 2).repeat_interleave(8, 3);
    };
    return c;
}

}  // namespace

TEST(OracleMath, InpaintToyPipelines) {
    const auto data = test::read_json(dir() + "inpaint.json");
    const auto ref = test::load_tensor_file(dir() + "inpaint.safetensors");
    ASSERT_FALSE(data["pipeline"].empty());
    int ran = 0;
    for (const auto& c : data["pipeline"]) {
        SCOPED_TRACE(c["id"].get<std::string>());
        GenerateRequest r;
        r.sampler = c["sampler"];
        r.schedule = c["scheduler"];
        r.steps = c["steps"];
        r.cfg_scale = c["cfg_scale"];
        r.denoising_strength = c["denoising_strength"];
        r.mask_blur = c["mask_blur_x"];
        ASSERT_EQ(c["mask_blur_x"], c["mask_blur_y"]);
        r.masked_content = c["inpainting_fill"];
        r.inpaint_full_res = c["inpaint_full_res"];
        r.inpaint_full_res_padding = c["inpaint_full_res_padding"];
        r.width = c["width"];
        r.height = c["height"];
        r.seed = c["seed"];
        r.subseed = 0;
        r.rng = c["randn_source"];
        imaging::InpaintSettings s;
        s.width = r.width;
        s.height = r.height;
        s.mask_blur_x = s.mask_blur_y = r.mask_blur;
        s.masked_content = r.masked_content;
        s.full_res = r.inpaint_full_res;
        s.padding = r.inpaint_full_res_padding;
        auto prep = imaging::prepare_inpaint(png(c["image"]), png(c["mask"]), s);
        pipeline::LatentModel lm;
        lm.unet = [](const torch::Tensor&) { return sampling::ModelFn(toy_unet); };
        lm.schedule = sampling::ModelSchedule::linear(0.00085, 0.012, 1000);
        lm.prediction = c["parameterization"] == "v" ? Prediction::kV : Prediction::kEps;
        const auto g = sampling::simple_guidance(torch::tensor({c["cond_values"][0].get<float>()}).view({1, 1, 1}),
                                                 torch::tensor({c["uncond_values"][0].get<float>()}).view({1, 1, 1}), r.cfg_scale);
        const auto out = pipeline::inpaint_prepared(lm, toy_vae(), r, std::move(prep), [g](int) { return g; }, {});
        ASSERT_EQ(out.images.size(), 1u);
        const auto& want_samples = ref[c["samples"].get<std::string>()];
        const double lat_diff = test::max_abs_diff(out.latents, want_samples.view_as(out.latents));
        const int dec = max_diff(out.decoded[0], png(c["decoded"]));
        const int fin = max_diff(out.images[0], png(c["final"]));
        std::cout << c["id"].get<std::string>() << " fill " << r.masked_content << (r.inpaint_full_res ? " only masked" : "")
                  << ": latent max diff " << lat_diff << ", decoded " << dec << ", final " << fin << " levels\n";
        // Every content mode alike now that "fill" is PIL's own arithmetic: float rounding only.
        EXPECT_LT(lat_diff, 1e-5);
        EXPECT_EQ(dec, 0);
        EXPECT_EQ(fin, 0);
        ++ran;
    }
    EXPECT_EQ(ran, static_cast<int>(data["pipeline"].size()));
}

// A1111's p.latent_mask (set by Poor man's outpainting): with one, "fill" and the latent blend
// follow it while the blurred image mask still makes the overlay; without one they follow the
// image mask, so passing that mask itself changes nothing.
TEST(OracleMath, InpaintLatentMask) {
    const auto data = test::read_json(dir() + "inpaint.json");
    int ran = 0;
    for (const auto& c : data["helpers"]) {
        SCOPED_TRACE(c["mask"].get<std::string>());
        const Image image = png(c["image"]), mask = png(c["mask"]);
        if (image.width % 8 || image.height % 8) continue;
        imaging::InpaintSettings s;
        s.width = image.width;
        s.height = image.height;
        s.masked_content = 0;
        const auto plain = imaging::prepare_inpaint(image, mask, s);
        imaging::InpaintSettings own = s;
        own.latent_mask = plain.mask;
        const auto same = imaging::prepare_inpaint(image, mask, own);
        EXPECT_EQ(same.encoder_input.pixels, plain.encoder_input.pixels);
        EXPECT_EQ(same.latent_nmask, plain.latent_nmask);

        // The sharp (binary) mask as the latent mask: A1111's fill with it, to the bit, and the
        // latent cells of an unblurred run; the overlay and the mask still the blurred ones.
        imaging::InpaintSettings sharp = s;
        sharp.latent_mask = png(c["create_binary_mask_round1"]);
        const auto p = imaging::prepare_inpaint(image, mask, sharp);
        EXPECT_EQ(max_diff(p.encoder_input, png(c["fill_with_binary_mask"])), 0);
        imaging::InpaintSettings unblurred = s;
        unblurred.mask_blur_x = unblurred.mask_blur_y = 0;
        EXPECT_EQ(p.latent_nmask, imaging::prepare_inpaint(image, mask, unblurred).latent_nmask);
        EXPECT_EQ(p.mask.pixels, plain.mask.pixels);
        EXPECT_EQ(p.mask_for_overlay.pixels, plain.mask_for_overlay.pixels);
        EXPECT_EQ(p.overlay.pixels, plain.overlay.pixels);
        ++ran;
    }
    EXPECT_GT(ran, 0);
    imaging::InpaintSettings s;
    s.width = 64;
    s.height = 64;
    s.latent_mask = Image{32, 32, 1, std::vector<uint8_t>(32 * 32, 255)};
    const Image img{64, 64, 3, std::vector<uint8_t>(64 * 64 * 3, 9)}, m{64, 64, 1, std::vector<uint8_t>(64 * 64, 255)};
    try {
        (void)imaging::prepare_inpaint(img, m, s);
        ADD_FAILURE() << "a latent mask of another size was taken";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("latent mask must have the processing size; make it 64x64"), std::string::npos) << e.what();
    }
}
