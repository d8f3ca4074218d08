// A1111's "Live preview display" methods besides Approx cheap and TAESD: "Full" (the VAE itself,
// whatever the decode method) and "Approx NN" (its VAE-approx network, models/VAE-approx/model.pt,
// read from a torch.save .pth). No VAE-approx weights are in the oracle: the tests use random ones
// and check the network against its convolutions written out here, and the engine's previews
// against the decodes of the run's own latents.
#include <gtest/gtest.h>

#include <fstream>
#include <unistd.h>

#include "engine/engine.h"
#include "models/vae_approx.h"
#include "pipeline/generate.h"
#include "request.h"
#include "status.h"
#include "support/oracle.h"
#include "support/torch_save_writer.h"
#include "support/vocab.h"
#include "support/error_text.h"

using namespace sdgimp;
namespace F = torch::nn::functional;

namespace {

using Weights = std::vector<std::pair<std::string, torch::Tensor>>;

const int64_t kShapes[8][3] = {{4, 8, 7}, {8, 16, 5}, {16, 32, 3}, {32, 64, 3}, {64, 32, 3}, {32, 16, 3}, {16, 8, 3}, {8, 3, 3}};

Weights approx_weights(int64_t latent_channels = 4) {
    Weights w;
    for (int i = 0; i < 8; ++i) {
        const int64_t in = i == 0 ? latent_channels : kShapes[i][0], out = kShapes[i][1], k = kShapes[i][2];
        w.emplace_back("conv" + std::to_string(i + 1) + ".weight", torch::randn({out, in, k, k}) * std::sqrt(2.0 / static_cast<double>(in * k * k)));
        w.emplace_back("conv" + std::to_string(i + 1) + ".bias", torch::randn({out}) * 0.05);
    }
    return w;
}

// A1111's VAEApprox.forward: nearest x2, zero padding of 11, then each convolution and leaky ReLU.
torch::Tensor approx_by_hand(const Weights& w, const torch::Tensor& z) {
    auto x = F::pad(z.repeat_interleave(2, 2).repeat_interleave(2, 3), F::PadFuncOptions({11, 11, 11, 11}));
    for (int i = 0; i < 8; ++i)
        x = F::leaky_relu(F::conv2d(x, w[2 * i].second, F::Conv2dFuncOptions().bias(w[2 * i + 1].second)),
                          F::LeakyReLUFuncOptions().negative_slope(0.1));
    return x;
}

// A folder holding a random model.pt, removed at the end.
struct ApproxDir {
    std::string dir;
    Weights w;
    explicit ApproxDir(bool with_file = true) {
        char tmpl[] = "/tmp/gd-vae-approx-XXXXXX";
        dir = ::mkdtemp(tmpl) ? tmpl : "";
        torch::manual_seed(9);
        w = approx_weights();
        if (with_file) std::ofstream(file(), std::ios::binary) << test::TorchSaveWriter().archive(test::Py::state_dict(w));
    }
    ~ApproxDir() {
        ::unlink(file().c_str());
        ::rmdir(dir.c_str());
    }
    std::string file() const { return dir + "/model.pt"; }
};

using test::error_of;

GenerateRequest small_request() {
    GenerateRequest r;
    r.prompt = "a lighthouse at dusk";
    r.negative_prompt = "blurry";
    r.seed = 11;
    r.steps = 6;
    r.width = r.height = 64;
    r.rng = "CPU";
    r.sampler = "Euler";
    r.cfg_scale = 7;
    return r;
}

torch::Tensor pixels(const Image& img) {
    return torch::from_blob(const_cast<uint8_t*>(img.pixels.data()), {img.height, img.width, img.channels}, torch::kUInt8).to(torch::kInt);
}

// The engine's preview conversion: [0, 1] truncated to uint8, as A1111's astype(np.uint8).
torch::Tensor as_preview(const torch::Tensor& rgb01) { return (rgb01 * 255).to(torch::kUInt8).permute({1, 2, 0}).to(torch::kInt); }

}  // namespace

TEST(VaeApproxFile, MatchesTheNetworkWrittenOutByHand) {
    const ApproxDir d;
    auto net = models::load_vae_approx(d.file());
    torch::NoGradGuard ng;
    const auto z = torch::randn({2, 4, 6, 9});
    const auto got = net->forward(z);
    ASSERT_EQ(got.sizes(), torch::IntArrayRef({2, 3, 12, 18}));
    EXPECT_TRUE(torch::allclose(got, approx_by_hand(d.w, z), 1e-4, 1e-5));
    // The preview of one latent: x * 0.5 + 0.5 in [0, 1].
    const auto preview = models::vae_approx_preview(net, z[1]);
    EXPECT_TRUE(torch::allclose(preview, (approx_by_hand(d.w, z.slice(0, 1, 2))[0] * 0.5 + 0.5).clamp(0, 1), 1e-4, 1e-5));
}

TEST(VaeApproxFile, RefusesOtherFilesWithASentence) {
    char tmpl[] = "/tmp/gd-vae-approx-bad-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    const std::string fix = "; use models/VAE-approx/model.pt from AUTOMATIC1111's stable-diffusion-webui.";
    // SDXL's approximation takes the same 4 channels; a 16-channel latent's does not fit.
    torch::manual_seed(3);
    const std::string wide = dir + "/wide.pt";
    std::ofstream(wide, std::ios::binary) << test::TorchSaveWriter().archive(test::Py::state_dict(approx_weights(16)));
    EXPECT_EQ(error_of([&] { models::load_vae_approx(wide); }), wide + ": is not a VAE-approx model for 4-channel latents" + fix);
    // A missing layer is named.
    Weights w = approx_weights();
    w.erase(w.begin() + 14, w.end());
    const std::string short_file = dir + "/short.pt";
    std::ofstream(short_file, std::ios::binary) << test::TorchSaveWriter().archive(test::Py::state_dict(w));
    EXPECT_EQ(error_of([&] { models::load_vae_approx(short_file); }),
              short_file + ": is not a VAE-approx model of A1111's layout (it lacks conv8.weight)" + fix);
    // Text is not a checkpoint.
    const std::string text = dir + "/text.pt";
    std::ofstream(text) << "not a model";
    const std::string why = error_of([&] { models::load_vae_approx(text); });
    EXPECT_EQ(why.rfind(text + ": cannot be read as a VAE-approx model (", 0), 0u) << why;
    for (const auto& f : {wide, short_file, text}) ::unlink(f.c_str());
    ::rmdir(tmpl);
}

TEST(LivePreviewMethods, AreTheFourOfA1111) {
    for (const char* m : {"Full", "Approx NN", "Approx cheap", "TAESD"}) {
        GenerateRequest r = small_request();
        r.live_preview_method = m;
        EXPECT_EQ(error_of([&] { validate(r); }), "") << m;
    }
    GenerateRequest bad = small_request();
    bad.live_preview_method = "Approx fast";
    EXPECT_EQ(error_of([&] { validate(bad); }),
              "The live preview method must be \"Full\", \"Approx NN\", \"Approx cheap\" or \"TAESD\", not \"Approx fast\".");
}

TEST(LivePreviewEngine, FullAndApproxNNShowTheRunsLatents) {
    const auto* mdl = test::plain_sd1_model();
    if (!mdl) GTEST_SKIP() << "the oracle has no SD 1.x model";
    const ApproxDir d;
    Engine engine;
    ModelRequest mr(mdl->checkpoints.front(), "", test::vocab_path());
    mr.vae_approx_dirs = {d.dir};
    ASSERT_TRUE(engine.load_model(mr, nullptr).ok);
    std::vector<Image> previews;
    RunCallbacks cb;
    cb.keep_latents = true;
    cb.preview_every = 2;
    cb.preview = [&](const Image& img) { previews.push_back(img); };
    std::vector<GeneratedImage> plain, out;
    ASSERT_TRUE(engine.txt2img(small_request(), cb, &plain).ok);
    ASSERT_EQ(previews.size(), 3u);
    EXPECT_EQ(previews.back().width, 8);  // Approx cheap: the latent's size

    // Full: the VAE's image of Euler's last denoised latent, which is the result's latent up to
    // rounding, so the last preview is the result within a level or two.
    previews.clear();
    GenerateRequest full = small_request();
    full.live_preview_method = "Full";
    Status st = engine.txt2img(full, cb, &out);
    ASSERT_TRUE(st.ok) << st.message;
    ASSERT_EQ(previews.size(), 3u);
    ASSERT_EQ(previews.back().width, 64);
    EXPECT_EQ(out[0].image.pixels, plain[0].image.pixels);  // the preview changes nothing
    EXPECT_LE((pixels(previews.back()) - pixels(out[0].image)).abs().max().item<int>(), 2);
    EXPECT_GT((pixels(previews.front()) - pixels(out[0].image)).abs().max().item<int>(), 2);  // an earlier step's image

    // Approx NN: the network's image of that latent, at twice the latent's size.
    previews.clear();
    GenerateRequest nn = small_request();
    nn.live_preview_method = "Approx NN";
    st = engine.txt2img(nn, cb, &out);
    ASSERT_TRUE(st.ok) << st.message;
    ASSERT_EQ(previews.size(), 3u);
    ASSERT_EQ(previews.back().width, 16);
    ASSERT_EQ(previews.back().height, 16);
    EXPECT_EQ(out[0].image.pixels, plain[0].image.pixels);
    const auto latent = torch::from_blob(out[0].latent.data(), out[0].latent_shape, torch::kFloat).clone();
    const auto want = as_preview(models::vae_approx_preview(models::load_vae_approx(d.file()), latent));
    EXPECT_LE((pixels(previews.back()) - want).abs().max().item<int>(), 2);
    EXPECT_EQ(out[0].infotext, plain[0].infotext);  // previews are not recorded
}

TEST(LivePreviewEngine, MissingApproxFileIsOneSentenceOnlyWhereShown) {
    const auto* mdl = test::plain_sd1_model();
    if (!mdl) GTEST_SKIP() << "the oracle has no SD 1.x model";
    const ApproxDir empty(false);
    // Only this empty folder is searched besides the checkpoint's (which holds no VAE-approx).
    const char* home = std::getenv("HOME");
    const std::string saved_home = home ? home : "";
    ::setenv("HOME", empty.dir.c_str(), 1);
    ::unsetenv("GIMP_DIFFUSION_VAE_APPROX_DIR");
    Engine engine;
    ModelRequest mr(mdl->checkpoints.front(), "", test::vocab_path());
    mr.vae_approx_dirs = {empty.dir};
    ASSERT_TRUE(engine.load_model(mr, nullptr).ok);
    GenerateRequest r = small_request();
    r.live_preview_method = "Approx NN";
    std::vector<GeneratedImage> out;
    EXPECT_TRUE(engine.txt2img(r, {}, &out).ok);  // no preview shown: no file needed
    RunCallbacks shown;
    shown.preview = [](const Image&) {};
    const Status st = engine.txt2img(r, shown, &out);
    EXPECT_FALSE(st.ok);
    EXPECT_EQ(st.message,
              "The Approx NN live preview needs A1111's models/VAE-approx/model.pt in a VAE-approx folder beside the checkpoint's folder "
              "or in ~/.local/share/gimp-diffusion/models/VAE-approx; put it there or set the live preview to Approx cheap.");
    if (home) ::setenv("HOME", saved_home.c_str(), 1);
}
