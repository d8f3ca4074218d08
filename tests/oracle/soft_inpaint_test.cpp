// A1111 1.10's soft inpainting: PIL's Gaussian blur and A1111's weighted histogram filter against
// values PIL 9.4 and A1111's own Python functions produced, the latent blend and step mask worked by
// hand, the composite mask against A1111's pipeline of those pieces, and the engine's inpainting
// with it (record, paste round trip, each image's own mask, the unmasked image kept, bad settings).
#include <gtest/gtest.h>

#include <clocale>
#include <cmath>

#include "engine/engine.h"
#include "imaging/inpaint_prep.h"
#include "imaging/pil_blur.h"
#include "pipeline/soft_inpaint.h"
#include "support/oracle.h"
#include "support/vocab.h"

using namespace sdgimp;

namespace {

Image gray(int w, int h, std::vector<uint8_t> px) { return Image{w, h, 1, std::move(px)}; }

// The 11x7 pattern the PIL values below were computed from.
Image pattern() {
    std::vector<uint8_t> px;
    for (int y = 0; y < 7; ++y)
        for (int x = 0; x < 11; ++x) px.push_back(static_cast<uint8_t>((x * 37 + y * 91 + (x * y) % 7 * 20) % 256));
    return gray(11, 7, px);
}

}  // namespace

// Image.fromarray(pattern, "L").filter(ImageFilter.GaussianBlur(radius)) in Pillow 9.4.
TEST(SoftInpaint, PilGaussianBlurMatchesPillow) {
    const std::vector<uint8_t> r4 = {99, 101, 104, 108, 111, 114, 116, 118, 119, 119, 119, 102, 104, 107, 110, 113, 116, 118, 120, 121, 121, 121, 105, 107, 109, 113, 115, 118, 120, 122, 123, 124, 124, 108, 110, 112, 116, 118, 121, 123, 125, 126, 127, 128, 111, 113, 115, 118, 120, 123, 125, 128, 129, 130, 131, 114, 115, 118, 121, 123, 126, 128, 130, 131, 133, 134, 116, 118, 120, 123, 125, 128, 130, 132, 133, 135, 137};
    const std::vector<uint8_t> r15 = {75, 82, 94, 109, 124, 133, 129, 117, 104, 99, 98, 86, 92, 101, 112, 123, 132, 130, 121, 111, 107, 107, 101, 105, 111, 117, 124, 130, 132, 126, 122, 119, 120, 114, 118, 122, 124, 126, 130, 133, 131, 130, 130, 131, 123, 128, 132, 133, 132, 131, 132, 132, 136, 138, 140, 128, 135, 142, 144, 138, 132, 128, 130, 138, 145, 149, 130, 139, 149, 152, 143, 132, 124, 127, 139, 150, 155};
    EXPECT_EQ(imaging::pil_gaussian_blur(pattern(), 4).pixels, r4);
    EXPECT_EQ(imaging::pil_gaussian_blur(pattern(), 1.5f).pixels, r15);
    // PIL's box radius for 4 over three passes: sigma^2 = 16/3, box 2 * 3 + 1 plus 0.4375 each side.
    EXPECT_FLOAT_EQ(imaging::pil_box_radius(4, 3), 3.4375f);
    const Image flat = gray(9, 4, std::vector<uint8_t>(36, 77));
    EXPECT_EQ(imaging::pil_gaussian_blur(flat, 4).pixels, flat.pixels);
    EXPECT_EQ(imaging::pil_gaussian_blur(pattern(), 0).pixels, pattern().pixels);
}

// A1111's weighted_histogram_filter (its 5x5 kernel; 0.9-1, then 0.25-0.75) on a 6x5 float image.
TEST(SoftInpaint, WeightedHistogramFilterMatchesA1111s) {
    const std::vector<float> in = {0.0, 2.9271163940429688, 3.0310027599334717, -1.3755322694778442, -0.7669093012809753, 2.4302399158477783, 2.288435459136963, 3.8185949325561523, -0.31549137830734253, -0.9873819947242737, 1.252246618270874, 1.5873357057571411, 3.9708993434906006, 0.8547597527503967, -0.513604998588562, 0.33546510338783264, 0.62308269739151, 2.997882604598999, 1.7264187335968018, 0.4889177978038788, 0.00015348487067967653, -0.558830976486206, 2.7008731365203857, 3.468794107437134, 1.6699763536453247, 0.36344578862190247, -1.5455290079116821, 1.8096998929977417, 3.9787166118621826, 0.2489088475704193};
    const std::vector<float> first = {3.4599974155426025, 3.6169378757476807, 3.3559517860412598, 3.020974636077881, 2.4731557369232178, 2.517378330230713, 3.9152297973632812, 3.879535675048828, 3.6169378757476807, 2.9589107036590576, 2.8492915630340576, 2.9746546745300293, 3.9708993434906006, 3.9152297973632812, 3.383570432662964, 3.014300584793091, 3.337218999862671, 3.386643648147583, 3.4287052154541016, 3.0048553943634033, 2.519211530685425, 3.368969202041626, 3.792332649230957, 3.6728270053863525, 2.0590012073516846, 1.9250787496566772, 2.2368106842041016, 3.585191011428833, 3.9787166118621826, 3.792332649230957};
    const std::vector<float> second = {3.662864923477173, 3.6024718284606934, 3.4135024547576904, 3.047772169113159, 2.818420886993408, 2.6991846561431885, 3.827874183654785, 3.705557346343994, 3.420356512069702, 3.108123779296875, 2.989149570465088, 2.9789674282073975, 3.7669994831085205, 3.609680652618408, 3.318927764892578, 3.2177069187164307, 3.2486307621002197, 3.321828603744507, 3.2535977363586426, 3.0677831172943115, 3.0754740238189697, 3.3347833156585693, 3.551107406616211, 3.6407113075256348, 2.4257307052612305, 2.440804958343506, 2.7308833599090576, 3.4295639991760254, 3.7167322635650635, 3.7664785385131836};
    const auto k = pipeline::soft_inpaint_kernel();
    ASSERT_EQ(k.size(), 25u);
    EXPECT_DOUBLE_EQ(k[12], 1.0);  // the centre keeps its full weight
    // A corner (distance^2 8) just inside the taper's zero at radius 3.
    const double g8 = std::exp(-8 / 2.25), g9 = std::exp(-9 / 2.25);
    EXPECT_NEAR(k[0], (g8 - g9) / (1 - g9), 1e-15);
    const auto a = pipeline::weighted_histogram_filter(in, 6, 5, k, 2, 0.9, 1, 1);
    const auto b = pipeline::weighted_histogram_filter(a, 6, 5, k, 2, 0.25, 0.75, 1);
    for (size_t i = 0; i < in.size(); ++i) {
        EXPECT_NEAR(a[i], first[i], 2e-6) << i;
        EXPECT_NEAR(b[i], second[i], 2e-6) << i;
    }
    // The whole stack is a weighted mean; a constant stays constant.
    const std::vector<float> c(30, 2.5f);
    EXPECT_EQ(pipeline::weighted_histogram_filter(c, 6, 5, k, 2, 0.25, 0.75, 1), c);
}

// The blend by hand: t = 0 is the original, t = 1 the denoised (each vector's length shrunk by
// |v| / (|v| + 1e-5)), t = 0.5 between two unit vectors at right angles keeps length 1.
TEST(SoftInpaint, LatentBlendByHand) {
    pipeline::SoftInpaintSettings s;
    auto a = torch::zeros({1, 4, 1, 1}), b = torch::zeros({1, 4, 1, 1});
    a[0][0][0][0] = 1;
    b[0][1][0][0] = 2;
    auto at = [&](float t) { return pipeline::soft_latent_blend(s, a, b, torch::full({1, 4, 1, 1}, t)).reshape({4}); };
    EXPECT_NEAR(at(0)[0].item<float>(), 1 / 1.00001, 1e-7);
    EXPECT_NEAR(at(1)[1].item<float>(), 2 * 2 / 2.00001, 1e-6);
    // t = 0.5: the mean (0.5, 1) of length sqrt(1.25); wanted length ((1 + 16) / 2)^(1/4).
    const double want = std::pow(8.5, 0.25) / (std::sqrt(1.25) + 1e-5);
    const auto half = at(0.5f);
    EXPECT_NEAR(half[0].item<float>(), 0.5 * want, 1e-6);
    EXPECT_NEAR(half[1].item<float>(), 1.0 * want, 1e-6);
    EXPECT_EQ(half[2].item<float>(), 0.0f);
    // With preservation 1 the length is the plain mean of the lengths: (1 + 2) / 2.
    s.inpaint_detail_preservation = 1;
    EXPECT_NEAR(at(0.5f).norm().item<float>(), 1.5 * std::sqrt(1.25) / (std::sqrt(1.25) + 1e-5), 1e-6);
}

// nmask^(sigma^power * scale): the original keeps more of a partly masked pixel at high noise.
TEST(SoftInpaint, StepMaskFollowsTheSchedule) {
    pipeline::SoftInpaintSettings s;  // power 1, scale 0.5
    const auto m = torch::tensor({0.0f, 0.25f, 1.0f});
    auto step = [&](float sigma) { return pipeline::soft_step_nmask(s, m, torch::full({2}, sigma)); };
    EXPECT_TRUE(torch::allclose(step(2), torch::tensor({0.0f, 0.25f, 1.0f})));
    EXPECT_TRUE(torch::allclose(step(4), torch::tensor({0.0f, 0.0625f, 1.0f})));
    s.mask_blend_power = 2;
    EXPECT_TRUE(torch::allclose(step(2), torch::tensor({0.0f, 0.0625f, 1.0f})));
}

// A1111's apply_adaptive_masks on a 3x2 latent (4 channels) at 24x16: distances, the two filters,
// the threshold curve, PIL's Lanczos resize and blur, as its Python with numpy and PIL computes them.
TEST(SoftInpaint, CompositeMaskMatchesA1111s) {
    const std::vector<float> init = {0.0, 0.3894183337688446, 0.7173560857772827, 0.7833269238471985, 0.9635581970214844, 0.9916648268699646, 0.8912073373794556, 0.9974949955940247, 0.9463000893592834, 0.9092974066734314, 0.6754631996154785, 0.33498814702033997, 0.8084964156150818, 0.5155013799667358, 0.14112000167369843, 0.04158066213130951, -0.35078322887420654, -0.6877661347389221, -0.15774568915367126, -0.529836118221283, -0.81827712059021, -0.8715757727622986, -0.9936910271644592, -0.9589242935180664};
    const std::vector<float> samp = {1.2000000476837158, 1.0530990362167358, 0.6483627557754517, 0.3209986090660095, -0.2726425230503082, -0.7995312213897705, 0.9178106188774109, 0.4348292946815491, -0.15461339056491852, -0.49937620759010315, -0.9613723158836365, -1.1879910230636597, 0.2039605677127838, -0.3879474699497223, -0.8848724365234375, -1.0848865509033203, -1.197953701019287, -1.0177199840545654, -0.6058153510093689, -1.0282665491104126, -1.1989622116088867, -1.1601577997207642, -0.8711187839508057, -0.36879944801330566};
    const std::vector<uint8_t> want = {255, 255, 255, 255, 255, 255, 255, 255, 254, 253, 253, 253, 251, 251, 249, 248, 247, 245, 245, 243, 243, 242, 241, 241, 255, 255, 255, 255, 255, 255, 255, 254, 254, 253, 252, 252, 250, 249, 247, 246, 244, 242, 240, 239, 238, 237, 236, 235, 254, 254, 255, 255, 255, 255, 254, 254, 253, 252, 251, 250, 248, 247, 244, 242, 239, 237, 235, 233, 231, 229, 228, 227, 254, 254, 254, 254, 254, 254, 254, 253, 253, 251, 250, 248, 246, 243, 240, 237, 234, 230, 227, 224, 222, 220, 218, 217, 254, 254, 254, 254, 254, 254, 254, 253, 252, 250, 248, 246, 243, 239, 235, 231, 226, 222, 218, 214, 211, 208, 206, 204, 253, 253, 254, 254, 254, 254, 253, 252, 251, 249, 246, 243, 239, 234, 229, 223, 218, 212, 206, 201, 197, 194, 191, 189, 253, 253, 253, 253, 253, 253, 253, 252, 250, 247, 244, 240, 235, 229, 222, 215, 208, 201, 194, 187, 182, 177, 174, 172, 252, 252, 253, 253, 253, 253, 252, 251, 249, 246, 242, 237, 231, 223, 215, 206, 197, 189, 180, 172, 166, 160, 156, 153, 251, 252, 252, 252, 252, 252, 252, 250, 248, 244, 239, 233, 226, 217, 207, 197, 186, 176, 166, 157, 149, 142, 137, 134, 251, 251, 251, 252, 252, 252, 251, 249, 246, 242, 237, 229, 221, 211, 199, 187, 175, 163, 152, 141, 132, 125, 119, 115, 250, 250, 251, 251, 251, 251, 250, 248, 245, 240, 234, 226, 216, 205, 192, 178, 164, 151, 138, 126, 116, 107, 101, 97, 249, 250, 250, 251, 251, 251, 250, 248, 244, 239, 232, 223, 212, 199, 185, 170, 154, 139, 125, 112, 101, 92, 85, 80, 249, 249, 250, 250, 250, 250, 249, 247, 243, 237, 230, 220, 208, 194, 179, 162, 145, 129, 114, 100, 88, 78, 70, 65, 249, 249, 250, 250, 250, 250, 249, 246, 243, 236, 228, 217, 205, 190, 173, 156, 138, 121, 105, 90, 77, 67, 59, 53, 248, 249, 249, 250, 250, 250, 249, 246, 242, 235, 227, 216, 202, 187, 169, 151, 132, 114, 97, 82, 69, 58, 50, 44, 248, 248, 249, 249, 249, 249, 248, 246, 242, 234, 226, 214, 201, 184, 166, 148, 128, 110, 92, 76, 62, 52, 43, 37};
    pipeline::SoftInpaintSettings s;
    s.mask_blend_scale = 1.5;
    s.composite_mask_influence = 0.6;
    s.composite_difference_threshold = 0.75;
    s.composite_difference_contrast = 3;
    const auto nm = torch::tensor({1.0f, 0.6f, 0.2f, 0.8f, 0.4f, 0.0f}).view({2, 3});
    const auto ti = torch::tensor(init).view({4, 2, 3}), ts = torch::tensor(samp).view({4, 2, 3});
    const Image m = pipeline::soft_composite_mask(s, nm, ti, ts, 24, 16, std::nullopt, 24, 16);
    ASSERT_EQ(m.width, 24);
    ASSERT_EQ(m.height, 16);
    ASSERT_EQ(m.channels, 1);
    int worst = 0;
    for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::abs(m.pixels[i] - want[i]));
    EXPECT_LE(worst, 1);  // float32 sums may round a last bit differently from numpy's
    // "Only masked": fitted into the box of a bigger overlay, nothing outside it.
    const Image boxed = pipeline::soft_composite_mask(s, nm, ti, ts, 24, 16, imaging::Box{10, 4, 34, 20}, 40, 30);
    ASSERT_EQ(boxed.width, 40);
    ASSERT_EQ(boxed.height, 30);
    for (int y = 0; y < 30; ++y)
        for (int x = 0; x < 40; ++x) {
            const uint8_t v = boxed.pixels[static_cast<size_t>(y) * 40 + x];
            if (x < 10 || x >= 34 || y < 4 || y >= 20) EXPECT_EQ(v, 0) << x << "," << y;
            else EXPECT_EQ(v, m.pixels[static_cast<size_t>(y - 4) * 24 + (x - 10)]) << x << "," << y;
        }
}

// Inpainting with soft inpainting through the engine, on every oracle model (the 9-channel one too).
TEST(OracleNets, EngineSoftInpainting) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    int runs = 0;
    for (const auto& mdl : test::oracle_models()) {
        SCOPED_TRACE(mdl.name);
        Engine engine;
        ASSERT_TRUE(engine.load_model({mdl.checkpoints.front(), "", test::vocab_path()}).ok);
        // A textured 128x96 image and a small ellipse with a soft ramp.
        const int W = 128, H = 96;
        Image img{W, H, 3, std::vector<uint8_t>(W * H * 3)};
        for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 37 + i / 291) % 251);
        Image mask{W, H, 1, std::vector<uint8_t>(W * H, 0)};
        for (int y = 0; y < H; ++y)
            for (int x = 0; x < W; ++x) {
                const double d = std::hypot((x - 40) / 14.0, (y - 36) / 10.0);
                mask.pixels[static_cast<size_t>(y) * W + x] = static_cast<uint8_t>(d < 1 ? 255 : d < 1.3 ? 255 * (1.3 - d) / 0.3 : 0);
            }
        for (bool full_res : {false, true}) {
            SCOPED_TRACE("full_res " + std::to_string(full_res));
            GenerateRequest r;
            r.prompt = "ballast, pebbles";
            r.steps = 4;
            r.seed = 11;
            r.batch_size = 2;
            r.width = full_res ? 64 : W;
            r.height = full_res ? 64 : H;
            r.inpaint_full_res = full_res;
            r.masked_content = full_res ? 0 : 1;
            r.mask_blur = 6;
            std::vector<GeneratedImage> plain, out;
            ASSERT_TRUE(engine.inpaint(r, img, mask, {}, &plain).ok);
            r.soft_inpainting = true;
            Image first_mask;
            const Status st = engine.inpaint(r, img, mask, {}, &out, &first_mask);
            ASSERT_TRUE(st.ok) << st.message;
            ASSERT_EQ(out.size(), 2u);
            EXPECT_NE(out[0].image.pixels, plain[0].image.pixels);
            for (const auto& g : out) {
                ASSERT_EQ(g.mask_for_overlay.width, W);
                ASSERT_EQ(g.mask_for_overlay.height, H);
                ASSERT_EQ(g.mask_for_overlay.channels, 1);
                // Where the image's own mask is 0 the result is the original, to the bit.
                int kept = 0;
                for (size_t p = 0; p < mask.pixels.size(); ++p) {
                    if (g.mask_for_overlay.pixels[p] != 0) continue;
                    ++kept;
                    for (int c = 0; c < 3; ++c) ASSERT_EQ(g.image.pixels[p * 3 + c], img.pixels[p * 3 + c]) << p;
                }
                EXPECT_GT(kept, 0);
            }
            EXPECT_EQ(first_mask.pixels, out[0].mask_for_overlay.pixels);
            EXPECT_NE(out[0].mask_for_overlay.pixels, out[1].mask_for_overlay.pixels);  // each image moved its own way
            // A1111's record, in its order, pasted back to the same request and the same pixels.
            // (1.10 adds the script's keys before its img2img init adds the mask's.)
            const std::string keys = "Soft inpainting enabled: True, Soft inpainting schedule bias: 1, "
                                     "Soft inpainting preservation strength: 0.5, Soft inpainting transition contrast boost: 4, "
                                     "Soft inpainting mask influence: 0, Soft inpainting difference threshold: 0.5, "
                                     "Soft inpainting difference contrast: 2, Mask blur: 6";
            EXPECT_NE(out[0].infotext.find(keys + (full_res ? ", Inpaint area: Only masked, Masked area padding: 32, Masked content: fill" : "")),
                      std::string::npos) << out[0].infotext;
            // (One image: the VAE's posterior sample follows the request's first seed.)
            GenerateRequest one = r;
            one.batch_size = 1;
            one.seed = 12;
            std::vector<GeneratedImage> single, again;
            ASSERT_TRUE(engine.inpaint(one, img, mask, {}, &single).ok);
            GenerateRequest pasted;
            pasted.width = r.width;
            pasted.height = r.height;
            EXPECT_TRUE(apply_parameters(single[0].infotext, &pasted).empty());
            EXPECT_TRUE(pasted.soft_inpainting);
            EXPECT_EQ(pasted.inpaint_full_res, full_res);
            EXPECT_EQ(pasted.mask_blur, 6);
            ASSERT_TRUE(engine.inpaint(pasted, img, mask, {}, &again).ok);
            ASSERT_EQ(again.size(), 1u);
            EXPECT_EQ(again[0].image.pixels, single[0].image.pixels);
            // Other settings change the result; out-of-range ones are refused in one sentence.
            r.soft_difference_threshold = 2;
            r.soft_schedule_bias = 0.5;
            std::vector<GeneratedImage> other;
            ASSERT_TRUE(engine.inpaint(r, img, mask, {}, &other).ok);
            EXPECT_NE(other[0].image.pixels, out[0].image.pixels);
            EXPECT_NE(other[0].infotext.find("Soft inpainting schedule bias: 0.5"), std::string::npos) << other[0].infotext;
            r.soft_transition_contrast = 0.5;
            const Status bad = engine.inpaint(r, img, mask, {}, &other);
            EXPECT_EQ(bad.code, ErrorCode::kInvalidRequest);
            EXPECT_NE(bad.message.find("Soft inpainting settings are out of range"), std::string::npos) << bad.message;
        }
        ++runs;
    }
    EXPECT_GT(runs, 0);
}

// A1111's "Inpaint not masked" inverts the (binary) mask before the blur: the same preparation as
// the inverted mask given, for both inpaint areas.
TEST(SoftInpaint, NotMaskedInvertsTheMaskFirst) {
    Image img{40, 32, 3, std::vector<uint8_t>(40 * 32 * 3)};
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i * 13 % 256);
    Image mask{40, 32, 1, std::vector<uint8_t>(40 * 32, 255)}, inverted = mask;
    for (int y = 8; y < 20; ++y)
        for (int x = 10; x < 26; ++x) mask.pixels[static_cast<size_t>(y) * 40 + x] = 0;
    for (size_t i = 0; i < mask.pixels.size(); ++i) inverted.pixels[i] = static_cast<uint8_t>(255 - mask.pixels[i]);
    for (bool full_res : {false, true}) {
        imaging::InpaintSettings s;
        s.width = 32;
        s.height = 32;
        s.full_res = full_res;
        s.padding = 4;
        s.invert = true;
        const auto a = imaging::prepare_inpaint(img, mask, s);
        s.invert = false;
        const auto b = imaging::prepare_inpaint(img, inverted, s);
        EXPECT_EQ(a.mask.pixels, b.mask.pixels) << full_res;
        EXPECT_EQ(a.mask_for_overlay.pixels, b.mask_for_overlay.pixels) << full_res;
        EXPECT_EQ(a.encoder_input.pixels, b.encoder_input.pixels) << full_res;
        EXPECT_EQ(a.latent_nmask, b.latent_nmask) << full_res;
        EXPECT_EQ(a.paste_to, b.paste_to) << full_res;
    }
}
