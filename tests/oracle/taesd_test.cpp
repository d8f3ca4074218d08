// A1111's "VAE type for decode / encode: TAESD" and its TAESD live preview: the tiny autoencoder's
// files (torch.save .pth and .safetensors of A1111's nn.Sequential layout) against the stacks
// written out convolution by convolution here; the pipelines decoding with it, starting img2img
// from its latents, noting both in the parameters text where A1111 does and pasting them back;
// wrong and missing files refused with a sentence. No TAESD weights are in the oracle: the tests
// use random ones.
#include <gtest/gtest.h>

#include <clocale>
#include <fstream>
#include <unistd.h>

#include "engine/engine.h"
#include "io/safetensors_writer.h"
#include "models/taesd.h"
#include "pipeline/conditioning.h"
#include "pipeline/generate.h"
#include "pipeline/txt2img.h"
#include "pipeline/sd_model.h"
#include "request.h"
#include "status.h"
#include "support/oracle.h"
#include "support/torch_save_writer.h"
#include "support/vocab.h"
#include "text/infotext.h"
#include "support/error_text.h"

using namespace sdgimp;
namespace F = torch::nn::functional;

namespace {

using Weights = std::vector<std::pair<std::string, torch::Tensor>>;

torch::Tensor he(std::vector<int64_t> shape) {
    const int64_t fan_in = shape[1] * shape[2] * shape[3];
    return torch::randn(shape) * std::sqrt(1.0 / static_cast<double>(fan_in));
}

void add_conv(Weights* w, const std::string& key, int64_t out, int64_t in, bool bias) {
    w->emplace_back(key + ".weight", he({out, in, 3, 3}));
    if (bias) w->emplace_back(key + ".bias", torch::randn({out}) * 0.05);
}

void add_block(Weights* w, int index) {
    for (int c : {0, 2, 4}) add_conv(w, std::to_string(index) + ".conv." + std::to_string(c), 64, 64, true);
}

// The decoder's keys as A1111's decoder() numbers its nn.Sequential: Clamp 0, conv 1, ReLU 2,
// blocks 3-5, Upsample 6, conv 7, blocks 8-10, Upsample 11, conv 12, blocks 13-15, Upsample 16,
// conv 17, block 18, conv 19.
Weights decoder_weights() {
    Weights w;
    add_conv(&w, "1", 64, 4, true);
    for (int b : {3, 4, 5, 8, 9, 10, 13, 14, 15, 18}) add_block(&w, b);
    for (int u : {7, 12, 17}) add_conv(&w, std::to_string(u), 64, 64, false);
    add_conv(&w, "19", 3, 64, true);
    return w;
}

// encoder(): conv 0, block 1, stride-2 conv 2, blocks 3-5, conv 6, blocks 7-9, conv 10, blocks
// 11-13, conv 14.
Weights encoder_weights() {
    Weights w;
    add_conv(&w, "0", 64, 3, true);
    for (int b : {1, 3, 4, 5, 7, 8, 9, 11, 12, 13}) add_block(&w, b);
    for (int d : {2, 6, 10}) add_conv(&w, std::to_string(d), 64, 64, false);
    add_conv(&w, "14", 4, 64, true);
    return w;
}

torch::Tensor get(const Weights& w, const std::string& key) {
    for (const auto& [k, t] : w)
        if (k == key) return t;
    return {};
}

torch::Tensor conv(const Weights& w, const std::string& key, const torch::Tensor& x, int stride = 1) {
    return F::conv2d(x, get(w, key + ".weight"), F::Conv2dFuncOptions().bias(get(w, key + ".bias")).stride(stride).padding(1));
}

torch::Tensor block(const Weights& w, int i, const torch::Tensor& x) {
    const std::string p = std::to_string(i) + ".conv.";
    auto h = torch::relu(conv(w, p + "0", x));
    h = torch::relu(conv(w, p + "2", h));
    return torch::relu(conv(w, p + "4", h) + x);
}

torch::Tensor decoder_by_hand(const Weights& w, const torch::Tensor& z) {
    auto x = torch::relu(conv(w, "1", torch::tanh(z / 3) * 3));
    for (int b : {3, 4, 5}) x = block(w, b, x);
    const int ups[3] = {7, 12, 17};
    const int blocks[3][3] = {{8, 9, 10}, {13, 14, 15}, {18, -1, -1}};
    for (int s = 0; s < 3; ++s) {
        x = x.repeat_interleave(2, 2).repeat_interleave(2, 3);  // nearest x2
        x = conv(w, std::to_string(ups[s]), x);
        for (int b : blocks[s])
            if (b >= 0) x = block(w, b, x);
    }
    return conv(w, "19", x);
}

torch::Tensor encoder_by_hand(const Weights& w, const torch::Tensor& image) {
    auto x = block(w, 1, conv(w, "0", image));
    const int downs[3] = {2, 6, 10};
    const int blocks[3][3] = {{3, 4, 5}, {7, 8, 9}, {11, 12, 13}};
    for (int s = 0; s < 3; ++s) {
        x = conv(w, std::to_string(downs[s]), x, 2);
        for (int b : blocks[s]) x = block(w, b, x);
    }
    return conv(w, "14", x);
}

void write_pth(const std::string& path, const Weights& w) {
    std::ofstream(path, std::ios::binary) << test::TorchSaveWriter().archive(test::Py::state_dict(w));
}

void write_st(const std::string& path, const Weights& w) {
    std::vector<io::FloatTensor> ts;
    for (const auto& [k, t] : w) {
        const auto c = t.contiguous();
        ts.push_back({k, c.sizes().vec(), std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())});
    }
    io::write_safetensors(path, ts);
}

// A VAE-taesd folder with a random decoder (.pth) and encoder (.safetensors), removed at the end.
struct TaesdDir {
    std::string dir;
    Weights dec, enc;
    TaesdDir() {
        char tmpl[] = "/tmp/gd-taesd-XXXXXX";
        dir = ::mkdtemp(tmpl) ? tmpl : "";
        torch::manual_seed(5);
        dec = decoder_weights();
        enc = encoder_weights();
        write_pth(decoder(), dec);
        write_st(encoder(), enc);
    }
    ~TaesdDir() {
        for (const auto& f : test::list_dir(dir)) ::unlink((dir + "/" + f).c_str());
        ::rmdir(dir.c_str());
    }
    std::string decoder() const { return dir + "/taesd_decoder.pth"; }
    std::string encoder() const { return dir + "/taesd_encoder.safetensors"; }
};

using test::error_of;

GenerateRequest small_request() {
    GenerateRequest r;
    r.prompt = "a lighthouse at dusk";
    r.negative_prompt = "blurry";
    r.seed = 11;
    r.subseed = 12;
    r.steps = 6;
    r.width = r.height = 64;
    r.rng = "CPU";
    r.sampler = "Euler";
    r.cfg_scale = 7;
    r.denoising_strength = 0.6;
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
            for (int c = 0; c < 3; ++c) img.pixels[(static_cast<size_t>(y) * w + x) * 3 + c] = static_cast<uint8_t>((x * 3 + y * (c + 2)) % 256);
    return img;
}

}  // namespace

TEST(TaesdFile, HalvesMatchTheStacksWrittenOutByHand) {
    const TaesdDir t;
    const auto dec = models::load_taesd(t.decoder(), true);
    const auto enc = models::load_taesd(t.encoder(), false);
    torch::NoGradGuard ng;
    const auto z = torch::randn({2, 4, 5, 7}) * 2;
    const auto want_image = decoder_by_hand(t.dec, z);
    const auto got_image = models::taesd_decode(dec, z);
    ASSERT_EQ(got_image.sizes(), torch::IntArrayRef({2, 3, 40, 56}));
    // A1111's approximation index 3: the decoder's output * 2 - 1.
    EXPECT_TRUE(torch::allclose(got_image, want_image * 2 - 1, 1e-5, 1e-5)) << (got_image - (want_image * 2 - 1)).abs().max().item<float>();
    const auto image = torch::rand({1, 3, 48, 40});
    const auto got_latent = models::taesd_encode(enc, image);
    const auto want_latent = encoder_by_hand(t.enc, image);
    ASSERT_EQ(got_latent.sizes(), torch::IntArrayRef({1, 4, 6, 5}));
    EXPECT_TRUE(torch::allclose(got_latent, want_latent, 1e-5, 1e-5)) << (got_latent - want_latent).abs().max().item<float>();
    // The Clamp at the decoder's input: latents far outside +-3 all decode alike (tanh saturates).
    const auto big = torch::full({1, 4, 2, 2}, 40.0), bigger = torch::full({1, 4, 2, 2}, 400.0);
    EXPECT_TRUE(torch::equal(models::taesd_decode(dec, big), models::taesd_decode(dec, bigger)));
    EXPECT_FALSE(torch::equal(models::taesd_decode(dec, big), models::taesd_decode(dec, big / 20)));
}

TEST(TaesdFile, RefusesTheOtherHalfAndDamagedFiles) {
    const TaesdDir t;
    std::string why = error_of([&] { models::load_taesd(t.decoder(), false); });
    EXPECT_EQ(why, t.decoder() + ": is not a TAESD encoder (it looks like the other half); use taesd_encoder.pth from github.com/madebyollin/taesd.");
    why = error_of([&] { models::load_taesd(t.encoder(), true); });
    EXPECT_EQ(why, t.encoder() + ": is not a TAESD decoder (it looks like the other half); use taesd_decoder.pth from github.com/madebyollin/taesd.");

    Weights missing = t.dec;
    missing.erase(missing.begin() + 5);  // a block's convolution
    const std::string lacking = t.dir + "/lacking.safetensors";
    write_st(lacking, missing);
    why = error_of([&] { models::load_taesd(lacking, true); });
    EXPECT_EQ(why, lacking + ": is not a TAESD decoder of SD's layout (it lacks " + t.dec[5].first +
                       "); use taesd_decoder.pth from github.com/madebyollin/taesd.");

    Weights xl = t.dec;  // a 16-channel (SD3 / Flux) decoder
    xl[0].second = he({64, 16, 3, 3});
    const std::string wide = t.dir + "/wide.safetensors";
    write_st(wide, xl);
    why = error_of([&] { models::load_taesd(wide, true); });
    EXPECT_EQ(why, wide + ": is not a TAESD decoder; use taesd_decoder.pth from github.com/madebyollin/taesd.");

    const std::string junk = t.dir + "/junk.pth";
    std::ofstream(junk, std::ios::binary) << "not a checkpoint at all";
    why = error_of([&] { models::load_taesd(junk, true); });
    EXPECT_EQ(why.rfind(junk + ": cannot be read as a TAESD decoder (", 0), 0u) << why;
    EXPECT_NE(why.find("); use taesd_decoder.pth from github.com/madebyollin/taesd."), std::string::npos) << why;
}

TEST(TaesdInfotext, NotedWhereA1111NotesThemAndPastedBack) {
    GenerateRequest r = small_request();
    r.vae_encode_method = r.vae_decode_method = "TAESD";
    r.eta_ancestral = 0.5;
    r.sampler = "Euler a";
    r.mask_blur = 4;
    ModelIdentity id;
    text::GenerationInfo g = generation_info(r, id, r.seed, r.subseed, true);
    add_early_info(&g, {{"Mask blur", text::InfoValue::integer(4)}});
    const std::string i2i = text::create_infotext(g);
    // Img2img's init notes the encoder after its mask keys and before anything sampling adds; the
    // decoder is noted last, as the latents are decoded.
    const auto blur = i2i.find("Mask blur: 4"), encoder = i2i.find("VAE Encoder: TAESD"), eta = i2i.find("Eta: 0.5"),
               decoder = i2i.find("VAE Decoder: TAESD");
    ASSERT_NE(encoder, std::string::npos) << i2i;
    ASSERT_NE(decoder, std::string::npos) << i2i;
    EXPECT_LT(blur, encoder) << i2i;
    EXPECT_LT(encoder, eta) << i2i;
    EXPECT_LT(eta, decoder) << i2i;

    // Txt2img notes the encoder only for a hires pass that encodes an upscaled image, after the
    // first pass's keys.
    GenerateRequest hr = r;
    hr.enable_hr = true;
    hr.hr_upscaler = "Lanczos";
    const std::string t2i = text::create_infotext(generation_info(hr, id, hr.seed, hr.subseed, false));
    const auto hr_encoder = t2i.find("VAE Encoder: TAESD");
    ASSERT_NE(hr_encoder, std::string::npos) << t2i;
    EXPECT_LT(t2i.find("Eta: 0.5"), hr_encoder) << t2i;
    EXPECT_LT(hr_encoder, t2i.find("VAE Decoder: TAESD")) << t2i;
    hr.hr_upscaler = "Latent";
    const std::string latent = text::create_infotext(generation_info(hr, id, hr.seed, hr.subseed, false));
    EXPECT_EQ(latent.find("VAE Encoder"), std::string::npos) << latent;
    EXPECT_NE(latent.find("VAE Decoder: TAESD"), std::string::npos) << latent;

    GenerateRequest pasted;
    EXPECT_TRUE(apply_parameters(i2i, &pasted).empty()) << i2i;
    EXPECT_EQ(pasted.vae_encode_method, "TAESD");
    EXPECT_EQ(pasted.vae_decode_method, "TAESD");
    // A text without them was made with the full VAE.
    EXPECT_TRUE(apply_parameters(text::create_infotext(generation_info(small_request(), id, 1, 2, true)), &pasted).empty());
    EXPECT_EQ(pasted.vae_encode_method, "Full");
    EXPECT_EQ(pasted.vae_decode_method, "Full");

    GenerateRequest bad = small_request();
    bad.vae_decode_method = "Approx NN";
    EXPECT_EQ(error_of([&] { validate(bad); }), "The VAE type for encode and decode must be \"Full\" or \"TAESD\", not \"Approx NN\".");
    bad = small_request();
    bad.live_preview_method = "Approx fast";
    EXPECT_EQ(error_of([&] { validate(bad); }),
              "The live preview method must be \"Full\", \"Approx NN\", \"Approx cheap\" or \"TAESD\", not \"Approx fast\".");
}

TEST(TaesdPipeline, Img2imgStartsFromTheEncodersLatent) {
    const auto* mdl = test::plain_sd1_model();
    if (!mdl) GTEST_SKIP() << "the oracle has no SD 1.x model";
    const TaesdDir t;
    const auto m = pipeline::load_sd_model(mdl->checkpoints.front());
    const text::ClipTokenizer tok(test::vocab_path());
    torch::NoGradGuard ng;
    const auto init = torch::linspace(-1, 1, 3 * 64 * 64).reshape({1, 3, 64, 64}).flip(3);
    pipeline::RunHooks hooks;
    hooks.taesd_encoder = models::load_taesd(t.encoder(), false);
    GenerateRequest r = small_request();
    r.vae_encode_method = "TAESD";
    const auto got = pipeline::generate_img2img(*m, tok, r, init, hooks);
    // The same sampling started by hand from TAESD's latent of the [0, 1] image.
    const auto taesd_latent = models::taesd_encode(hooks.taesd_encoder, (init + 1) * 0.5);
    const auto cond = pipeline::encode_run_cached(nullptr, *m, tok, r.prompt, r.negative_prompt, pipeline::schedule_steps(r), 1,
                                                  r.cfg_scale, pipeline::text_settings(r));
    const auto want = pipeline::img2img_latents(m->latent_model(), [cond](int call) { return cond->at(call); }, taesd_latent,
                                                {static_cast<uint64_t>(r.seed)}, r.denoising_strength, pipeline::sampling_settings(r));
    EXPECT_TRUE(torch::allclose(got.latents, want, 1e-5, 1e-5)) << (got.latents - want).abs().max().item<float>();
    // The full VAE's run starts elsewhere.
    GenerateRequest full = r;
    full.vae_encode_method = "Full";
    const auto plain = pipeline::generate_img2img(*m, tok, full, init, {});
    EXPECT_GT((plain.latents - got.latents).abs().max().item<float>(), 1e-2);
    // The scope leaves the model as it found it.
    EXPECT_FALSE(m->taesd_encoder);
    EXPECT_FALSE(m->taesd_decoder);
}

TEST(TaesdEngine, DecodesRecordsPastesAndPreviews) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto* mdl = test::plain_sd1_model();
    if (!mdl) GTEST_SKIP() << "the oracle has no SD 1.x model";
    const TaesdDir t;
    Engine engine;
    ModelRequest mr(mdl->checkpoints.front(), "", test::vocab_path());
    mr.taesd_dirs = {t.dir};
    ASSERT_TRUE(engine.load_model(mr, nullptr).ok);
    GenerateRequest r = small_request();
    r.vae_decode_method = "TAESD";
    RunCallbacks cb;
    cb.keep_latents = true;
    std::vector<GeneratedImage> out, full, again;
    Status st = engine.txt2img(r, cb, &out);
    ASSERT_TRUE(st.ok) << st.message;
    // The image is TAESD's decode of the sampler's latents, through A1111's uint8 conversion.
    const auto latent = torch::from_blob(out[0].latent.data(), out[0].latent_shape, torch::kFloat).unsqueeze(0).clone();
    const auto want = pipeline::to_uint8_images(models::taesd_decode(models::load_taesd(t.decoder(), true), latent))[0].contiguous();
    const auto got = torch::from_blob(out[0].image.pixels.data(), {64, 64, 3}, torch::kUInt8);
    EXPECT_LE((got.to(torch::kInt) - want.to(torch::kInt)).abs().max().item<int>(), 1);
    const std::string& text = out[0].infotext;
    EXPECT_NE(text.find("VAE Decoder: TAESD"), std::string::npos) << text;
    GenerateRequest pasted;
    EXPECT_TRUE(apply_parameters(text, &pasted).empty()) << text;
    EXPECT_EQ(pasted.vae_decode_method, "TAESD");
    ASSERT_TRUE(engine.txt2img(pasted, cb, &again).ok);
    EXPECT_EQ(again[0].image.pixels, out[0].image.pixels);
    GenerateRequest with_vae = r;
    with_vae.vae_decode_method = "Full";
    ASSERT_TRUE(engine.txt2img(with_vae, cb, &full).ok);
    EXPECT_EQ(full[0].latent, out[0].latent);  // the same sampling, another decoder
    EXPECT_NE(full[0].image.pixels, out[0].image.pixels);
    EXPECT_EQ(full[0].infotext.find("VAE Decoder"), std::string::npos);

    // Img2img with TAESD's encoder notes it.
    GenerateRequest i2i = small_request();
    i2i.vae_encode_method = "TAESD";
    st = engine.img2img(i2i, gradient(64, 64), {}, &out);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_NE(out[0].infotext.find("VAE Encoder: TAESD"), std::string::npos) << out[0].infotext;

    // Live previews: the cheap map shows the latent's own size, TAESD's decoder the image's.
    std::vector<int> widths;
    RunCallbacks pcb;
    pcb.preview_every = 2;
    pcb.preview = [&](const Image& img) { widths.push_back(img.width); };
    ASSERT_TRUE(engine.txt2img(small_request(), pcb, &out).ok);
    ASSERT_FALSE(widths.empty());
    EXPECT_EQ(widths.back(), 8);
    widths.clear();
    GenerateRequest previewed = small_request();
    previewed.live_preview_method = "TAESD";
    ASSERT_TRUE(engine.txt2img(previewed, pcb, &out).ok);
    ASSERT_EQ(widths.size(), 3u);
    EXPECT_EQ(widths.back(), 64);
    EXPECT_EQ(out[0].infotext.find("TAESD"), std::string::npos) << out[0].infotext;
}

TEST(TaesdEngine, MissingFilesAreOneSentence) {
    const auto* mdl = test::plain_sd1_model();
    if (!mdl) GTEST_SKIP() << "the oracle has no SD 1.x model";
    char tmpl[] = "/tmp/gd-taesd-empty-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    // Only this empty folder is searched besides the checkpoint's (which holds no TAESD).
    const char* home = std::getenv("HOME");
    const std::string saved_home = home ? home : "";
    ::setenv("HOME", tmpl, 1);
    ::unsetenv("GIMP_DIFFUSION_TAESD_DIR");
    Engine engine;
    ModelRequest mr(mdl->checkpoints.front(), "", test::vocab_path());
    mr.taesd_dirs = {tmpl};
    ASSERT_TRUE(engine.load_model(mr, nullptr).ok);
    GenerateRequest r = small_request();
    r.vae_encode_method = "TAESD";
    std::vector<GeneratedImage> out;
    const Status st = engine.img2img(r, gradient(64, 64), {}, &out);
    EXPECT_FALSE(st.ok);
    EXPECT_EQ(st.message,
              "TAESD needs taesd_encoder.pth (from github.com/madebyollin/taesd) in a VAE-taesd folder beside the checkpoint's folder or "
              "in ~/.local/share/gimp-diffusion/models/VAE-taesd; put it there or set the VAE type and live preview back to Full / Approx cheap.");
    // The engine still runs without it, also with the TAESD preview set where no preview is shown.
    r.vae_encode_method = "Full";
    r.live_preview_method = "TAESD";
    EXPECT_TRUE(engine.img2img(r, gradient(64, 64), {}, &out).ok);
    RunCallbacks shown;
    shown.preview = [](const Image&) {};
    EXPECT_FALSE(engine.img2img(r, gradient(64, 64), shown, &out).ok);
    if (home) ::setenv("HOME", saved_home.c_str(), 1);
    ::rmdir(tmpl);
}
