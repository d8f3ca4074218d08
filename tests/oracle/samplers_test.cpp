// Every sampler case of oracle/math/samplers.json that the engine offers, run on the toy model
// the data was made with: sigma list, initial noise and final latent.
#include <gtest/gtest.h>

#include "pipeline/txt2img.h"
#include "sampling/brownian_tree.h"
#include "sampling/denoiser.h"
#include "sampling/timestep_samplers.h"
#include "sampling/unipc.h"
#include "status.h"
#include "support/oracle.h"
#include "support/tensor_file.h"

using namespace sdgimp;

namespace {

// out = 0.9 x + 0.1 sin(3x) + 0.02 cos(t / 100) c, with c the scalar conditioning of each row.
torch::Tensor toy_unet(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& c) {
    auto tc = torch::cos(t.to(torch::kFloat) / 100.0f).view({-1, 1, 1, 1});
    return 0.9f * x + 0.1f * torch::sin(3.0f * x) + (0.02f * tc * c.view({-1, 1, 1, 1}));
}

}  // namespace

TEST(OracleMath, Samplers) {
    const auto meta = test::read_json(test::oracle_dir() + "/math/samplers.json");
    const auto ref = test::load_tensor_file(test::oracle_dir() + "/math/samplers.safetensors");
    auto model = sampling::ModelSchedule::linear(0.00085, 0.012, 1000);
    std::map<std::string, int> ran, not_offered, refused;
    for (const auto& c : meta["cases"]) {
        const std::string name = c["sampler"].get<std::string>();
        auto info = sampling::find_sampler(name);
        if (!info) { ++not_offered[name]; continue; }
        if (c.contains("error")) {
            // A1111 itself fails on these inputs; the engine must refuse them with a sentence.
            if (info->kind == sampling::SamplerKind::kUniPC)
                EXPECT_THROW(sampling::check_unipc({}, c["steps"].get<int>()), Error) << c["id"];
            else
                EXPECT_LT(c["steps"].get<int>(), info->min_steps) << c["id"] << " " << name;
            ++refused[name + " (A1111 fails too)"];
            continue;
        }
        int64_t ensd = 0;
        double eta_ddim = 0.0;
        bool unsupported_option = false;
        pipeline::SamplingSettings s;
        if (c.contains("options") && c["options"].is_object()) {
            for (auto it = c["options"].begin(); it != c["options"].end(); ++it) {
                const std::string k = it.key();
                if (k == "eta_noise_seed_delta") ensd = it.value().get<int64_t>();
                else if (k == "eta_ddim") eta_ddim = it.value().get<double>();
                else if (k == "eta_ancestral") s.eta = it.value().get<double>();
                else if (k == "s_churn") s.s_churn = it.value().get<double>();
                else if (k == "s_tmin") s.s_tmin = it.value().get<double>();
                else if (k == "s_tmax") s.s_tmax = it.value().get<double>();
                else if (k == "s_noise") s.s_noise = it.value().get<double>();
                else if (k == "skip_early_cond") s.skip_early_cond = it.value().get<double>();
                else if (k == "s_min_uncond") s.s_min_uncond = it.value().get<double>();
                else if (k == "sgm_noise_multiplier") s.sgm_noise_multiplier = it.value().get<bool>();
                else if (k == "uni_pc_variant") s.unipc.variant = it.value().get<std::string>();
                else if (k == "uni_pc_order") s.unipc.order = it.value().get<int>();
                else if (k == "uni_pc_skip_type") s.unipc.skip_type = it.value().get<std::string>();
                else if (k == "uni_pc_lower_order_final") s.unipc.lower_order_final = it.value().get<bool>();
                else unsupported_option = true;
            }
        }
        if (unsupported_option) { ++not_offered[name + " (options)"]; continue; }
        SCOPED_TRACE(c["id"].get<std::string>() + " " + name + " " + c["scheduler"].get<std::string>());
        if (info->timesteps) {
            // DDIM: timesteps instead of sigmas, raw eps from the toy model, x starts as the noise.
            const auto ts = sampling::ddim_timesteps(c["steps"].get<int>());
            EXPECT_EQ(std::vector<int64_t>(ts.data_ptr<int64_t>(), ts.data_ptr<int64_t>() + ts.numel()),
                      c["timesteps"].get<std::vector<int64_t>>());
            const auto src = c["randn_source"] == "NV" ? sampling::NoiseSource::kNV : sampling::NoiseSource::kCPU;
            const auto seeds = c["seeds"].get<std::vector<uint64_t>>();
            sampling::ImageRNG rng(src, seeds, c["latent_shape"].get<std::vector<int64_t>>(), ensd);
            sampling::Guidance g;
            g.cfg_scale = c["cfg_scale"].get<double>();
            std::vector<float> cond_rows, uncond_rows;
            for (size_t i = 0; i < seeds.size(); ++i) {
                g.conds_list.push_back({{static_cast<int>(i), 1.0}});
                cond_rows.push_back(c["cond_values"][i].get<float>());
                uncond_rows.push_back(c["uncond_values"][i].get<float>());
            }
            g.cond = torch::tensor(cond_rows).view({-1, 1, 1});
            g.uncond = torch::tensor(uncond_rows).view({-1, 1, 1});
            const Prediction pred = c["parameterization"] == "v" ? Prediction::kV : Prediction::kEps;
            const bool cfgpp = info->kind == sampling::SamplerKind::kDDIMCFGPP;
            auto last_uncond = std::make_shared<torch::Tensor>();
            sampling::Guidance gg = g;
            if (cfgpp) gg.cfg_scale = g.cfg_scale * (1.0 / 12.5);
            auto eps = sampling::make_cfg_denoiser(sampling::timestep_eps(toy_unet, model.alphas_cumprod, pred),
                                                   sampling::GuidanceAt([gg](int) { return gg; }), cfgpp ? last_uncond : nullptr);
            torch::Tensor result;
            if (info->kind == sampling::SamplerKind::kPLMS)
                result = sampling::sample_plms(eps, rng.first(), ts, model.alphas_cumprod, {});
            else if (info->kind == sampling::SamplerKind::kUniPC)
                result = sampling::sample_unipc(eps, rng.first(), static_cast<int>(ts.size(0)), model.alphas_cumprod, s.unipc, {});
            else if (cfgpp)
                result = sampling::sample_ddim_cfgpp(eps, last_uncond, rng.first(), ts, model.alphas_cumprod, eta_ddim, [&] { return rng.next(); }, {});
            else
                result = sampling::sample_ddim(eps, rng.first(), ts, model.alphas_cumprod, eta_ddim, [&] { return rng.next(); }, {});
            const auto& want = ref[c["result"].get<std::string>()];
            EXPECT_TRUE(test::all_close(result, want, 1e-4, 1e-4)) << c["id"] << " max diff " << test::max_abs_diff(result, want);
            ++ran[name];
            continue;
        }
        s.sampler = info->kind;
        s.schedule = *sampling::parse_schedule(c["scheduler"].get<std::string>());
        s.steps = c["steps"].get<int>();
        s.noise = c["randn_source"] == "NV" ? sampling::NoiseSource::kNV : sampling::NoiseSource::kCPU;
        auto sigmas = pipeline::sampler_sigmas(s, model, s.steps);
        auto want_sigmas = torch::tensor(c["sigmas"].get<std::vector<double>>(), torch::kDouble);
        ASSERT_TRUE(test::all_close(sigmas, want_sigmas, 1e-7, 1e-6)) << sigmas << want_sigmas;

        const auto seeds = c["seeds"].get<std::vector<uint64_t>>();
        sampling::ImageRNG rng(s.noise, seeds, c["latent_shape"].get<std::vector<int64_t>>(), ensd);
        auto noise = rng.first();
        if (c["initial_noise"].is_string()) {
            EXPECT_LE(test::max_abs_diff(noise, ref[c["initial_noise"].get<std::string>()]), 5e-6);
        }

        sampling::Guidance g;
        g.cfg_scale = c["cfg_scale"].get<double>();
        std::vector<float> cond_rows, uncond_rows;
        for (size_t i = 0; i < seeds.size(); ++i) {
            const auto& cv = c["cond_values"][i];
            std::vector<std::pair<int, double>> rows;
            if (cv.is_array()) {
                for (size_t k = 0; k < cv.size(); ++k) {
                    rows.push_back({static_cast<int>(cond_rows.size()), c["and_weights"][i][k].get<double>()});
                    cond_rows.push_back(cv[k].get<float>());
                }
            } else {
                rows.push_back({static_cast<int>(cond_rows.size()), 1.0});
                cond_rows.push_back(cv.get<float>());
            }
            g.conds_list.push_back(rows);
            uncond_rows.push_back(c["uncond_values"][i].get<float>());
        }
        g.cond = torch::tensor(cond_rows).view({-1, 1, 1});
        g.uncond = torch::tensor(uncond_rows).view({-1, 1, 1});
        pipeline::apply_guidance_skips(s, s.steps, &g);
        const Prediction pred = c["parameterization"] == "v" ? Prediction::kV : Prediction::kEps;
        sampling::Denoiser denoiser;
        if (info->kind == sampling::SamplerKind::kLCM) {
            const auto lcm = sampling::LcmSchedule::from(model);
            denoiser = sampling::make_cfg_denoiser(
                [lcm](const torch::Tensor& x, const torch::Tensor& sigma, const torch::Tensor& cond) {
                    return sampling::lcm_denoise(toy_unet, lcm, x, sigma, cond);
                },
                sampling::GuidanceAt([g](int) { return g; }));
        } else {
            denoiser = sampling::make_cfg_denoiser(toy_unet, model, pred, g);
        }
        sampling::SamplerOptions opt = pipeline::sampler_options(s, seeds);
        opt.sigma_min = model.sigma_min();
        opt.sigma_max = model.sigma_max();
        if (s.steps < info->min_steps) {
            // A one-step DPM fast has sigma_min == sigma_max; the engine refuses it with a sentence
            // instead of reproducing A1111's degenerate result.
            EXPECT_THROW(sampling::sample(s.sampler, denoiser, noise * sigmas[0], sigmas, [&] { return rng.next(); }, {}, opt), Error);
            ++refused[name];
            continue;
        }
        auto result = sampling::sample(s.sampler, denoiser, pipeline::initial_latent(s, noise, sigmas[0]), sigmas,
                                       [&] { return rng.next(); }, {}, opt);
        const auto& want = ref[c["result"].get<std::string>()];
        EXPECT_TRUE(test::all_close(result, want, 1e-4, 1e-4)) << "max diff " << test::max_abs_diff(result, want);
        ++ran[name];
    }
    for (const auto& kv : ran) std::cout << "ran " << kv.second << " cases of " << kv.first << "\n";
    for (const auto& kv : refused) std::cout << "refused with a message: " << kv.first << " (" << kv.second << " cases)\n";
    for (const auto& kv : not_offered) std::cout << "not offered yet: " << kv.first << " (" << kv.second << " cases)\n";
    EXPECT_FALSE(ran.empty());
}

// The Brownian-tree noise itself, against the noise A1111's DPM++ SDE drew in the traced cases.
TEST(OracleMath, BrownianTreeNoise) {
    const auto meta = test::read_json(test::oracle_dir() + "/math/samplers.json");
    const auto ref = test::load_tensor_file(test::oracle_dir() + "/math/samplers.safetensors");
    int checked = 0;
    for (const auto& c : meta["cases"]) {
        if (!c.contains("trace") || !c.value("brownian_tree_noise", false)) continue;
        std::string noise_name, sigma_name;
        for (const auto& t : c["trace"]) {
            const std::string n = t.get<std::string>();
            if (n.size() > 15 && n.substr(n.size() - 15) == "/brownian_noise") noise_name = n;
            if (n.size() > 16 && n.substr(n.size() - 16) == "/brownian_sigmas") sigma_name = n;
        }
        if (noise_name.empty() || sigma_name.empty()) continue;
        SCOPED_TRACE(c["id"].get<std::string>());
        const auto sigmas = torch::tensor(c["sigmas"].get<std::vector<double>>(), torch::kDouble).to(torch::kFloat);
        const auto positive = sigmas.masked_select(sigmas > 0);
        const auto src = c["randn_source"] == "NV" ? sampling::NoiseSource::kNV : sampling::NoiseSource::kCPU;
        sampling::BrownianNoise bn(src, c["seeds"].get<std::vector<uint64_t>>(), positive.min(), sigmas.max(),
                                   c["latent_shape"].get<std::vector<int64_t>>());
        const auto& want = ref[noise_name];
        const auto& args = ref[sigma_name];
        for (int64_t k = 0; k < want.size(0); ++k) {
            const auto got = bn(args[k][0].to(torch::kFloat), args[k][1].to(torch::kFloat));
            EXPECT_TRUE(test::all_close(got, want[k], 1e-5, 1e-5)) << "call " << k << " max diff " << test::max_abs_diff(got, want[k]);
            ++checked;
        }
    }
    std::cout << "Brownian noise calls checked: " << checked << "\n";
    EXPECT_GT(checked, 0);
}

TEST(OracleMath, Img2ImgStepSetup) {
    const auto meta = test::read_json(test::oracle_dir() + "/math/img2img.json");
    const auto ref = test::load_tensor_file(test::oracle_dir() + "/math/img2img.safetensors");
    auto model = sampling::ModelSchedule::linear(0.00085, 0.012, 1000);
    int ran = 0;
    for (const auto& c : meta["cases"]) {
        SCOPED_TRACE(c["id"].get<std::string>() + " " + c["sampler"].get<std::string>() + " strength " +
                     std::to_string(c["denoising_strength"].get<double>()) + (c["img2img_fix_steps"].get<bool>() ? " fix" : ""));
        const auto info = sampling::find_sampler(c["sampler"]);
        ASSERT_TRUE(info.has_value());
        const auto st = pipeline::img2img_steps(c["steps"], c["denoising_strength"], c["img2img_fix_steps"]);
        EXPECT_EQ(st.steps, c["img2img_steps"].get<int>());
        EXPECT_EQ(st.t_enc, c["t_enc"].get<int>());
        const auto src = c["randn_source"] == "NV" ? sampling::NoiseSource::kNV : sampling::NoiseSource::kCPU;
        const auto seeds = c["seeds"].get<std::vector<uint64_t>>();
        sampling::ImageRNG rng(src, seeds, c["latent_shape"].get<std::vector<int64_t>>());
        sampling::Guidance g;
        g.cfg_scale = c["cfg_scale"].get<double>();
        std::vector<float> cond_rows, uncond_rows;
        for (size_t i = 0; i < seeds.size(); ++i) {
            g.conds_list.push_back({{static_cast<int>(i), 1.0}});
            cond_rows.push_back(c["cond_values"][i].get<float>());
            uncond_rows.push_back(c["uncond_values"][i].get<float>());
        }
        g.cond = torch::tensor(cond_rows).view({-1, 1, 1});
        g.uncond = torch::tensor(uncond_rows).view({-1, 1, 1});
        const Prediction pred = c["parameterization"] == "v" ? Prediction::kV : Prediction::kEps;
        const auto& init = ref[c["init_latent"].get<std::string>()];
        torch::Tensor result;
        if (info->timesteps) {
            const auto ts = sampling::ddim_timesteps(st.steps);
            EXPECT_EQ(std::vector<int64_t>(ts.data_ptr<int64_t>(), ts.data_ptr<int64_t>() + ts.numel()),
                      c["timesteps"].get<std::vector<int64_t>>());
            const auto a = model.alphas_cumprod[ts[st.t_enc]];
            auto xi = init * torch::sqrt(a) + rng.first() * torch::sqrt(1 - a);
            auto eps = sampling::make_cfg_denoiser(sampling::timestep_eps(toy_unet, model.alphas_cumprod, pred),
                                                   sampling::GuidanceAt([g](int) { return g; }));
            result = info->kind == sampling::SamplerKind::kPLMS
                         ? sampling::sample_plms(eps, xi, ts.slice(0, 0, st.t_enc), model.alphas_cumprod, {})
                         : sampling::sample_ddim(eps, xi, ts.slice(0, 0, st.t_enc), model.alphas_cumprod, 0.0, [&] { return rng.next(); }, {});
        } else {
            pipeline::SamplingSettings s;
            s.sampler = info->kind;
            s.schedule = *sampling::parse_schedule(c["scheduler"].get<std::string>());
            auto sigmas = pipeline::sampler_sigmas(s, model, st.steps);
            EXPECT_TRUE(test::all_close(sigmas, torch::tensor(c["sigmas"].get<std::vector<double>>(), torch::kDouble), 1e-7, 1e-6));
            auto sched = sigmas.slice(0, st.steps - st.t_enc - 1);
            auto xi = init + rng.first() * sched[0];
            auto denoiser = sampling::make_cfg_denoiser(toy_unet, model, pred, g);
            result = sampling::sample(s.sampler, denoiser, xi, sched, [&] { return rng.next(); }, {}, pipeline::sampler_options(s, seeds));
        }
        const auto& want = ref[c["result"].get<std::string>()];
        EXPECT_TRUE(test::all_close(result, want, 1e-4, 1e-4)) << "max diff " << test::max_abs_diff(result, want);
        ++ran;
    }
    EXPECT_EQ(ran, static_cast<int>(meta["cases"].size()));
}

// A1111's "Pad prompt/negative prompt": the rows of a prompt and negative prompt of different
// lengths go through the network as one batch, the shorter padded with the empty prompt's
// encoding; "v0" repeats the negative prompt's last vector or cuts it. Padding happens after the
// guidance skips and pads the prompt even when the uncond pass is skipped.
TEST(Denoiser, PadCondsAsA1111) {
    std::vector<torch::Tensor> seen;  // the conditioning of every network call
    sampling::InnerDenoiser inner = [&](const torch::Tensor& x, const torch::Tensor&, const torch::Tensor& cond) {
        seen.push_back(cond.clone());
        return x * 0 + cond.mean({1, 2}).view({-1, 1, 1, 1});
    };
    const auto x = torch::ones({1, 4, 2, 2});
    const auto sigma = torch::full({1}, 2.0f);
    sampling::Guidance g = sampling::simple_guidance(torch::randn({1, 154, 8}), torch::randn({1, 77, 8}), 7.0);
    g.empty = torch::randn({77, 8});
    g.padded = std::make_shared<bool>(false);
    auto call = [&](sampling::Guidance gg) {
        seen.clear();
        *gg.padded = false;
        return sampling::make_cfg_denoiser(inner, [gg](int) { return gg; })(x, sigma);
    };
    // Off: two calls, the rows as they are.
    call(g);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_FALSE(*g.padded);
    // Padded: one call of 2 rows of 154 tokens, the negative's second chunk the empty prompt.
    g.pad = sampling::Guidance::Pad::kEmpty;
    const auto d = call(g);
    ASSERT_EQ(seen.size(), 1u);
    ASSERT_EQ(seen[0].sizes(), (std::vector<int64_t>{2, 154, 8}));
    EXPECT_TRUE(torch::equal(seen[0][0], g.cond[0]));
    EXPECT_TRUE(torch::equal(seen[0][1].slice(0, 0, 77), g.uncond[0]));
    EXPECT_TRUE(torch::equal(seen[0][1].slice(0, 77), g.empty));
    EXPECT_TRUE(*g.padded);
    const double c = g.cond.mean().item<double>(), u = torch::cat({g.uncond[0], g.empty}).mean().item<double>();
    EXPECT_NEAR(d.mean().item<double>(), u + (c - u) * 7.0, 1e-5);
    // The prompt shorter: the prompt is padded.
    sampling::Guidance s = sampling::simple_guidance(torch::randn({1, 77, 8}), torch::randn({1, 231, 8}), 7.0);
    s.empty = g.empty;
    s.padded = g.padded;
    s.pad = sampling::Guidance::Pad::kEmpty;
    call(s);
    ASSERT_EQ(seen.size(), 1u);
    ASSERT_EQ(seen[0].size(1), 231);
    EXPECT_TRUE(torch::equal(seen[0][0].slice(0, 77, 154), s.empty));
    EXPECT_TRUE(torch::equal(seen[0][0].slice(0, 154), s.empty));
    // v0: the negative prompt's last vector repeated, or the negative prompt cut.
    g.pad = sampling::Guidance::Pad::kV0;
    call(g);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_TRUE(torch::equal(seen[0][1].slice(0, 0, 77), g.uncond[0]));
    EXPECT_TRUE(torch::equal(seen[0][1].slice(0, 77), g.uncond[0][76].unsqueeze(0).expand({77, 8})));
    s.pad = sampling::Guidance::Pad::kV0;
    call(s);
    ASSERT_EQ(seen.size(), 1u);
    ASSERT_EQ(seen[0].size(1), 77);
    EXPECT_TRUE(torch::equal(seen[0][1], s.uncond[0].slice(0, 0, 77)));
    // Skip Early CFG on the first call: no uncond pass, but the prompt is still padded.
    s.pad = sampling::Guidance::Pad::kEmpty;
    s.skip_early_cond = 0.5;
    s.total_steps = 10;
    call(s);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].sizes(), (std::vector<int64_t>{1, 231, 8}));

    // A1111 reads its flag (reset at every call) when the pass ends: a prompt schedule whose
    // lengths meet by the last call leaves no note; a pass whose last call padded does, and a note
    // of an earlier pass stays.
    sampling::Guidance meet = g;
    meet.pad = sampling::Guidance::Pad::kEmpty;
    sampling::Guidance same = meet;
    same.cond = torch::randn({1, 77, 8});
    auto run = [&](const std::vector<sampling::Guidance>& per_call) {
        auto den = sampling::make_cfg_denoiser(inner, [per_call](int k) { return per_call.at(static_cast<size_t>(k)); });
        for (size_t k = 0; k < per_call.size(); ++k) den(x, sigma);
    };
    *meet.padded = false;
    run({meet, meet, same});
    EXPECT_FALSE(*meet.padded);
    run({same, meet});
    EXPECT_TRUE(*meet.padded);
    run({meet, same});  // a later pass (a new denoiser) keeps the first pass's note
    EXPECT_TRUE(*meet.padded);
}

// NGMS skips the uncond pass on every other call below its sigma, "NGMS all steps" on every one.
TEST(Denoiser, NgmsAllSteps) {
    int calls = 0, rows = 0;
    sampling::InnerDenoiser inner = [&](const torch::Tensor& x, const torch::Tensor&, const torch::Tensor&) {
        ++calls;
        rows += static_cast<int>(x.size(0));
        return x * 0;
    };
    sampling::Guidance g = sampling::simple_guidance(torch::randn({1, 77, 8}), torch::randn({1, 77, 8}), 7.0);
    g.s_min_uncond = 5;
    for (bool all : {false, true}) {
        g.s_min_uncond_all = all;
        rows = calls = 0;
        auto d = sampling::make_cfg_denoiser(inner, [g](int) { return g; });
        for (int i = 0; i < 4; ++i) d(torch::ones({1, 4, 2, 2}), torch::full({1}, 2.0f));
        EXPECT_EQ(calls, 4);
        EXPECT_EQ(rows, all ? 4 : 6) << all;  // cond + uncond on even calls only, or never
    }
}

// A1111's "Downcast alphas_cumprod" hands its timestep samplers a float16 alphas_cumprod, so some of
// their arithmetic is float16 there: 1 - a and its square root (DDIM, PLMS, the img2img start), the
// v-to-eps weights, the reciprocal in DDIM's eta term, UniPC's log alphas. DDIM with eta and a
// v model, written out here with those roundings, against the sampler given a kHalf table.
TEST(TimestepSamplers, DowncastAlphasRoundWhereA1111sFloat16TensorDoes) {
    const auto half = sampling::ModelSchedule::linear(0.00085, 0.012, 1000).alpha_override(true, false);
    const torch::Tensor ac32 = half.alphas_cumprod, ac16 = ac32.to(torch::kHalf);
    auto r16 = [](const torch::Tensor& t) { return t.to(torch::kHalf).to(torch::kFloat); };
    const auto cond = torch::ones({1});
    const sampling::InnerDenoiser inner16 = sampling::timestep_eps(toy_unet, ac16, Prediction::kV);
    const sampling::InnerDenoiser inner32 = sampling::timestep_eps(toy_unet, ac32, Prediction::kV);
    const sampling::Denoiser eps16 = [&](const torch::Tensor& x, const torch::Tensor& t) { return inner16(x, t, cond); };
    const sampling::Denoiser eps32 = [&](const torch::Tensor& x, const torch::Tensor& t) { return inner32(x, t, cond); };
    torch::manual_seed(21);
    const auto x0 = torch::randn({1, 4, 6, 6}) * 14.6;
    std::vector<torch::Tensor> noises;
    for (int i = 0; i < 8; ++i) noises.push_back(torch::randn({1, 4, 6, 6}));
    auto noise_fn = [&noises](size_t* k) { return [&noises, k] { return noises.at((*k)++); }; };

    // The v weights: sqrt(a) and sqrt(1 - a) of the float16 table, each rounded.
    const auto xt = torch::randn({1, 4, 6, 6});
    const auto t = torch::full({1}, 801.0f);
    const auto a = ac32[801];
    const auto want_eps = r16(torch::sqrt(a)) * toy_unet(xt, t, cond) + r16(torch::sqrt(r16(1 - a))) * xt;
    EXPECT_TRUE(torch::allclose(eps16(xt, t), want_eps, 0, 0));
    EXPECT_FALSE(torch::equal(eps16(xt, t), eps32(xt, t)));

    // DDIM, eta 0.5.
    const auto ts = sampling::ddim_timesteps(6);
    const double eta = 0.5;
    size_t k16 = 0, k32 = 0, kh = 0;
    const auto got = sampling::sample_ddim(eps16, x0.clone(), ts, ac16, eta, noise_fn(&k16), {});
    auto x = x0.clone();
    const int64_t n = ts.size(0);
    for (int64_t i = 0; i < n - 1; ++i) {
        const int64_t index = n - 1 - i;
        const auto a_t = ac32[ts[index]];
        const double a_t64 = a_t.item<double>();
        const double a_prev = ac32[index == 0 ? torch::tensor(0L) : ts[index - 1]].item<double>();
        const double recip = r16(1.0 / r16(1 - a_t)).item<double>();
        const float sigma_t = static_cast<float>(eta * std::sqrt(recip * (1 - a_prev) * (1 - a_t64 / a_prev)));
        const float s1m = r16(torch::sqrt(r16(1 - a_t))).item<float>();
        const auto e = eps16(x, torch::full({1}, static_cast<float>(ts[index].item<int64_t>())));
        const auto pred = (x - s1m * e) / std::sqrt(a_t.item<float>());
        const auto dir = std::sqrt(1.0f - static_cast<float>(a_prev) - sigma_t * sigma_t) * e;
        x = std::sqrt(static_cast<float>(a_prev)) * pred + dir + sigma_t * noises.at(kh++);
    }
    EXPECT_TRUE(torch::allclose(got, x, 1e-5, 1e-5)) << (got - x).abs().max().item<double>();
    const auto plain = sampling::sample_ddim(eps16, x0.clone(), ts, ac32, eta, noise_fn(&k32), {});
    EXPECT_GT((got - plain).abs().max().item<double>(), 1e-5);  // the roundings change the image

    // PLMS and UniPC take the same table: close to the float32 arithmetic, and not equal to it.
    for (const bool unipc : {false, true}) {
        SCOPED_TRACE(unipc ? "UniPC" : "PLMS");
        sampling::UniPCOptions o;
        const auto h = unipc ? sampling::sample_unipc(eps16, x0.clone(), 6, ac16, o, {}) : sampling::sample_plms(eps16, x0.clone(), ts, ac16, {});
        const auto f = unipc ? sampling::sample_unipc(eps16, x0.clone(), 6, ac32, o, {}) : sampling::sample_plms(eps16, x0.clone(), ts, ac32, {});
        ASSERT_TRUE(torch::isfinite(h).all().item<bool>());
        const double diff = (h - f).abs().max().item<double>();
        EXPECT_GT(diff, 1e-6);
        EXPECT_LT(diff, 5e-2 * f.abs().max().item<double>());
    }
}
