// Whole txt2img / img2img runs of every oracle model against the reference pipelines
// (ref_t2i_*.safetensors, ref_i2i_*.safetensors): sigmas, noise, each step, latents, images.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "pipeline/txt2img.h"
#include "status.h"
#include "support/oracle.h"
#include "support/tensor_file.h"

using namespace sdgimp;

namespace {

// The references name samplers like "euler_a" and "dpmpp_2m_karras".
pipeline::SamplingSettings settings_for(const std::string& name, int steps, double cfg) {
    pipeline::SamplingSettings s;
    s.steps = steps;
    s.cfg_scale = cfg;
    std::string base = name;
    if (test::ends_with(base, "_karras")) { s.schedule = sampling::ScheduleKind::kKarras; base = base.substr(0, base.size() - 7); }
    static const std::map<std::string, sampling::SamplerKind> kinds = {
        {"euler_a", sampling::SamplerKind::kEulerA}, {"euler", sampling::SamplerKind::kEuler},
        {"heun", sampling::SamplerKind::kHeun}, {"dpm_2", sampling::SamplerKind::kDPM2},
        {"dpm_2_a", sampling::SamplerKind::kDPM2A}, {"dpmpp_2s_a", sampling::SamplerKind::kDPMPP2SA},
        {"dpmpp_2m", sampling::SamplerKind::kDPMPP2M}};
    s.sampler = kinds.at(base);
    return s;
}

std::vector<uint64_t> seeds_of(const test::TensorFile& f) {
    std::vector<uint64_t> out;
    for (const auto& v : nlohmann::json::parse(f.meta.at("seeds"))) out.push_back(v.get<uint64_t>());
    return out;
}

struct Captured {
    std::vector<torch::Tensor> denoised;
};

void check_steps(const test::TensorFile& ref, const Captured& cap) {
    for (size_t j = 0; ref.has("step." + std::to_string(j) + ".denoised"); ++j) {
        ASSERT_LT(j, cap.denoised.size());
        const auto& want = ref["step." + std::to_string(j) + ".denoised"];
        EXPECT_TRUE(test::all_close(cap.denoised[j], want, 1e-3, 1e-3)) << "step " << j << " max diff " << test::max_abs_diff(cap.denoised[j], want);
    }
}

void check_outputs(const pipeline::SDModel& m, const test::TensorFile& ref, const torch::Tensor& samples) {
    EXPECT_TRUE(test::all_close(samples, ref["samples"], 1e-3, 1e-3)) << "max diff " << test::max_abs_diff(samples, ref["samples"]);
    std::vector<torch::Tensor> dec;
    for (int64_t i = 0; i < samples.size(0); ++i) dec.push_back(m.decode_first_stage(samples.slice(0, i, i + 1)));
    auto decoded = torch::cat(dec);
    EXPECT_LE(test::max_abs_diff(decoded, ref["decoded"]), 1e-3);
    auto img = pipeline::to_uint8_images(decoded).to(torch::kInt);
    auto diff = (img - ref["images_uint8"].to(torch::kInt)).abs();
    EXPECT_LE(diff.max().item<int>(), 1);
    EXPECT_LT(diff.gt(0).sum().item<int64_t>(), diff.numel() / 100) << "too many uint8 values differ";
}

}  // namespace

TEST(OracleNets, Txt2ImgPipelines) {
    int runs = 0;
    for (const auto& mdl : test::oracle_models()) {
        for (const std::string& f : test::list_dir(mdl.dir)) {
            if (f.rfind("ref_t2i_", 0) != 0 || !test::ends_with(f, ".safetensors")) continue;
            auto ref = test::load_tensor_file(mdl.dir + "/" + f);
            for (const auto& ck : mdl.checkpoints) {
                SCOPED_TRACE(ck + " " + f);
                auto m = pipeline::load_sd_model(ck);
                auto s = settings_for(ref.meta.at("sampler"), std::stoi(ref.meta.at("steps")), std::stod(ref.meta.at("cfg_scale")));
                const int w = std::stoi(ref.meta.at("width")), h = std::stoi(ref.meta.at("height"));
                // Text path: the encoder on the reference tokens gives the reference conditioning.
                EXPECT_TRUE(test::all_close(m->encode_text(ref["cond_tokens"]), ref["cond"].slice(0, 0, 1), 1e-4, 1e-4));
                auto sig = pipeline::sampler_sigmas(s, m->schedule, s.steps);
                EXPECT_TRUE(test::all_close(sig, ref["sigmas"], 1e-6, 1e-6)) << sig << ref["sigmas"];
                sampling::ImageRNG rng(s.noise, seeds_of(ref), {4, h / 8, w / 8});
                EXPECT_EQ(test::max_abs_diff(rng.first(), ref["noise.0"]), 0.0);
                Captured cap;
                auto g0 = sampling::simple_guidance(ref["cond"], ref["uncond"], s.cfg_scale);
                sampling::GuidanceAt g = [&](int) { return g0; };
                auto samples = pipeline::txt2img_latents(m->latent_model(), g, seeds_of(ref), w, h, s,
                    [&](int, int, const torch::Tensor& d) { cap.denoised.push_back(d.clone()); });
                check_steps(ref, cap);
                check_outputs(*m, ref, samples);
                ++runs;
            }
        }
    }
    EXPECT_GT(runs, 0);
}

TEST(OracleNets, Img2ImgPipelines) {
    int runs = 0;
    for (const auto& mdl : test::oracle_models()) {
        for (const std::string& f : test::list_dir(mdl.dir)) {
            if (f.rfind("ref_i2i_", 0) != 0 || !test::ends_with(f, ".safetensors")) continue;
            auto ref = test::load_tensor_file(mdl.dir + "/" + f);
            for (const auto& ck : mdl.checkpoints) {
                SCOPED_TRACE(ck + " " + f);
                auto m = pipeline::load_sd_model(ck);
                auto s = settings_for(ref.meta.at("sampler"), std::stoi(ref.meta.at("steps")), std::stod(ref.meta.at("cfg_scale")));
                auto [mean, std] = m->encode_posterior(ref["image_in"]);
                EXPECT_TRUE(test::all_close(mean, ref["posterior_mean"], 1e-4, 1e-4));
                EXPECT_TRUE(test::all_close(std, ref["posterior_std"], 1e-4, 1e-4));
                // The web UI draws the posterior sample from an unseeded RNG; the reference gives it.
                auto init_latent = m->cfg.scale_factor * (mean + std * ref["vae_eps"]);
                EXPECT_TRUE(test::all_close(init_latent, ref["init_latent"], 1e-3, 1e-3));
                Captured cap;
                auto g0 = sampling::simple_guidance(ref["cond"], ref["uncond"], s.cfg_scale);
                sampling::GuidanceAt g = [&](int) { return g0; };
                auto samples = pipeline::img2img_latents(m->latent_model(), g, ref["init_latent"], seeds_of(ref),
                    std::stod(ref.meta.at("denoising_strength")), s,
                    [&](int, int, const torch::Tensor& d) { cap.denoised.push_back(d.clone()); });
                EXPECT_EQ(cap.denoised.size(), static_cast<size_t>(ref["sigma_sched"].size(0) - 1));
                check_steps(ref, cap);
                check_outputs(*m, ref, samples);
                ++runs;
            }
        }
    }
    EXPECT_GT(runs, 0);
}

// Tiled VAE, geometry: with a purely local function whose reach fits in the overlap, the blended
// tiles reproduce the whole-image result exactly (up to float rounding), for decode- and
// encode-style scaling, odd sizes included.
TEST(OracleNets, TiledRunIsExactForLocalFunctions) {
    torch::manual_seed(3);
    auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(4, 3, 3).padding(1));
    auto up = [&](const torch::Tensor& t) {
        auto u = torch::nn::functional::interpolate(t, torch::nn::functional::InterpolateFuncOptions()
                                                           .scale_factor(std::vector<double>{8, 8})
                                                           .mode(torch::kNearest));
        return conv->forward(u);
    };
    torch::NoGradGuard ng;
    for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{40, 48}, {37, 23}, {16, 70}}) {
        const auto z = torch::randn({2, 4, h, w});
        const auto whole = up(z);
        const auto tiled = pipeline::run_tiled(up, z, 16, 6, 8, 1);
        EXPECT_LT((tiled - whole).abs().max().item<float>(), 1e-4) << h << "x" << w;
        // Encode direction: 8x8 average pooling, then a 1x1 mix.
        const auto img = torch::randn({1, 3, h * 8, w * 8});
        auto down = [](const torch::Tensor& t) { return torch::avg_pool2d(t, 8) * 2 - 1; };
        const auto tiled_down = pipeline::run_tiled(down, img, 128, 48, 1, 8);
        EXPECT_LT((tiled_down - down(img)).abs().max().item<float>(), 1e-5) << h << "x" << w;
    }
}

// Tiled VAE on the oracle models: each tile normalises with its own statistics, so the result
// is close to, not equal to, the whole-image pass; the ramps must leave no seam (the error along
// the lines where tiles meet is no larger than elsewhere).
TEST(OracleNets, TiledVaeMatchesWholeImage) {
    int checked = 0;
    for (const auto& mdl : test::oracle_models()) {
        if (mdl.checkpoints.empty()) continue;
        SCOPED_TRACE(mdl.name);
        auto m = pipeline::load_sd_model(mdl.checkpoints.front());
        torch::manual_seed(7);
        const auto latent = torch::randn({1, 4, 40, 48});  // 320 x 384 image, statistically uniform
        m->vae_tiling.enabled = false;
        const auto whole = pipeline::to_uint8_images(m->decode_first_stage(latent)).to(torch::kFloat);
        m->vae_tiling = {24, 8, 0, true};
        const auto tiled = pipeline::to_uint8_images(m->decode_first_stage(latent)).to(torch::kFloat);
        ASSERT_EQ(tiled.sizes(), whole.sizes());
        const double mse = (tiled - whole).pow(2).mean().item<double>();
        const double psnr = 10 * std::log10(255.0 * 255.0 / std::max(mse, 1e-12));
        const auto err = (tiled - whole).abs().mean(-1)[0];  // (H, W)
        const double overall = err.mean().item<double>();
        // Tile starts of this grid (latent 40 x 48, tile 24, overlap 8): rows at 0, 16; columns at 0, 12, 24.
        double seam = 0;
        int lines = 0;
        for (int64_t y : {16 * 8, 24 * 8}) { seam += err.select(0, y).mean().item<double>(); ++lines; }
        for (int64_t x : {12 * 8, 24 * 8, 36 * 8}) { seam += err.select(1, x).mean().item<double>(); ++lines; }
        seam /= lines;
        std::cout << mdl.name << ": tiled decode PSNR vs whole " << psnr << " dB, mean error " << overall
                  << ", on tile edges " << seam << "\n";
        EXPECT_GT(psnr, 25.0);
        EXPECT_LT(seam, 1.5 * overall + 0.5);
        ++checked;
    }
    EXPECT_GT(checked, 0);
}

// A decoder that overflows in half precision decodes again in float32 (A1111's automatic VAE
// upcast); an image that is still not finite is an error, never a NaN image.
TEST(OracleNets, DecodeRetriesInFloat32AndNeverReturnsNaN) {
    int promotions = 0;
    bool half = true;
    auto overflowing = [&]() { return half ? torch::full({1, 3, 8, 8}, NAN) : torch::zeros({1, 3, 8, 8}); };
    auto to_float32 = [&]() {
        if (!half) return false;
        half = false;
        ++promotions;
        return true;
    };
    EXPECT_TRUE(pipeline::decode_checked(overflowing, to_float32).eq(0).all().item<bool>());
    EXPECT_EQ(promotions, 1);
    EXPECT_TRUE(pipeline::decode_checked(overflowing, to_float32).eq(0).all().item<bool>());  // stays float32
    EXPECT_EQ(promotions, 1);
    auto infinite = []() { return torch::full({1, 3, 8, 8}, INFINITY); };
    EXPECT_THROW(pipeline::decode_checked(infinite, to_float32), Error);

    // A real decoder with a NaN weight: tried in float32 too, then refused with the sentence.
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    for (torch::ScalarType dtype : {torch::kFloat, torch::kBFloat16}) {
        auto m = pipeline::load_sd_model(models.front().checkpoints.front());
        m->set_precision(dtype);
        {
            torch::NoGradGuard ng;
            m->net->vae->decoder->conv_out->bias[0].fill_(NAN);
        }
        try {
            (void)m->decode_first_stage(torch::zeros({1, 4, 8, 8}));
            ADD_FAILURE() << "a NaN image came back";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("The VAE produced NaNs decoding this image, even in float32"), std::string::npos) << e.what();
        }
        EXPECT_EQ(m->net->vae->decoder->conv_out->weight.scalar_type(), torch::kFloat);
    }
}

// A1111's Tiling (every convolution pads circularly): the UNet and the VAE decoder then commute
// with a circular shift of their input by a multiple of their total downsampling, so the image
// they make wraps round without a seam; with zero padding they do not (the check can fail).
TEST(OracleNets, TilingMakesTheNetworksWrapRound) {
    int checked = 0;
    for (const auto& mdl : test::oracle_models()) {
        if (mdl.checkpoints.empty()) continue;
        SCOPED_TRACE(mdl.name);
        auto m = pipeline::load_sd_model(mdl.checkpoints.front());
        torch::NoGradGuard ng;
        const int64_t down = int64_t(1) << (m->cfg.unet.channel_mult.size() - 1);
        torch::manual_seed(11);
        const auto x = torch::randn({2, m->cfg.unet.in_channels, 3 * down, 4 * down});
        const auto t = torch::full({2}, 500.0f);
        const auto ctx = torch::randn({2, 77, m->cfg.unet.context_dim});
        auto shift = [](const torch::Tensor& a, int64_t k) { return a.roll({k, 2 * k}, {2, 3}); };
        auto unet_wraps = [&]() {
            const auto y = m->net->unet->forward(x, t, ctx);
            const auto y_of_shifted = m->net->unet->forward(shift(x, down), t, ctx);
            return test::max_abs_diff(y_of_shifted, shift(y, down)) / y.abs().max().item<double>();
        };
        const auto z = torch::randn({1, 4, 6, 5});
        auto decoder_wraps = [&]() {
            const auto d = m->decode_first_stage(z);
            return test::max_abs_diff(m->decode_first_stage(shift(z, 1)), shift(d, 8)) / d.abs().max().item<double>();
        };
        m->set_tiling(true);
        EXPECT_LT(unet_wraps(), 1e-5);
        EXPECT_LT(decoder_wraps(), 1e-5);
        m->set_tiling(false);
        EXPECT_GT(unet_wraps(), 1e-3);
        EXPECT_GT(decoder_wraps(), 1e-3);
        ++checked;
    }
    EXPECT_GT(checked, 0);
}
