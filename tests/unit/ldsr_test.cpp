// LDSR (A1111's "LDSR" upscaler) on a small random-weight model in LDSR's checkpoint layout: the
// crop weighting and the Unfold/Fold blend against their definitions, ldm's schedule and DDIM step
// against their formulas, the UNet's AttentionBlock against QKVAttentionLegacy written out, the
// codebook lookup against a search of every code, the EMA weights used for sampling, the whole
// super-resolution against its pieces composed by hand (sizes, padding, truncation), by path and by
// A1111's folder name through the upscalers, and damaged files named.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "imaging/resample.h"
#include "io/checkpoint_file.h"
#include "io/safetensors_writer.h"
#include "models/ldsr.h"
#include "models/state_loader.h"
#include "pipeline/upscale.h"
#include "sampling/schedules.h"
#include "status.h"
#include "support/oracle.h"
#include "support/vocab.h"
#include "upscalers.h"

using namespace sdgimp;
namespace F = torch::nn::functional;

namespace {

// A small LDSR: UNet of 32 channels over two levels (attention at the second and in the middle),
// a VQ-f4 first stage of 32 channels with 16 codes of 3 values.
UNetConfig small_unet() {
    UNetConfig c;
    c.in_channels = 6;
    c.out_channels = 3;
    c.model_channels = 32;
    c.channel_mult = {1, 2};
    c.num_res_blocks = 1;
    c.attention_resolutions = {2};
    c.context_dim = 0;
    c.num_head_channels = 32;
    c.self_attention_blocks = true;
    return c;
}

VAEConfig small_vq() {
    VAEConfig c;
    c.ch = 32;
    c.ch_mult = {1, 2, 2};
    c.num_res_blocks = 1;
    c.z_channels = 3;
    c.embed_dim = 3;
    return c;
}

struct Saved {
    std::vector<std::string> names;
    std::vector<torch::Tensor> values;
    void add(const std::string& n, const torch::Tensor& t) {
        names.push_back(n);
        values.push_back(t.detach().to(torch::kFloat).contiguous());
    }
    void write(const std::string& path) const {
        std::vector<io::FloatTensor> out;
        for (size_t i = 0; i < names.size(); ++i) {
            const auto& t = values[i];
            out.push_back({names[i], t.sizes().vec(), std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel())});
        }
        io::write_safetensors(path, out);
    }
};

// Our layers start uninitialised (models/module_slots.h): LibTorch's initialisation, then noise.
void randomise(torch::nn::Module& m, double scale) {
    torch::NoGradGuard g;
    models::init_random_weights(m);
    for (auto& p : m.parameters()) p.add_(torch::randn_like(p) * scale);
}

std::string drop_dots(std::string s) {
    s.erase(std::remove(s.begin(), s.end(), '.'), s.end());
    return s;
}

// Writes an LDSR-layout file; with `ema`, model_ema.* holds other (the sampling) UNet weights.
// Returns the UNet whose weights sample (the EMA one when written) and the first stage.
std::pair<models::UNet, models::VqFirstStage> write_model(const std::string& path, bool ema = false, bool schedule = true) {
    torch::manual_seed(7);
    models::UNet unet(small_unet());
    randomise(*unet, 0.05);
    models::VqFirstStage vq(small_vq(), 16);
    randomise(*vq, 0.05);
    {
        // Pictures around mid-grey, not clamped flat.
        torch::NoGradGuard g;
        auto& out = vq->decoder->conv_out;
        out->weight.mul_(0.3);
        out->bias.zero_();
    }
    Saved s;
    for (const auto& p : unet->named_parameters()) s.add("model.diffusion_model." + p.key(), p.value());
    models::UNet sampled = unet;
    if (ema) {
        sampled = models::UNet(small_unet());
        torch::NoGradGuard g;
        auto src = unet->named_parameters();
        for (auto& p : sampled->named_parameters()) p.value().copy_(src[p.key()] + 0.02 * torch::randn_like(p.value()));
        for (const auto& p : sampled->named_parameters()) s.add("model_ema." + drop_dots("diffusion_model." + p.key()), p.value());
        s.add("model_ema.decay", torch::tensor({0.9999f}));
    }
    for (const auto& p : vq->named_parameters()) s.add("first_stage_model." + p.key(), p.value());
    // What training keeps and sampling ignores.
    s.add("first_stage_model.encoder.conv_in.weight", torch::randn({32, 3, 3, 3}));
    s.add("first_stage_model.quant_conv.weight", torch::randn({3, 3, 1, 1}));
    if (schedule) {
        s.add("alphas_cumprod", torch::tensor(models::linear_alphas_cumprod(0.0015, 0.0155, 1000)));
        s.add("betas", torch::zeros({1000}));
    }
    s.write(path);
    sampled->eval();
    vq->eval();
    return {sampled, vq};
}

std::string temp_dir() {
    char tmpl[] = "/tmp/ldsr_test_XXXXXX";
    const char* d = mkdtemp(tmpl);
    EXPECT_NE(d, nullptr);
    return d ? d : "/tmp";
}

Image pattern(int w, int h) {
    Image img{w, h, 3, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c) img.pixels[(static_cast<size_t>(y) * w + x) * 3 + c] = static_cast<uint8_t>((x * 37 + y * 11 + c * 70) % 256);
    return img;
}

}  // namespace

TEST(Ldsr, TileWeightingIsTheClippedDistanceToTheBorder) {
    const auto w = models::ldsr_tile_weighting(5, 7);
    ASSERT_EQ(w.sizes(), (std::vector<int64_t>{5, 7}));
    for (int i = 0; i < 5; ++i)
        for (int j = 0; j < 7; ++j) {
            const float y = static_cast<float>(i) / 4.0f, x = static_cast<float>(j) / 6.0f;
            const float d = std::min(std::min(y, x), std::min(1.0f - y, 1.0f - x));
            EXPECT_FLOAT_EQ(w[i][j].item<float>(), std::clamp(d, 0.01f, 0.5f)) << i << "," << j;
        }
    EXPECT_FLOAT_EQ(models::ldsr_tile_weighting(128, 128)[64][64].item<float>(), 0.49606299f);  // min(64/127, 63/127)
}

TEST(Ldsr, CropsBlendBackToWhatTheyCover) {
    torch::manual_seed(1);
    const auto x = torch::randn({1, 2, 256, 192});
    // A pointwise function comes back whole: the weights are normalised by their own fold.
    int calls = 0;
    const auto y = models::ldsr_fold_crops(x, 128, 64, 1, [&](const torch::Tensor& c, int64_t) { ++calls; return c * 2 + 1; });
    EXPECT_EQ(calls, 3 * 2);
    EXPECT_TRUE(torch::allclose(y, x * 2 + 1, 1e-5, 1e-5));
    // Enlarging crops fold at the enlarged stride.
    const auto up = models::ldsr_fold_crops(x, 128, 64, 2, [](const torch::Tensor& c, int64_t) {
        return F::interpolate(c, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2, 2}).mode(torch::kNearest));
    });
    EXPECT_TRUE(torch::allclose(up, F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2, 2}).mode(torch::kNearest)), 1e-5, 1e-5));
    // Each crop's value weighs in by its own weighting: crop k returns k (row by row).
    const auto idx = models::ldsr_fold_crops(torch::zeros({1, 1, 256, 192}), 128, 64, 1,
                                             [](const torch::Tensor& c, int64_t k) { return torch::full_like(c, static_cast<float>(k)); });
    const auto wt = models::ldsr_tile_weighting(128, 128);
    // Pixel (100, 70): crops (0,0), (0,1), (1,0), (1,1) cover it (origins at multiples of 64).
    double num = 0, den = 0;
    for (int iy = 0; iy < 3; ++iy)
        for (int ix = 0; ix < 2; ++ix) {
            const int ly = 100 - 64 * iy, lx = 70 - 64 * ix;
            if (ly < 0 || ly >= 128 || lx < 0 || lx >= 128) continue;
            const double w = wt[ly][lx].item<float>();
            num += w * (iy * 2 + ix);
            den += w;
        }
    EXPECT_NEAR(idx[0][0][100][70].item<float>(), num / den, 1e-5);
    // A picture the crops cannot cover is refused, not divided by zero.
    EXPECT_THROW(models::ldsr_fold_crops(torch::zeros({1, 1, 150, 128}), 128, 64, 1, [](const torch::Tensor& c, int64_t) { return c; }), Error);
    // Smaller than a crop: one crop of the picture's size.
    const auto small = torch::randn({1, 1, 64, 96});
    EXPECT_TRUE(torch::allclose(models::ldsr_fold_crops(small, 128, 64, 1, [](const torch::Tensor& c, int64_t) { return c; }), small, 1e-6, 1e-6));
}

TEST(Ldsr, ScheduleAndDdimStepFollowLdm) {
    // ldm's linear schedule equals the sampling schedules' (checked against A1111 elsewhere).
    const auto ac = models::linear_alphas_cumprod(0.00085, 0.012, 1000);
    const auto ref = sampling::ModelSchedule::linear(0.00085, 0.012, 1000).alphas_cumprod;
    for (int i : {0, 1, 499, 500, 998, 999}) EXPECT_EQ(ac[static_cast<size_t>(i)], ref[i].item<float>()) << i;
    const auto ldsr = models::linear_alphas_cumprod(0.0015, 0.0155, 1000);
    // 1 - beta_0 with beta_0 = 0.0015, and the product of every 1 - beta (CPython, float64).
    EXPECT_FLOAT_EQ(ldsr[0], 0.9985f);
    EXPECT_NEAR(ldsr[999], 0.00066866517, 1e-9);

    const auto s = models::ddim_schedule(ldsr, 100, 1.0);
    ASSERT_EQ(s.timesteps.size(), 100u);
    EXPECT_EQ(s.timesteps.front(), 1);
    EXPECT_EQ(s.timesteps.back(), 991);
    EXPECT_EQ(s.alphas_prev[0], ldsr[0]);
    EXPECT_EQ(s.alphas[5], ldsr[51]);
    EXPECT_EQ(s.alphas_prev[5], ldsr[41]);
    const double a = ldsr[51], p = ldsr[41];
    EXPECT_FLOAT_EQ(s.sigmas[5], static_cast<float>(std::sqrt((1 - p) / (1 - a) * (1 - a / p))));
    // 30 steps: c = 33, range(0, 1000, 33) holds 31 timesteps.
    const auto s30 = models::ddim_schedule(ldsr, 30, 1.0);
    EXPECT_EQ(s30.timesteps.size(), 31u);
    EXPECT_EQ(s30.timesteps.back(), 991);
    EXPECT_EQ(models::ddim_schedule(ldsr, 10, 0.0).sigmas[3], 0.0f);
    EXPECT_THROW(models::ddim_schedule(ldsr, 0, 1.0), Error);
    EXPECT_THROW(models::ddim_schedule(ldsr, 1001, 1.0), Error);
    // c = 333 (or 111): range(0, 1000, c) ends on 999, whose + 1 is past the table, where ldm's
    // indexing fails; refused with a sentence.
    for (int bad : {3, 9, 105}) {
        try {
            (void)models::ddim_schedule(ldsr, bad, 1.0);
            ADD_FAILURE() << bad;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("LDSR cannot run " + std::to_string(bad) + " steps"), std::string::npos) << e.what();
        }
    }
    EXPECT_EQ(models::ddim_schedule(ldsr, 4, 1.0).timesteps, (std::vector<int64_t>{1, 251, 501, 751}));

    torch::manual_seed(3);
    const auto x = torch::randn({1, 3, 4, 5}), e = torch::randn({1, 3, 4, 5}), n = torch::randn({1, 3, 4, 5});
    const auto got = models::ddim_step(x, e, s, 5, n);
    const double at = s.alphas[5], ap = s.alphas_prev[5], sg = s.sigmas[5];
    const auto x0 = (x.to(torch::kDouble) - std::sqrt(1 - at) * e.to(torch::kDouble)) / std::sqrt(at);
    const auto want = std::sqrt(ap) * x0 + std::sqrt(1 - ap - sg * sg) * e.to(torch::kDouble) + sg * n.to(torch::kDouble);
    EXPECT_TRUE(torch::allclose(got.to(torch::kDouble), want, 1e-5, 1e-5));
}

TEST(Ldsr, AttentionBlockIsLdmsLegacyAttention) {
    torch::NoGradGuard g;
    torch::manual_seed(5);
    models::AttentionBlock blk(64, 2);
    randomise(*blk, 0.2);
    const auto x = torch::randn({2, 64, 6, 5});
    const auto got = blk->forward(x);
    // QKVAttentionLegacy as written in openaimodel.py.
    const auto flat = x.reshape({2, 64, 30});
    const auto qkv = F::conv1d(F::group_norm(flat, F::GroupNormFuncOptions(32).weight(blk->norm->weight).bias(blk->norm->bias).eps(1e-5)),
                               blk->qkv->weight, F::Conv1dFuncOptions().bias(blk->qkv->bias));
    const auto parts = qkv.reshape({4, 96, 30}).split(32, 1);
    const double sc = 1 / std::sqrt(std::sqrt(32.0));
    auto w = torch::einsum("bct,bcs->bts", {parts[0] * sc, parts[1] * sc}).softmax(-1);
    const auto a = torch::einsum("bts,bcs->bct", {w, parts[2]}).reshape({2, 64, 30});
    const auto want = (flat + F::conv1d(a, blk->proj_out->weight, F::Conv1dFuncOptions().bias(blk->proj_out->bias))).reshape({2, 64, 6, 5});
    EXPECT_TRUE(torch::allclose(got, want, 1e-4, 1e-5)) << (got - want).abs().max().item<float>();
}

TEST(Ldsr, LoadsItsLayoutAndSamplesWithTheEmaWeights) {
    torch::NoGradGuard g;
    const std::string dir = temp_dir(), path = dir + "/model.safetensors";
    auto [sampled, vq] = write_model(path, true);
    const auto m = models::Ldsr::load(path);
    const auto& c = m->unet->cfg;
    EXPECT_EQ(c.model_channels, 32);
    EXPECT_EQ(c.channel_mult, (std::vector<int>{1, 2}));
    EXPECT_EQ(c.num_res_blocks, 1);
    EXPECT_EQ(c.attention_resolutions, (std::vector<int>{2}));
    EXPECT_EQ(m->alphas_cumprod.size(), 1000u);

    torch::manual_seed(9);
    const auto z = torch::randn({1, 3, 128, 128}), lr = torch::rand({1, 3, 128, 128}) * 2 - 1;
    const auto got = m->eps(z, lr, 501);
    const auto want = sampled->forward(torch::cat({z, lr}, 1), torch::full({1}, 501.0), torch::Tensor());
    EXPECT_TRUE(torch::allclose(got, want, 1e-4, 1e-4)) << (got - want).abs().max().item<float>() << " of " << want.abs().max().item<float>();
    // One crop covers a 128 latent: the tiled path is the whole one.
    EXPECT_TRUE(torch::allclose(m->eps_tiled(z, lr, 501), got, 1e-4, 1e-4)) << (m->eps_tiled(z, lr, 501) - got).abs().max().item<float>();
    EXPECT_TRUE(torch::allclose(m->decode_tiled(z), m->first_stage->decode(z), 1e-4, 1e-5));

    // The codebook lookup: every latent value replaced by its nearest code.
    const auto h = torch::randn({1, 3, 4, 5}) * 0.1;
    const auto q = m->first_stage->quantize_codes(h);
    const auto codes = m->first_stage->embedding->weight;
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 5; ++x) {
            const auto v = h[0].select(1, y).select(1, x);
            const auto best = (codes - v).pow(2).sum(1).argmin().item<int64_t>();
            EXPECT_TRUE(torch::allclose(q[0].select(1, y).select(1, x), codes[best], 1e-6, 1e-6)) << y << "," << x;
        }
    // The file's own trained weights are not the ones sampled with.
    const std::string plain = dir + "/plain.safetensors";
    write_model(plain, false);
    EXPECT_FALSE(torch::allclose(models::Ldsr::load(plain)->eps(z, lr, 501), got, 1e-4, 1e-4));
    std::system(("rm -rf " + dir).c_str());
}

TEST(Ldsr, SuperResolutionIsA1111sStepsComposed) {
    torch::NoGradGuard g;
    const std::string dir = temp_dir(), path = dir + "/model.safetensors";
    write_model(path);
    auto m = models::Ldsr::load(path);
    const Image img = pattern(150, 20);
    models::LdsrRun run;
    run.steps = 2;
    run.seed = 11;
    int progress_calls = 0;
    run.progress = [&](int, int total) { ++progress_calls; EXPECT_EQ(total, 2); };
    const Image out = m->super_resolution(img, 4.0, run);
    EXPECT_EQ(progress_calls, 2);
    ASSERT_EQ(out.width, 600);
    ASSERT_EQ(out.height, 80);

    // By hand: the picture padded with its edge to 192 x 128, in [-1, 1]; noise and two DDIM steps
    // at timesteps 501 and 1 from the seed; decoded over two crops; clamped, truncated, cut.
    auto pic = torch::from_blob(const_cast<uint8_t*>(img.pixels.data()), {20, 150, 3}, torch::kUInt8).to(torch::kFloat).div(255.0);
    auto padded = torch::zeros({128, 192, 3});
    for (int y = 0; y < 128; ++y)
        for (int x = 0; x < 192; ++x) padded[y][x] = pic[std::min(y, 19)][std::min(x, 149)];
    const auto lr = padded.permute({2, 0, 1}).unsqueeze(0) * 2 - 1;
    at::Generator gen = at::detail::createCPUGenerator(11);
    auto x = torch::randn({1, 3, 128, 192}, gen);
    const auto s = models::ddim_schedule(m->alphas_cumprod, 2, 1.0);
    ASSERT_EQ(s.timesteps, (std::vector<int64_t>{1, 501}));
    x = models::ddim_step(x, m->eps_tiled(x, lr, 501), s, 1, torch::randn({1, 3, 128, 192}, gen));
    x = models::ddim_step(x, m->eps_tiled(x, lr, 1), s, 0, torch::randn({1, 3, 128, 192}, gen));
    const auto dec = m->decode_tiled(x);
    ASSERT_EQ(dec.sizes(), (std::vector<int64_t>{1, 3, 512, 768}));
    const auto px = ((dec.clamp(-1, 1) + 1) / 2 * 255)[0].narrow(1, 0, 80).narrow(2, 0, 600).permute({1, 2, 0}).to(torch::kUInt8).contiguous();
    const std::vector<uint8_t> want(px.data_ptr<uint8_t>(), px.data_ptr<uint8_t>() + px.numel());
    EXPECT_EQ(out.pixels, want);

    // The same seed repeats the result; another seed draws other noise.
    EXPECT_EQ(m->super_resolution(img, 4.0, run).pixels, out.pixels);
    run.seed = 12;
    EXPECT_NE(m->super_resolution(img, 4.0, run).pixels, out.pixels);

    // Scale 2: Lanczos to ceil(size / 2) first, then x4.
    run.progress = nullptr;
    const Image odd = pattern(21, 13);
    const Image half = m->super_resolution(odd, 2.0, run);
    EXPECT_EQ(half.width, 44);
    EXPECT_EQ(half.height, 28);
    const Image pre = imaging::resize(odd, 11, 7, imaging::Filter::kLanczos);
    EXPECT_EQ(m->super_resolution(pre, 4.0, run).pixels, half.pixels);

    // Cancelled between steps.
    run.cancelled = [] { return true; };
    EXPECT_THROW(m->super_resolution(img, 4.0, run), Cancelled);
    std::system(("rm -rf " + dir).c_str());
}

TEST(Ldsr, RunsAsAnUpscalerByPathAndByA1111sName) {
    const std::string dir = temp_dir();
    ASSERT_EQ(::mkdir((dir + "/LDSR").c_str(), 0755), 0);
    const std::string path = dir + "/LDSR/model.safetensors";
    write_model(path, false, false);  // no schedule buffer: project.yaml's, else LDSR's linear one
    {
        std::ofstream y(dir + "/LDSR/project.yaml");
        y << "model:\n  params:\n    linear_start: 0.0015\n    linear_end: 0.0155\n    timesteps: 1000\n"
             "    unet_config:\n      params:\n        num_head_channels: 32\n";
    }
    const auto m = models::Ldsr::load(path);
    EXPECT_EQ(m->alphas_cumprod, models::linear_alphas_cumprod(0.0015, 0.0155, 1000));

    // A1111's folder: found by the name "LDSR", listed in the menus, not as a file called "model".
    EXPECT_EQ(find_ldsr_file({dir + "/LDSR"}), path);
    EXPECT_EQ(find_ldsr_file({dir}), path);
    EXPECT_EQ(find_upscaler_file("LDSR", {dir}), path);
    EXPECT_EQ(find_upscaler_file("model", {dir}), "");
    EXPECT_EQ(upscaler_file_names({dir}), (std::vector<std::string>{"LDSR"}));
    EXPECT_EQ(find_ldsr_file({dir + "/elsewhere"}), "");

    pipeline::Upscalers ups;
    pipeline::UpscaleOptions opt;
    opt.ldsr_steps = 2;
    opt.ldsr_seed = 4;
    const Image img = pattern(30, 20);
    const Image up = ups.upscale(img, path, 3.0, opt);
    ASSERT_EQ(up.width, 90);
    ASSERT_EQ(up.height, 60);
    // LDSR is handed the whole scale (ceil(30 * 3 / 4) = 23 wide, x4 = 92), then Lanczos to 90 x 60.
    models::LdsrRun run;
    run.steps = 2;
    run.seed = 4;
    const Image direct = m->super_resolution(img, 3.0, run);
    EXPECT_EQ(direct.width, 92);
    EXPECT_EQ(direct.height, 60);
    EXPECT_EQ(imaging::resize(direct, 90, 60, imaging::Filter::kLanczos).pixels, up.pixels);

    // The engine finds it by A1111's name (here through $GIMP_DIFFUSION_ESRGAN_DIR, no checkpoint
    // loaded), with the steps asked for (A1111's 100 unless told).
    EXPECT_EQ(pipeline::UpscaleOptions{}.ldsr_steps, 100);
    ::setenv("GIMP_DIFFUSION_ESRGAN_DIR", dir.c_str(), 1);
    Engine engine;
    RunCallbacks cb;
    int last = 0, total = 0;
    cb.progress = [&](int done, int t) { last = done, total = t; };
    Image named;
    const Status st = engine.upscale(pattern(16, 12), "LDSR", 2.0, cb, &named, 4);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_EQ(total, 4);
    EXPECT_EQ(last, 4);
    opt.ldsr_steps = 4;
    opt.ldsr_seed = 0;
    EXPECT_EQ(named.pixels, ups.upscale(pattern(16, 12), path, 2.0, opt).pixels);
    EXPECT_EQ(named.width, 32);
    EXPECT_EQ(named.height, 24);
    // Extras Upscale takes its steps from its settings.
    imaging::ExtrasUpscaleSettings es;
    es.upscaler_1 = "LDSR";
    es.ldsr_steps = 3;
    std::string info;
    Image extra;
    const Status ex3 = engine.extras_upscale(pattern(16, 12), es, {}, &extra, &info);
    EXPECT_NE(ex3.message.find("LDSR cannot run 3 steps"), std::string::npos) << ex3.message;
    es.ldsr_steps = 4;
    const Status ex4 = engine.extras_upscale(pattern(16, 12), es, {}, &extra, &info);
    ASSERT_TRUE(ex4.ok) << ex4.message;
    EXPECT_EQ(extra.width, 32);
    EXPECT_NE(info.find("Postprocess upscaler: LDSR"), std::string::npos) << info;
    const Status bad = engine.upscale(pattern(16, 12), "LDSR", 2.0, cb, &named, 0);
    EXPECT_FALSE(bad.ok);
    EXPECT_NE(bad.message.find("LDSR steps must be between 1 and 1000"), std::string::npos) << bad.message;
    ::unsetenv("GIMP_DIFFUSION_ESRGAN_DIR");
    std::system(("rm -rf " + dir).c_str());
}

TEST(Ldsr, DamagedFilesAreNamed) {
    const std::string dir = temp_dir();
    auto message = [](const std::string& p) {
        try {
            models::Ldsr::load(p);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("(loaded)");
    };
    // Not LDSR at all.
    io::write_safetensors(dir + "/other.safetensors", {{"conv_first.weight", {4, 3, 3, 3}, std::vector<float>(108, 0.1f)}});
    EXPECT_NE(message(dir + "/other.safetensors").find("is not an LDSR model"), std::string::npos);
    // A tensor of the wrong shape, and one missing.
    torch::manual_seed(2);
    models::UNet unet(small_unet());
    models::VqFirstStage vq(small_vq(), 16);
    models::init_random_weights(*unet);
    models::init_random_weights(*vq);
    Saved s;
    for (const auto& p : unet->named_parameters()) s.add("model.diffusion_model." + p.key(), p.value());
    for (const auto& p : vq->named_parameters())
        if (p.key() != "decoder.norm_out.bias") s.add("first_stage_model." + p.key(), p.value());
    s.write(dir + "/missing.safetensors");
    const std::string missing = message(dir + "/missing.safetensors");
    EXPECT_NE(missing.find("missing.safetensors"), std::string::npos) << missing;
    EXPECT_NE(missing.find("decoder.norm_out.bias"), std::string::npos) << missing;
    for (size_t i = 0; i < s.names.size(); ++i)
        if (s.names[i] == "model.diffusion_model.middle_block.1.qkv.weight") s.values[i] = torch::zeros({96, 64, 1});
    s.add("first_stage_model.decoder.norm_out.bias", torch::zeros({32}));
    s.write(dir + "/shape.safetensors");
    const std::string shape = message(dir + "/shape.safetensors");
    EXPECT_NE(shape.find("middle_block.1.qkv.weight"), std::string::npos) << shape;
    // A schedule no model has.
    std::ofstream(dir + "/project.yaml") << "model:\n  params:\n    linear_start: 0.5\n    linear_end: 0.1\n";
    for (size_t i = 0; i < s.names.size(); ++i)
        if (s.names[i] == "model.diffusion_model.middle_block.1.qkv.weight") s.values[i] = torch::zeros({192, 64, 1});
    s.write(dir + "/model.safetensors");
    EXPECT_NE(message(dir + "/model.safetensors").find("gives a schedule"), std::string::npos) << message(dir + "/model.safetensors");
    // Heads that do not split the attention blocks' channels (0 would divide by zero).
    for (const char* heads : {"48", "0", "100000"}) {
        std::ofstream(dir + "/project.yaml") << "model:\n  params:\n    unet_config:\n      params:\n        num_head_channels: " << heads << "\n";
        EXPECT_NE(message(dir + "/model.safetensors").find("do not split"), std::string::npos) << heads << ": " << message(dir + "/model.safetensors");
    }
    std::system(("rm -rf " + dir).c_str());
}

// Hires. fix with "LDSR" between the passes runs it at the request's "LDSR processing steps".
TEST(Ldsr, HiresFixRunsItAtTheRequestsSteps) {
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    const std::string dir = temp_dir();
    ASSERT_EQ(::mkdir((dir + "/LDSR").c_str(), 0755), 0);
    write_model(dir + "/LDSR/model.safetensors");
    Engine engine;
    ModelRequest mr(models.front().checkpoints.front(), "", test::vocab_path());
    mr.upscaler_dirs = {dir};
    ASSERT_TRUE(engine.load_model(mr, nullptr).ok);
    GenerateRequest r;
    r.prompt = "a red house";
    r.seed = 11;
    r.steps = 2;
    r.width = r.height = 64;
    r.rng = "CPU";
    r.enable_hr = true;
    r.hr_scale = 2;
    r.denoising_strength = 0.5;
    r.hr_upscaler = "LDSR";
    std::vector<GeneratedImage> out;
    r.ldsr_steps = 3;  // reaches LDSR: a count ldm's schedule cannot index
    Status st = engine.txt2img(r, {}, &out);
    EXPECT_FALSE(st.ok);
    EXPECT_NE(st.message.find("LDSR cannot run 3 steps"), std::string::npos) << st.message;
    r.ldsr_steps = 2;
    st = engine.txt2img(r, {}, &out);
    ASSERT_TRUE(st.ok) << st.message;
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].image.width, 128);
    EXPECT_NE(out[0].infotext.find("Hires upscaler: LDSR"), std::string::npos) << out[0].infotext;
    const auto two = out[0].image.pixels;
    r.ldsr_steps = 4;
    ASSERT_TRUE(engine.txt2img(r, {}, &out).ok);
    EXPECT_NE(out[0].image.pixels, two);
    std::system(("rm -rf " + dir).c_str());
}
