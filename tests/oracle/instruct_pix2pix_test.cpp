// InstructPix2Pix checkpoints (8 input channels: the latent and the input image's latent mode) as
// A1111 1.10 runs them: the image conditioning of img2img and inpainting, its three-way guidance
// with an Image CFG scale other than 1 (prompt with image, negative with image, negative without)
// checked against an Euler run driven by hand with that formula, the parameters text's "Image CFG
// scale", and the requests A1111 cannot run refused with a sentence. The oracle has no such model:
// the test widens the tiny SD 1.x UNet's input convolution to eight channels.
#include <gtest/gtest.h>

#include <clocale>
#include <unistd.h>

#include "engine/engine.h"
#include "io/safetensors_writer.h"
#include "pipeline/conditioning.h"
#include "pipeline/generate.h"
#include "pipeline/sd_model.h"
#include "pipeline/txt2img.h"
#include "sampling/denoiser.h"
#include "sampling/noise.h"
#include "support/oracle.h"
#include "support/vocab.h"

using namespace sdgimp;

namespace {

const char* kInputConv = "model.diffusion_model.input_blocks.0.0.weight";

struct Pix2PixModel {
    std::string dir, path;
    ~Pix2PixModel() {
        for (const char* ext : {".safetensors", ".yaml", ".json"}) ::unlink((dir + "/pix2pix" + ext).c_str());
        ::rmdir(dir.c_str());
    }
};

// The first oracle SD 1.x model (not an inpainting one) with four more input channels.
std::unique_ptr<Pix2PixModel> pix2pix_model() {
    for (const auto& mdl : test::oracle_models()) {
        const auto m = pipeline::load_sd_model(mdl.checkpoints.front());
        if (m->cfg.family != ModelFamily::kSD1) continue;
        auto out = std::make_unique<Pix2PixModel>();
        char tmpl[] = "/tmp/gd-pix2pix-XXXXXX";
        if (!::mkdtemp(tmpl)) return nullptr;
        out->dir = tmpl;
        torch::manual_seed(8);
        std::vector<io::FloatTensor> ts;
        auto add = [&](const std::string& key, torch::Tensor t) {
            t = t.to(torch::kFloat);
            if (key == kInputConv) t = torch::cat({t, torch::randn_like(t) * t.std()}, 1);
            t = t.contiguous();
            ts.push_back({key, t.sizes().vec(), std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel())});
        };
        for (const auto& p : m->net->named_parameters()) add(p.key(), p.value());
        for (const auto& b : m->net->named_buffers()) add(b.key(), b.value());
        out->path = out->dir + "/pix2pix.safetensors";
        io::write_safetensors(out->path, ts);
        for (const char* ext : {".yaml", ".json"}) {
            const std::string side = mdl.dir + "/" + mdl.name + ext;
            if (::access(side.c_str(), R_OK) == 0) {
                EXPECT_EQ(::symlink(side.c_str(), (out->dir + "/pix2pix" + ext).c_str()), 0);
            }
        }
        return out;
    }
    return nullptr;
}

GenerateRequest edit_request() {
    GenerateRequest r;
    r.prompt = "make it snowy";
    r.negative_prompt = "blurry";
    r.seed = 31;
    r.subseed = 32;
    r.steps = 8;
    r.width = r.height = 64;
    r.rng = "CPU";
    r.sampler = "Euler";
    r.cfg_scale = 7.5;
    r.image_cfg_scale = 1.5;
    r.denoising_strength = 0.75;
    return r;
}

Image gradient(int w, int h) {
    Image img;
    img.width = w;
    img.height = h;
    img.channels = 3;
    img.pixels.resize(static_cast<size_t>(w) * h * 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c)
                img.pixels[(static_cast<size_t>(y) * w + x) * 3 + c] = static_cast<uint8_t>((x * 4 + y * (c + 1) * 2) % 256);
    return img;
}

}  // namespace

TEST(InstructPix2Pix, GuidanceMatchesAnEulerRunByHand) {
    const auto p2p = pix2pix_model();
    if (!p2p) GTEST_SKIP() << "the oracle has no SD 1.x model";
    const auto m = pipeline::load_sd_model(p2p->path);
    ASSERT_EQ(m->cfg.family, ModelFamily::kPix2Pix);
    ASSERT_EQ(m->cfg.unet.in_channels, 8);
    const text::ClipTokenizer tok(test::vocab_path());
    const GenerateRequest r = edit_request();
    const pipeline::SamplingSettings s = pipeline::sampling_settings(r);
    const auto cond = pipeline::encode_run_cached(nullptr, *m, tok, r.prompt, r.negative_prompt, pipeline::schedule_steps(r), 1,
                                                  r.cfg_scale, pipeline::text_settings(r));
    const auto g0 = cond->at(0);
    torch::NoGradGuard ng;
    const auto img = torch::linspace(-1, 1, 3 * 64 * 64).reshape({1, 3, 64, 64});
    const auto image_latent = m->encode_posterior(img).first;  // the mode, unscaled
    const auto init = m->cfg.scale_factor * image_latent;
    const pipeline::LatentModel lm = m->latent_model();
    const std::vector<uint64_t> seeds{31};

    // The pipeline's run.
    const auto got = pipeline::img2img_latents(lm, [cond](int call) { return cond->at(call); }, init, seeds, r.denoising_strength, s,
                                               {}, {}, image_latent);

    // By hand: A1111's img2img set-up, Euler, and the edit model's three predictions.
    const auto steps = pipeline::img2img_steps(s.steps, r.denoising_strength, false);
    auto sig = pipeline::sampler_sigmas(s, lm.schedule, steps.steps);
    sig = sig.slice(0, steps.steps - steps.t_enc - 1);
    sampling::ImageRNG rng(s.noise, seeds, {4, 8, 8});
    auto x = init + rng.first() * sig[0];
    auto with_image = m->unet_fn(image_latent), without = m->unet_fn(torch::zeros_like(image_latent));
    for (int64_t i = 0; i + 1 < sig.size(0); ++i) {
        const auto sg = sig[i].reshape({1});
        const auto c = sampling::compvis_denoise(with_image, lm.schedule, lm.prediction, x, sg, g0.cond);
        const auto im = sampling::compvis_denoise(with_image, lm.schedule, lm.prediction, x, sg, g0.uncond);
        const auto un = sampling::compvis_denoise(without, lm.schedule, lm.prediction, x, sg, g0.uncond);
        const auto den = un + r.cfg_scale * (c - im) + r.image_cfg_scale * (im - un);
        x = x + (x - den) / sig[i] * (sig[i + 1] - sig[i]);
    }
    EXPECT_TRUE(torch::allclose(got, x, 1e-4, 1e-4)) << (got - x).abs().max().item<float>();

    // Image CFG scale 1: plain guidance with the image on both sides.
    pipeline::SamplingSettings one = s;
    one.image_cfg_scale = 1.0;
    const auto plain = pipeline::img2img_latents(lm, [cond](int call) { return cond->at(call); }, init, seeds, r.denoising_strength, one,
                                                 {}, {}, image_latent);
    auto y = init + sampling::ImageRNG(s.noise, seeds, {4, 8, 8}).first() * sig[0];
    for (int64_t i = 0; i + 1 < sig.size(0); ++i) {
        const auto sg = sig[i].reshape({1});
        const auto c = sampling::compvis_denoise(with_image, lm.schedule, lm.prediction, y, sg, g0.cond);
        const auto un = sampling::compvis_denoise(with_image, lm.schedule, lm.prediction, y, sg, g0.uncond);
        y = y + (y - (un + r.cfg_scale * (c - un))) / sig[i] * (sig[i + 1] - sig[i]);
    }
    EXPECT_TRUE(torch::allclose(plain, y, 1e-4, 1e-4)) << (plain - y).abs().max().item<float>();
    EXPECT_GT((plain - got).abs().max().item<float>(), 1e-3);
}

TEST(InstructPix2Pix, EngineRecordsPastesAndRefuses) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto p2p = pix2pix_model();
    if (!p2p) GTEST_SKIP() << "the oracle has no SD 1.x model";
    Engine engine;
    ASSERT_TRUE(engine.load_model({p2p->path, "", test::vocab_path()}, nullptr).ok);
    const Image init = gradient(64, 64);
    GenerateRequest r = edit_request();
    std::vector<GeneratedImage> out, again, plain;
    Status st = engine.img2img(r, init, {}, &out);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_NE(out[0].infotext.find("CFG scale: 7.5, Image CFG scale: 1.5, Seed: 31"), std::string::npos) << out[0].infotext;
    GenerateRequest pasted;
    EXPECT_TRUE(apply_parameters(out[0].infotext, &pasted).empty()) << out[0].infotext;
    EXPECT_DOUBLE_EQ(pasted.image_cfg_scale, 1.5);
    ASSERT_TRUE(engine.img2img(pasted, init, {}, &again).ok);
    EXPECT_EQ(again[0].image.pixels, out[0].image.pixels);
    GenerateRequest one = r;
    one.image_cfg_scale = 1.0;
    ASSERT_TRUE(engine.img2img(one, init, {}, &plain).ok);
    EXPECT_NE(plain[0].image.pixels, out[0].image.pixels);
    EXPECT_NE(plain[0].infotext.find("Image CFG scale: 1.0"), std::string::npos) << plain[0].infotext;
    // NGMS never skips for an edit model with image guidance, so A1111 does not note it; at Image
    // CFG scale 1 it skips as for any model.
    GenerateRequest ngms = r;
    ngms.s_min_uncond = 100;
    std::vector<GeneratedImage> with_ngms;
    ASSERT_TRUE(engine.img2img(ngms, init, {}, &with_ngms).ok);
    EXPECT_EQ(with_ngms[0].image.pixels, out[0].image.pixels);
    EXPECT_EQ(with_ngms[0].infotext.find("NGMS"), std::string::npos) << with_ngms[0].infotext;
    ngms.image_cfg_scale = 1.0;
    ASSERT_TRUE(engine.img2img(ngms, init, {}, &with_ngms).ok);
    EXPECT_NE(with_ngms[0].image.pixels, plain[0].image.pixels);
    EXPECT_NE(with_ngms[0].infotext.find("NGMS: 100.0"), std::string::npos) << with_ngms[0].infotext;

    // Inpainting edits the selected part with the same guidance.
    Image mask;
    mask.width = mask.height = 64;
    mask.channels = 1;
    mask.pixels.assign(64 * 64, 0);
    for (int y = 16; y < 48; ++y)
        for (int x = 16; x < 48; ++x) mask.pixels[static_cast<size_t>(y) * 64 + x] = 255;
    std::vector<GeneratedImage> inpainted;
    st = engine.inpaint(r, init, mask, {}, &inpainted);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_NE(inpainted[0].infotext.find("Image CFG scale: 1.5"), std::string::npos) << inpainted[0].infotext;

    // What A1111 cannot run is one sentence, the engine unharmed.
    std::vector<GeneratedImage> none;
    st = engine.txt2img(r, {}, &none);
    EXPECT_FALSE(st.ok);
    EXPECT_EQ(st.message, "InstructPix2Pix models edit an image; use Image to Image or Inpaint with this model.");
    GenerateRequest with_and = r;
    with_and.prompt = "snow AND rain";
    st = engine.img2img(with_and, init, {}, &none);
    EXPECT_FALSE(st.ok);
    EXPECT_EQ(st.message, "AND is not supported for InstructPix2Pix models unless the Image CFG scale is 1.");
    with_and.image_cfg_scale = 1.0;
    EXPECT_TRUE(engine.img2img(with_and, init, {}, &none).ok);
    GenerateRequest early = r;
    early.skip_early_cond = 0.2;
    EXPECT_FALSE(engine.img2img(early, init, {}, &none).ok);
    ASSERT_TRUE(engine.img2img(r, init, {}, &again).ok);
    EXPECT_EQ(again[0].image.pixels, out[0].image.pixels);
}
