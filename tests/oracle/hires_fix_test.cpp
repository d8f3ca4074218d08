// A1111's Hires. fix on the oracle's tiny models: the latent upscale modes against values worked
// by hand, the second pass built from the first as A1111's sample_hr_pass builds it (latent and
// image upscalers), sizes with A1111's crop, progress over both passes, cancel, inpainting models,
// and upscalers that are not there refused before any work.
#include <gtest/gtest.h>

#include <clocale>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"
#include "imaging/resample.h"
#include "io/hash_cache.h"
#include "io/mapped_file.h"
#include "io/safetensors_writer.h"
#include "io/model_hash.h"
#include "models/lora.h"
#include "pipeline/conditioning.h"
#include "pipeline/generate.h"
#include "pipeline/hires_fix.h"
#include "pipeline/sd_model.h"
#include "pipeline/upscale.h"
#include "support/oracle.h"
#include "support/checkpoint_variant.h"
#include "support/synthetic_lora.h"
#include "support/tiny_esrgan.h"
#include "support/vocab.h"

using namespace sdgimp;

namespace {

torch::Tensor row(std::vector<float> v) { return torch::tensor(v).view({1, 1, 1, static_cast<int64_t>(v.size())}); }

GenerateRequest small_hires() {
    GenerateRequest r;
    r.prompt = "a red house";
    r.negative_prompt = "blurry";
    r.seed = 11;
    r.subseed = 12;
    r.steps = 4;
    r.width = r.height = 64;
    r.rng = "CPU";
    r.enable_hr = true;
    r.hr_scale = 2;
    r.denoising_strength = 0.5;
    return r;
}

const test::OracleModel* model_with(const std::vector<test::OracleModel>& models, const std::string& part) {
    for (const auto& m : models)
        if (m.name.find(part) != std::string::npos) return &m;
    return nullptr;
}

// The hires pass as A1111's sample_hr_pass runs it, from the pieces: the first pass's latents,
// enlarged by `enlarge`, then img2img at the hires size with the hires schedule's conditioning
// and the same seeds.
torch::Tensor expected_hires(const pipeline::SDModel& m, const text::ClipTokenizer& tok, const GenerateRequest& r,
                             const std::function<torch::Tensor(const torch::Tensor&)>& enlarge) {
    GenerateRequest first = r;
    first.enable_hr = false;
    const auto low = pipeline::generate_txt2img(m, tok, first, {}).latents;
    const auto init = enlarge(low);
    GenerateRequest hr = first;
    if (r.hr_second_pass_steps) hr.steps = r.hr_second_pass_steps;
    if (!r.hr_sampler.empty()) hr.sampler = r.hr_sampler;
    const auto s = pipeline::sampling_settings(hr);
    const auto cond = pipeline::encode_run(m, tok, r.hr_prompt.empty() ? r.prompt : r.hr_prompt, r.negative_prompt,
                                           pipeline::schedule_steps(first), r.batch_size, r.cfg_scale, {},
                                           pipeline::schedule_steps(hr));
    std::vector<uint64_t> seeds;
    sampling::Variation var;
    for (int i = 0; i < r.batch_size; ++i) {
        seeds.push_back(static_cast<uint64_t>(r.seed + i));
        var.subseeds.push_back(static_cast<uint64_t>(r.subseed + i));
    }
    return pipeline::img2img_latents(m.latent_model(), [&](int call) { return cond.at(call); }, init, seeds,
                                     r.denoising_strength, s, {}, var);
}

}  // namespace

// torch's interpolate (align_corners off) as A1111's latent modes call it; values by hand.
TEST(HiresFix, LatentUpscaleModes) {
    const auto x = row({1, 3});
    // Bilinear, 2 → 4 columns: source positions -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped).
    auto y = pipeline::upscale_latents(x, "Latent", 1, 4);
    EXPECT_TRUE(torch::allclose(y, row({1, 1.5, 2.5, 3})));
    y = pipeline::upscale_latents(x, "Latent (nearest)", 1, 4);
    EXPECT_TRUE(torch::equal(y, row({1, 1, 3, 3})));
    // 3 → 5: nearest takes floor(i * 3 / 5) = 0 0 1 1 2, nearest-exact floor((i + 0.5) * 3 / 5) = 0 0 1 2 2.
    const auto z = row({10, 20, 30});
    EXPECT_TRUE(torch::equal(pipeline::upscale_latents(z, "Latent (nearest)", 1, 5), row({10, 10, 20, 20, 30})));
    EXPECT_TRUE(torch::equal(pipeline::upscale_latents(z, "Latent (nearest-exact)", 1, 5), row({10, 10, 20, 30, 30})));
    // A constant stays constant through every mode, at the requested size.
    const auto c = torch::full({2, 4, 3, 5}, 0.25f);
    for (const char* mode : {"Latent", "Latent (antialiased)", "Latent (bicubic)", "Latent (bicubic antialiased)",
                                    "Latent (nearest)", "Latent (nearest-exact)"}) {
        SCOPED_TRACE(mode);
        const auto u = pipeline::upscale_latents(c, mode, 7, 11);
        EXPECT_EQ(u.sizes(), (std::vector<int64_t>{2, 4, 7, 11}));
        EXPECT_TRUE(torch::allclose(u, torch::full_like(u, 0.25f)));
    }
    // Bicubic differs from bilinear on a ramp's ends (its kernel reaches past the neighbours).
    const auto ramp = row({0, 1, 4, 9});
    EXPECT_FALSE(torch::allclose(pipeline::upscale_latents(ramp, "Latent (bicubic)", 1, 8),
                                 pipeline::upscale_latents(ramp, "Latent", 1, 8)));
    EXPECT_THROW(pipeline::upscale_latents(x, "Latent (bogus)", 1, 4), Error);
    // A1111's crop: 3 rows off 10 (1 before, 2 after), 1 column off 6 (0 before, 1 after).
    const auto t = torch::arange(60).view({1, 1, 10, 6});
    const auto cut = pipeline::truncate_latents(t, 1, 3);
    EXPECT_EQ(cut.sizes(), (std::vector<int64_t>{1, 1, 7, 5}));
    EXPECT_EQ(cut[0][0][0][0].item<int64_t>(), 6);  // row 1, column 0
}

TEST(HiresFix, SecondPassIsA1111sImg2ImgOfTheEnlargedFirstPass) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    text::ClipTokenizer tok(test::vocab_path());
    const auto m = pipeline::load_sd_model(models.front().checkpoints.front());
    GenerateRequest r = small_hires();
    r.batch_size = 2;
    // A1111 counts a hires pass's edits from 1.0: (1.25 - 1) * 6 = 1.5, so the model calls 0 and 1
    // of the hires pass see "red", the last two of its four "blue" (the first pass sees "red").
    r.prompt = "a [red:blue:1.25] house";
    r.hr_second_pass_steps = 6;
    int done = 0, total = 0;
    pipeline::RunHooks hooks;
    hooks.progress = [&](int d, int t) { done = d; total = t; };
    const auto got = pipeline::generate_txt2img(*m, tok, r, hooks);
    ASSERT_EQ(got.images.sizes(), (std::vector<int64_t>{2, 128, 128, 3}));
    const auto want = expected_hires(*m, tok, r, [](const torch::Tensor& low) { return pipeline::upscale_latents(low, "Latent", 16, 16); });
    EXPECT_TRUE(torch::allclose(got.latents, want, 1e-5, 1e-5)) << (got.latents - want).abs().max().item<float>();
    // 4 first-pass steps, then t_enc = int(0.5 * 6) = 3 with A1111's t_enc + 1 sigma steps.
    EXPECT_EQ(done, 8);
    EXPECT_EQ(total, 8);
    // The prompt edit matters: without it the hires pass differs.
    GenerateRequest plain = r;
    plain.prompt = "a red house";
    EXPECT_FALSE(torch::allclose(pipeline::generate_txt2img(*m, tok, plain, {}).latents, got.latents, 1e-4, 1e-4));

    // An image upscaler: the first pass decoded to 8-bit, enlarged, encoded again (posterior noise
    // zero here), then the same img2img.
    r.prompt = "a red house";
    r.batch_size = 1;
    r.hr_upscaler = "Lanczos";
    r.hr_sampler = "DPM++ 2M";
    hooks = {};
    hooks.vae_noise = [](const torch::Tensor& mean) { return torch::zeros_like(mean); };
    const auto img = pipeline::generate_txt2img(*m, tok, r, hooks);
    const auto want_img = expected_hires(*m, tok, r, [&](const torch::Tensor& low) {
        const auto u8 = pipeline::to_uint8_images(m->decode_first_stage(low)).contiguous();
        Image small{64, 64, 3, std::vector<uint8_t>(u8.data_ptr<uint8_t>(), u8.data_ptr<uint8_t>() + u8.numel())};
        const Image big = imaging::resize(small, 128, 128, imaging::Filter::kLanczos);
        auto x = torch::from_blob(const_cast<uint8_t*>(big.pixels.data()), {128, 128, 3}, torch::kUInt8)
                     .permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat) / 255.0;
        return m->cfg.scale_factor * m->encode_posterior(x * 2 - 1).first;
    });
    EXPECT_TRUE(torch::allclose(img.latents, want_img, 1e-5, 1e-5)) << (img.latents - want_img).abs().max().item<float>();
}

TEST(HiresFix, EngineSizesProgressTextAndCancel) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    Engine engine;
    ASSERT_TRUE(engine.load_model({models.front().checkpoints.front(), "", test::vocab_path()}, nullptr).ok);
    GenerateRequest r = small_hires();
    int done = 0, total = 0;
    RunCallbacks cb;
    cb.progress = [&](int d, int t) { done = d; total = t; };
    cb.keep_latents = true;
    std::vector<GeneratedImage> out;
    Status st = engine.txt2img(r, cb, &out);
    ASSERT_TRUE(st.ok) << st.message;
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].image.width, 128);
    EXPECT_EQ(out[0].image.height, 128);
    EXPECT_EQ(out[0].latent_shape, (std::vector<int64_t>{4, 16, 16}));
    EXPECT_EQ(done, 4 + 3);
    EXPECT_EQ(total, 7);
    // A1111's record: the first pass's size, then the hires keys.
    EXPECT_NE(out[0].infotext.find("Size: 64x64"), std::string::npos) << out[0].infotext;
    EXPECT_NE(out[0].infotext.find("Denoising strength: 0.5, RNG: CPU, Hires upscale: 2, Hires upscaler: Latent, Version"),
              std::string::npos)
        << out[0].infotext;
    // Pasting that text back gives the same image (latent upscaling draws no unseeded noise).
    GenerateRequest pasted;
    apply_parameters(out[0].infotext, &pasted);
    std::vector<GeneratedImage> again;
    ASSERT_TRUE(engine.txt2img(pasted, {}, &again).ok);
    EXPECT_EQ(again[0].image.pixels, out[0].image.pixels);

    // Both resize sides: enlarged to cover 128x96 in the first pass's shape, 4 latent rows cut.
    r.hr_resize_x = 128;
    r.hr_resize_y = 96;
    r.hr_upscaler = "Latent (nearest-exact)";
    ASSERT_TRUE(engine.txt2img(r, {}, &out).ok);
    EXPECT_EQ(out[0].image.width, 128);
    EXPECT_EQ(out[0].image.height, 96);
    EXPECT_NE(out[0].infotext.find("Hires resize: 128x96"), std::string::npos) << out[0].infotext;

    // Cancel in the second pass: nothing comes back.
    r = small_hires();
    cb = {};
    cb.progress = [&](int d, int) { done = d; };
    cb.cancelled = [&] { return done >= 5; };
    out.clear();
    st = engine.txt2img(r, cb, &out);
    EXPECT_FALSE(st.ok);
    EXPECT_EQ(st.code, ErrorCode::kCancelled);
    EXPECT_TRUE(out.empty());

    // An upscaler that is not here: one sentence before any step.
    r.hr_upscaler = "R-ESRGAN 4x+";
    done = 0;
    cb = {};
    cb.progress = [&](int d, int) { done = d; };
    st = engine.txt2img(r, cb, &out);
    EXPECT_FALSE(st.ok);
    EXPECT_NE(st.message.find("The upscaler \"R-ESRGAN 4x+\" was not found: put its .pth file in"), std::string::npos) << st.message;
    EXPECT_EQ(done, 0);
    r.hr_upscaler = "SwinIR 4x";  // A1111's built-in name: where its file goes
    st = engine.txt2img(r, cb, &out);
    EXPECT_NE(st.message.find("The upscaler \"SwinIR 4x\" was not found: put its file (SwinIR's 003_realSR_BSRGAN_DFOWMFC_s64w8_SwinIR-L_x4_GAN.pth"),
              std::string::npos) << st.message;
    EXPECT_EQ(done, 0);
    r.hr_upscaler = "DAT x4";  // likewise A1111's DAT downloads
    st = engine.txt2img(r, cb, &out);
    EXPECT_NE(st.message.find("put its file (DAT_x4.pth from the DAT release) in a DAT folder"), std::string::npos) << st.message;
    r.hr_upscaler = "LDSR";
    st = engine.txt2img(r, cb, &out);
    EXPECT_EQ(st.code, ErrorCode::kModelNotFound);
    EXPECT_NE(st.message.find("The upscaler \"LDSR\" was not found: put its model.ckpt (and project.yaml) in an LDSR folder"), std::string::npos) << st.message;
    EXPECT_EQ(done, 0);
    r.hr_upscaler = "/nowhere/4x-UltraSharp.pth";
    st = engine.txt2img(r, cb, &out);
    EXPECT_NE(st.message.find("cannot be read"), std::string::npos) << st.message;
    EXPECT_EQ(done, 0);
    // "None" and "Nearest" need no model file.
    for (const std::string up : {"None", "Nearest"}) {
        r.hr_upscaler = up;
        st = engine.txt2img(r, {}, &out);
        ASSERT_TRUE(st.ok) << up << ": " << st.message;
        EXPECT_EQ(out[0].image.width, 128);
    }
}

// A 9-channel inpainting model: its image conditioning is built at the hires size (in latent and
// image modes, with a partial mask strength that gives each image its own).
TEST(HiresFix, InpaintingModel) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    const auto* mdl = model_with(models, "inpaint");
    if (!mdl) GTEST_SKIP() << "the oracle has no inpainting model";
    Engine engine;
    ASSERT_TRUE(engine.load_model({mdl->checkpoints.front(), "", test::vocab_path()}, nullptr).ok);
    GenerateRequest r = small_hires();
    std::vector<GeneratedImage> out;
    Status st = engine.txt2img(r, {}, &out);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_EQ(out[0].image.width, 128);
    r.hr_upscaler = "Lanczos";
    r.inpainting_mask_weight = 0.5;
    r.batch_size = 2;
    st = engine.txt2img(r, {}, &out);
    ASSERT_TRUE(st.ok) << st.message;
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[1].image.height, 128);
    EXPECT_NE(out[0].image.pixels, out[1].image.pixels);
}

// Hires sizes need not be multiples of 8 (int(520 * 1.3) = 676); the tiled VAE encoder takes them
// too, giving the untiled encoder's latent size (floor(n / 8)) and values close to it.
TEST(HiresFix, TiledEncoderTakesAnySize) {
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    auto m = pipeline::load_sd_model(models.front().checkpoints.front());
    torch::manual_seed(4);
    const auto x = torch::rand({1, 3, 100, 84}) * 2 - 1;
    const auto whole = m->encode_posterior(x).first;
    ASSERT_EQ(whole.sizes(), (std::vector<int64_t>{1, 4, 12, 10}));
    m->vae_tiling.tile = 8;
    m->vae_tiling.overlap = 2;
    m->vae_tiling.min_area = 16;
    ASSERT_TRUE(m->vae_tiling.applies(12, 10));
    const auto tiled = m->encode_posterior(x).first;
    ASSERT_EQ(tiled.sizes(), whole.sizes());
    EXPECT_LT((tiled - whole).abs().max().item<float>(), 0.5 * whole.abs().max().item<float>());
}

// A1111's resize_image with an upscaler: any enlargement (its passes repeat), exactly the size asked.
TEST(HiresFix, ResizeWithUpscalerReachesAnySize) {
    pipeline::Upscalers ups;
    const Image small{8, 8, 3, std::vector<uint8_t>(192, 100)};
    for (const std::string name : {"None", "Lanczos", "Nearest"}) {
        const Image big = pipeline::resize_with_upscaler(ups, small, name, 100, 90);  // 12.5x: more than one model pass
        EXPECT_EQ(big.width, 100) << name;
        EXPECT_EQ(big.height, 90) << name;
        EXPECT_EQ(big.pixels[static_cast<size_t>(50 * 100 + 50) * 3], 100) << name;  // a flat image stays flat
    }
    EXPECT_THROW(pipeline::resize_with_upscaler(ups, small, "Bogus", 16, 16), Error);
}

// An upscaler named as A1111 names it ("Hires upscaler: 4x-tiny" for ESRGAN/4x-tiny.pth) is found in
// the model folders' ESRGAN folder and runs between the passes; the record keeps its name.
TEST(HiresFix, UpscalerFoundByItsA1111Name) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    char tmpl[] = "/tmp/gd-hires-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = std::string(tmpl) + "/ESRGAN", file = dir + "/4x-tiny.safetensors";
    ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
    test::write_shapes(file, test::small_rrdbnet());
    Engine engine;
    ModelRequest mr(models.front().checkpoints.front(), "", test::vocab_path());
    mr.upscaler_dirs = {dir};
    ASSERT_TRUE(engine.load_model(mr, nullptr).ok);
    GenerateRequest r = small_hires();
    r.hr_upscaler = "4x-tiny";
    std::vector<GeneratedImage> out;
    const Status st = engine.txt2img(r, {}, &out);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_EQ(out[0].image.width, 128);
    EXPECT_NE(out[0].infotext.find("Hires upscaler: 4x-tiny"), std::string::npos) << out[0].infotext;
    // The Upscale tool takes the name too.
    Image up;
    ASSERT_TRUE(engine.upscale(out[0].image, "4x-tiny", 2.0, {}, &up).ok);
    EXPECT_EQ(up.width, 256);
    ::unlink(file.c_str());
    ::rmdir(dir.c_str());
    ::rmdir(tmpl);
}


// A1111's "Hires checkpoint": the first pass on one model, the second (upscaled image's encoding,
// hires prompts, sampling, decoding) on another.
TEST(HiresFix, SecondPassOnAnotherCheckpoint) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    char tmpl[] = "/tmp/gd-hires-ckpt-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    const auto& mdl = models.front();
    const std::string a = test::write_variant(mdl, dir, "first", 1.0f), b = test::write_variant(mdl, dir, "second", 1.05f);
    text::ClipTokenizer tok(test::vocab_path());
    const auto ma = pipeline::load_sd_model(a), mb = pipeline::load_sd_model(b);

    // The pipeline: first-pass latents from A, enlarged, then B's img2img (B's encoding of the hires prompt).
    GenerateRequest r = small_hires();
    pipeline::RunHooks hooks;
    hooks.hires_model = mb.get();
    const auto got = pipeline::generate_txt2img(*ma, tok, r, hooks);
    GenerateRequest first = r;
    first.enable_hr = false;
    const auto low = pipeline::generate_txt2img(*ma, tok, first, {}).latents;
    const auto want = expected_hires(*mb, tok, r, [&](const torch::Tensor&) { return pipeline::upscale_latents(low, "Latent", 16, 16); });
    EXPECT_TRUE(torch::allclose(got.latents, want, 1e-5, 1e-5)) << (got.latents - want).abs().max().item<float>();
    const auto decoded = pipeline::to_uint8_images(mb->decode_first_stage(want));
    EXPECT_LE((got.images.to(torch::kInt) - decoded.to(torch::kInt)).abs().max().item<int>(), 1);
    // B really differs from A.
    const auto same = pipeline::generate_txt2img(*ma, tok, r, {});
    EXPECT_FALSE(torch::allclose(same.latents, got.latents, 1e-4, 1e-4));

    // The engine: found by name beside the model, recorded as A1111's short title, pasted back.
    Engine engine;
    ASSERT_TRUE(engine.load_model({a, "", test::vocab_path()}, nullptr).ok);
    r.hr_checkpoint = "second";
    RunCallbacks cb;
    cb.keep_latents = true;
    std::vector<GeneratedImage> out;
    Status st = engine.txt2img(r, cb, &out);
    ASSERT_TRUE(st.ok) << st.message;
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].image.width, 128);
    const auto hash = io::cached_sha256(*io::MappedFile::open(b)).substr(0, 10);
    EXPECT_NE(out[0].infotext.find("Hires upscale: 2, Hires checkpoint: second [" + hash + "], Hires upscaler: Latent"), std::string::npos)
        << out[0].infotext;
    const auto gl = torch::from_blob(out[0].latent.data(), {1, 4, 16, 16}).clone();
    EXPECT_TRUE(torch::allclose(gl, want, 1e-5, 1e-5));
    GenerateRequest pasted;
    EXPECT_TRUE(apply_parameters(out[0].infotext, &pasted).empty());
    EXPECT_EQ(pasted.hr_checkpoint, "second [" + hash + "]");
    std::vector<GeneratedImage> again;
    ASSERT_TRUE(engine.txt2img(pasted, {}, &again).ok);
    EXPECT_EQ(again[0].image.pixels, out[0].image.pixels);
    // The model's own checkpoint (or A1111's "same" marker) runs as without one; a named one is recorded.
    r.hr_checkpoint = a;
    ASSERT_TRUE(engine.txt2img(r, {}, &again).ok);
    std::vector<GeneratedImage> plain;
    GenerateRequest no_ckpt = r;
    no_ckpt.hr_checkpoint = "Use same checkpoint";
    ASSERT_TRUE(engine.txt2img(no_ckpt, {}, &plain).ok);
    EXPECT_EQ(again[0].image.pixels, plain[0].image.pixels);
    EXPECT_NE(again[0].infotext.find("Hires checkpoint: first ["), std::string::npos);
    EXPECT_EQ(plain[0].infotext.find("Hires checkpoint"), std::string::npos);

    // Refused before any step: a name that is not there, a LoRA that is not there (in either
    // prompt), a model of another family.
    int done = 0;
    cb = {};
    cb.progress = [&](int d, int) { done = d; };
    r.hr_checkpoint = "missing [0000000000]";
    st = engine.txt2img(r, cb, &out);
    EXPECT_FALSE(st.ok);
    EXPECT_NE(st.message.find("The hires checkpoint \"missing [0000000000]\" was not found: put missing.safetensors beside first"),
              std::string::npos) << st.message;
    r.hr_checkpoint = "second";
    r.prompt = "a <lora:x:1> house";
    st = engine.txt2img(r, cb, &out);
    EXPECT_NE(st.message.find("The LoRA \"x\" was not found"), std::string::npos) << st.message;
    r.prompt = "a red house";
    r.hr_prompt = "a red house <lyco:y:0.5>";
    st = engine.txt2img(r, cb, &out);
    EXPECT_NE(st.message.find("The LoRA \"y\" was not found"), std::string::npos) << st.message;
    r.hr_prompt = "";
    for (const auto& other : models) {
        if (other.name == mdl.name) continue;
        const auto probe = pipeline::load_sd_model(other.checkpoints.front());
        if (probe->cfg.text.kind == ma->cfg.text.kind && probe->cfg.text.width == ma->cfg.text.width) continue;
        r.hr_checkpoint = other.checkpoints.front();
        st = engine.txt2img(r, cb, &out);
        EXPECT_NE(st.message.find("choose a hires checkpoint of the same family"), std::string::npos) << st.message;
        break;
    }
    EXPECT_EQ(done, 0);
    for (const char* f : {"first.safetensors", "first.yaml", "first.json", "second.safetensors", "second.yaml", "second.json"})
        ::unlink((dir + "/" + f).c_str());
    ::rmdir(dir.c_str());
}

// <lora:...> networks with a Hires checkpoint, as A1111 activates them: the prompt's on the first
// model, the hires prompt's (the prompt's when it has none) on the second; "Lora hashes" keeps the
// first pass's networks and adds the hires pass's (A1111 1.10).
TEST(HiresFix, LorasOnBothCheckpoints) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    char tmpl[] = "/tmp/gd-hires-lora-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl, lora_dir = dir + "/Lora";
    ASSERT_EQ(::mkdir(lora_dir.c_str(), 0700), 0);
    const auto& mdl = models.front();
    const std::string a = test::write_variant(mdl, dir, "first", 1.0f), b = test::write_variant(mdl, dir, "second", 1.05f);
    text::ClipTokenizer tok(test::vocab_path());
    const auto ma = pipeline::load_sd_model(a), mb = pipeline::load_sd_model(b);
    const bool sd2 = ma->cfg.text.kind == TextEncoderKind::kOpenCLIP;
    auto lora = test::synthetic_lora(*ma).tensors;
    io::write_safetensors(lora_dir + "/detail.safetensors", lora);
    for (auto& t : lora)
        for (auto& v : t.values) v *= -0.5f;
    io::write_safetensors(lora_dir + "/other.safetensors", lora);
    auto addnet_hash = [](const std::string& path) { return io::addnet_hash(*io::MappedFile::open(path)).value_or("").substr(0, 12); };
    const std::string detail_hash = addnet_hash(lora_dir + "/detail.safetensors"), other_hash = addnet_hash(lora_dir + "/other.safetensors");
    ASSERT_NE(detail_hash, other_hash);

    // The references: the models with the network merged by hand.
    models::LoraCall call;
    call.name = "detail";
    call.path = lora_dir + "/detail.safetensors";
    call.te = call.unet = 20;
    const auto ma_l = pipeline::load_sd_model(a), mb_l = pipeline::load_sd_model(b);
    models::LoraWeights wa, wb;
    wa.apply(ma_l->net, {call}, sd2);
    wb.apply(mb_l->net, {call}, sd2);
    const GenerateRequest r = small_hires();
    auto expect = [&](const pipeline::SDModel& first_model, const pipeline::SDModel& second_model) {
        GenerateRequest first = r;
        first.enable_hr = false;
        const auto low = pipeline::generate_txt2img(first_model, tok, first, {}).latents;
        return expected_hires(second_model, tok, r, [&](const torch::Tensor&) { return pipeline::upscale_latents(low, "Latent", 16, 16); });
    };

    Engine engine;
    ModelRequest mr(a, "", test::vocab_path());
    mr.lora_dirs = {lora_dir};
    ASSERT_TRUE(engine.load_model(mr, nullptr).ok);
    int done = 0;
    RunCallbacks cb;
    cb.keep_latents = true;
    cb.progress = [&](int d, int) { done = d; };
    auto run = [&](const std::string& checkpoint, const std::string& prompt, const std::string& hr_prompt, std::string* text) {
        GenerateRequest q = r;
        q.hr_checkpoint = checkpoint;
        q.prompt = prompt;
        q.hr_prompt = hr_prompt;
        std::vector<GeneratedImage> out;
        done = 0;
        const Status st = engine.txt2img(q, cb, &out);
        *text = st.ok ? out[0].infotext : st.message;
        if (!st.ok) return torch::Tensor();
        return torch::from_blob(out[0].latent.data(), {1, 4, 16, 16}).clone();
    };
    auto close = [](const torch::Tensor& got, const torch::Tensor& want) {
        return got.defined() && torch::allclose(got, want, 1e-5, 1e-5);
    };
    const std::string tag = " <lora:detail:20>";
    const std::string detail_record = "Lora hashes: \"detail: " + detail_hash + "\"";
    std::string text;
    // The prompt's network on both models.
    EXPECT_TRUE(close(run("second", r.prompt + tag, "", &text), expect(*ma_l, *mb_l))) << text;
    EXPECT_NE(text.find(detail_record), std::string::npos) << text;
    // In the hires prompt only: the second model's.
    EXPECT_TRUE(close(run("second", r.prompt, r.prompt + tag, &text), expect(*ma, *mb_l))) << text;
    EXPECT_NE(text.find(detail_record), std::string::npos) << text;
    // In the prompt, not in the hires prompt: the first model's, and the first pass's record stays.
    EXPECT_TRUE(close(run("second", r.prompt + tag, r.prompt, &text), expect(*ma_l, *mb))) << text;
    EXPECT_NE(text.find(detail_record), std::string::npos) << text;
    // No tags: both models as loaded again.
    const auto plain = expect(*ma, *mb);
    EXPECT_FALSE(close(plain, expect(*ma_l, *mb)));
    EXPECT_TRUE(close(run("second", r.prompt, "", &text), plain)) << text;
    EXPECT_EQ(text.find("Lora hashes"), std::string::npos) << text;

    // One model, other networks in the hires prompt: both passes' networks are recorded.
    EXPECT_TRUE(run("", r.prompt + " <lora:detail:1>", r.prompt + " <lora:other:1>", &text).defined()) << text;
    EXPECT_NE(text.find("Lora hashes: \"detail: " + detail_hash + ", other: " + other_hash + "\""), std::string::npos) << text;
    // A hires prompt's LoRA that is not there is refused before the first pass, with either model.
    for (const std::string checkpoint : {"", "second"}) {
        EXPECT_FALSE(run(checkpoint, r.prompt + tag, r.prompt + " <lora:nowhere:1>", &text).defined());
        EXPECT_NE(text.find("The LoRA \"nowhere\" was not found"), std::string::npos) << text;
        EXPECT_EQ(done, 0) << checkpoint;
    }
    EXPECT_TRUE(close(run("second", r.prompt, "", &text), plain)) << text;

    for (const char* f : {"first.safetensors", "first.yaml", "first.json", "second.safetensors", "second.yaml", "second.json"})
        ::unlink((dir + "/" + f).c_str());
    ::unlink((lora_dir + "/detail.safetensors").c_str());
    ::unlink((lora_dir + "/other.safetensors").c_str());
    ::rmdir(lora_dir.c_str());
    ::rmdir(dir.c_str());
}
