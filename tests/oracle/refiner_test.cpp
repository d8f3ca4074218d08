// A1111's "Refiner" (apply_refiner in 1.10): the switch point read from the sigma the denoiser
// gets (the model table's nearest timestep t, completed when (999 - t) / 1000 >= switch at; the
// timestep itself for DDIM/PLMS/UniPC), the run finished on the refiner's UNet with its own
// encoding of the prompts, checked against samplers driven by hand; the engine's record, paste,
// refusals and its place in Hires. fix, img2img and inpainting.
#include <gtest/gtest.h>

#include <clocale>
#include <cstdio>
#include <cmath>
#include <unistd.h>

#include "engine/engine.h"
#include "io/hash_cache.h"
#include "io/mapped_file.h"
#include "pipeline/conditioning.h"
#include "pipeline/generate.h"
#include "pipeline/sd_model.h"
#include "pipeline/txt2img.h"
#include "sampling/denoiser.h"
#include "sampling/noise.h"
#include "sampling/schedules.h"
#include "sampling/timestep_samplers.h"
#include "support/checkpoint_variant.h"
#include "support/oracle.h"
#include "support/vocab.h"

using namespace sdgimp;

namespace {

// The completed ratio written out: the first table entry nearest the sigma, by a plain loop.
float ratio_by_hand(const torch::Tensor& table, float sigma) {
    int64_t best = 0;
    float best_d = std::abs(table[0].item<float>() - sigma);
    for (int64_t i = 1; i < table.size(0); ++i) {
        const float d = std::abs(table[i].item<float>() - sigma);
        if (d < best_d) best = i, best_d = d;
    }
    return static_cast<float>(999 - best) / 1000.0f;
}

GenerateRequest small_request() {
    GenerateRequest r;
    r.prompt = "a red house";
    r.negative_prompt = "blurry";
    r.seed = 21;
    r.subseed = 22;
    r.steps = 6;
    r.width = r.height = 64;
    r.rng = "CPU";
    r.sampler = "Euler";
    return r;
}

struct TwoModels {
    std::string dir, a, b;
    std::shared_ptr<pipeline::SDModel> ma, mb;
    const test::OracleModel* mdl = nullptr;
    ~TwoModels() {
        for (const char* n : {"first", "second"})
            for (const char* ext : {".safetensors", ".yaml", ".json"}) ::unlink((dir + "/" + n + ext).c_str());
        ::rmdir(dir.c_str());
    }
};

// The first oracle model without an inpainting UNet, and a variant of it with other UNet weights.
std::unique_ptr<TwoModels> two_models(const std::vector<test::OracleModel>& models) {
    auto t = std::make_unique<TwoModels>();
    for (const auto& m : models)
        if (!t->mdl && pipeline::load_sd_model(m.checkpoints.front())->cfg.unet.in_channels == 4) t->mdl = &m;
    if (!t->mdl) return nullptr;
    char tmpl[] = "/tmp/gd-refiner-XXXXXX";
    if (!::mkdtemp(tmpl)) return nullptr;
    t->dir = tmpl;
    t->a = test::write_variant(*t->mdl, t->dir, "first", 1.0f);
    t->b = test::write_variant(*t->mdl, t->dir, "second", 1.1f);
    t->ma = pipeline::load_sd_model(t->a);
    t->mb = pipeline::load_sd_model(t->b);
    return t;
}

}  // namespace

TEST(Refiner, CompletedRatioFollowsA1111) {
    const auto sched = sampling::ModelSchedule::linear(0.00085, 0.012, 1000);
    for (auto kind : {sampling::ScheduleKind::kKarras, sampling::ScheduleKind::kUniform, sampling::ScheduleKind::kExponential}) {
        const auto sigmas = sampling::make_sigmas(kind, 12, sched);
        for (int64_t i = 0; i + 1 < sigmas.size(0); ++i) {
            const float s = sigmas[i].item<float>();
            // A batch's largest sigma counts.
            const auto batch = torch::tensor({s * 0.5f, s, s * 0.25f});
            EXPECT_EQ(pipeline::refiner_completed_ratio(sched.sigmas, batch), ratio_by_hand(sched.sigmas, s)) << i;
        }
    }
    // Exactly the table's entry for t = 199: 0.8 as float32, which is "at" a switch of 0.8.
    EXPECT_EQ(pipeline::refiner_completed_ratio(sched.sigmas, sched.sigmas.slice(0, 199, 200)), 0.8f);
    EXPECT_EQ(pipeline::refiner_completed_ratio(sched.sigmas, sched.sigmas.slice(0, 999, 1000)), 0.0f);
    // Timestep samplers: the timestep truncated.
    EXPECT_EQ(pipeline::refiner_completed_ratio({}, torch::tensor({801.7f, 12.0f})), 198.0f / 1000.0f);
    EXPECT_EQ(pipeline::refiner_completed_ratio({}, torch::tensor({0.5f})), 0.999f);
}

// The pipeline against samplers driven by hand: Euler (k-diffusion) and DDIM (timesteps) with a
// denoiser that is A's until the ratio reaches the switch point and B's (B's prompts) after it.
TEST(Refiner, PassSwitchesToTheRefinerAtItsPoint) {
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    auto two = two_models(models);
    if (!two) GTEST_SKIP() << "the oracle has no model without an inpainting UNet";
    text::ClipTokenizer tok(test::vocab_path());
    const GenerateRequest base = small_request();
    const auto enc = [&](const pipeline::SDModel& m) {
        return pipeline::encode_run_cached(nullptr, m, tok, base.prompt, base.negative_prompt, base.steps, 1, base.cfg_scale,
                                           pipeline::TextSettings{});
    };
    const auto ca = enc(*two->ma), cb = enc(*two->mb);
    const auto la = two->ma->latent_model(), lb = two->mb->latent_model();
    for (const std::string sampler : {"Euler", "DDIM"}) {
        GenerateRequest r = base;
        r.sampler = sampler;
        const pipeline::SamplingSettings s = pipeline::sampling_settings(r);
        int switched_at_call = -1;
        auto by_hand = [&](double at, bool by_steps = false) {
            const bool ts = sampler == "DDIM";
            auto da = ts ? sampling::make_cfg_denoiser(sampling::timestep_eps(la.unet({}), la.schedule.alphas_cumprod, la.prediction),
                                                       [ca](int c) { return ca->at(c); })
                         : sampling::make_cfg_denoiser(la.unet({}), la.schedule, la.prediction, [ca](int c) { return ca->at(c); });
            auto db = ts ? sampling::make_cfg_denoiser(sampling::timestep_eps(lb.unet({}), lb.schedule.alphas_cumprod, lb.prediction),
                                                       [cb](int c) { return cb->at(c); })
                         : sampling::make_cfg_denoiser(lb.unet({}), lb.schedule, lb.prediction, [cb](int c) { return cb->at(c); });
            int call = 0;
            switched_at_call = -1;
            sampling::Denoiser both = [&](const torch::Tensor& x, const torch::Tensor& sigma) {
                const float v = sigma.max().item<float>();
                const float done = ts ? static_cast<float>(999 - static_cast<int64_t>(v)) / 1000.0f : ratio_by_hand(la.schedule.sigmas, v);
                const bool reached = by_steps ? static_cast<double>(call) / r.steps >= at : done >= static_cast<float>(at);
                if (switched_at_call < 0 && reached) switched_at_call = call;
                ++call;
                return switched_at_call >= 0 ? db(x, sigma) : da(x, sigma);
            };
            sampling::ImageRNG rng(s.noise, {21}, {4, 8, 8});
            if (ts)
                return sampling::sample_ddim(both, rng.first(), sampling::ddim_timesteps(r.steps), la.schedule.alphas_cumprod, 0.0,
                                             [&] { return rng.next(); }, {});
            const auto sigmas = pipeline::sampler_sigmas(s, la.schedule, r.steps);
            return sampling::sample(s.sampler, both, rng.first() * sigmas[0], sigmas, [&] { return rng.next(); }, {});
        };
        pipeline::RunHooks hooks;
        bool switched = false;
        hooks.refiner = two->mb.get();
        hooks.refiner_switched = &switched;
        const auto plain = pipeline::generate_txt2img(*two->ma, tok, r, {}).latents;
        const auto all_b = pipeline::generate_txt2img(*two->mb, tok, r, {}).latents;
        for (double at : {0.3, 0.7, 1.0}) {
            hooks.refiner_switch_at = at;
            switched = false;
            const auto got = pipeline::generate_txt2img(*two->ma, tok, r, hooks);
            const auto want = by_hand(at);
            EXPECT_TRUE(torch::allclose(got.latents, want, 1e-5, 1e-5))
                << sampler << " at " << at << ": " << (got.latents - want).abs().max().item<float>();
            EXPECT_EQ(switched, switched_at_call >= 0) << sampler << " at " << at;
            if (at == 1.0) {
                // (999 - t) / 1000 never reaches 1: the run is the model's own.
                EXPECT_EQ(switched_at_call, -1);
                EXPECT_TRUE(torch::equal(got.latents, plain));
            } else {
                // Switched partway: neither model's run alone.
                EXPECT_GT(switched_at_call, 0) << sampler << " at " << at;
                EXPECT_FALSE(torch::allclose(got.latents, plain, 1e-4, 1e-4)) << sampler << " at " << at;
                EXPECT_FALSE(torch::allclose(got.latents, all_b, 1e-4, 1e-4)) << sampler << " at " << at;
                // The refiner's VAE decodes: the images are B's decoding of the latents.
                const auto decoded = pipeline::to_uint8_images(two->mb->decode_first_stage(got.latents));
                EXPECT_TRUE(torch::equal(got.images, decoded));
            }
        }
        // A1111's "switch by sampling steps": calls over the steps (4 of 6 done at 0.6).
        hooks.refiner_by_steps = true;
        hooks.refiner_switch_at = 0.6;
        const auto got = pipeline::generate_txt2img(*two->ma, tok, r, hooks);
        const auto want = by_hand(0.6, true);
        EXPECT_EQ(switched_at_call, 4);
        EXPECT_TRUE(torch::allclose(got.latents, want, 1e-5, 1e-5)) << sampler << " by steps";
        hooks.refiner_by_steps = false;
    }
}

// The engine: found by name beside the model, recorded as A1111 records it only when it switched,
// pasted back to the same image; Hires. fix's pass choice; img2img and inpainting; refusals.
TEST(Refiner, EngineRecordsPastesAndRefuses) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    auto two = two_models(models);
    if (!two) GTEST_SKIP() << "the oracle has no model without an inpainting UNet";
    Engine engine;
    ASSERT_TRUE(engine.load_model({two->a, "", test::vocab_path()}, nullptr).ok);
    const std::string hash = io::cached_sha256(*io::MappedFile::open(two->b)).substr(0, 10);
    GenerateRequest r = small_request();
    std::vector<GeneratedImage> plain, out, again;
    ASSERT_TRUE(engine.txt2img(r, {}, &plain).ok);
    r.refiner_checkpoint = "second";
    r.refiner_switch_at = 0.5;
    Status st = engine.txt2img(r, {}, &out);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_NE(out[0].image.pixels, plain[0].image.pixels);
    EXPECT_NE(out[0].infotext.find(", Refiner: second [" + hash + "], Refiner switch at: 0.5, Version: v1.10.1"), std::string::npos)
        << out[0].infotext;
    GenerateRequest pasted;
    EXPECT_TRUE(apply_parameters(out[0].infotext, &pasted).empty());
    EXPECT_EQ(pasted.refiner_checkpoint, "second [" + hash + "]");
    EXPECT_DOUBLE_EQ(pasted.refiner_switch_at, 0.5);
    ASSERT_TRUE(engine.txt2img(pasted, {}, &again).ok);
    EXPECT_EQ(again[0].image.pixels, out[0].image.pixels);
    // A text without a refiner turns it off again.
    EXPECT_TRUE(apply_parameters(plain[0].infotext, &pasted).empty());
    EXPECT_EQ(pasted.refiner_checkpoint, "");
    // Never switching (1.0), "None" and the model's own file: the plain image, no record.
    for (const std::string& spec : {std::string("second"), std::string("None"), two->a}) {
        GenerateRequest q = r;
        q.refiner_checkpoint = spec;
        q.refiner_switch_at = spec == "second" ? 1.0 : 0.5;
        ASSERT_TRUE(engine.txt2img(q, {}, &again).ok) << spec;
        EXPECT_EQ(again[0].image.pixels, plain[0].image.pixels) << spec;
        EXPECT_EQ(again[0].infotext.find("Refiner"), std::string::npos) << again[0].infotext;
    }

    // Hires. fix: by default the refiner joins the second pass only (no "Hires refiner" key);
    // the first pass or both are recorded as A1111's setting.
    GenerateRequest h = r;
    h.enable_hr = true;
    h.hr_scale = 1.5;
    h.denoising_strength = 0.6;
    h.steps = 8;
    h.refiner_switch_at = 0.6;
    std::vector<GeneratedImage> second_pass, first_pass, both, none;
    GenerateRequest h0 = h;
    h0.refiner_checkpoint.clear();
    ASSERT_TRUE(engine.txt2img(h0, {}, &none).ok);
    ASSERT_TRUE(engine.txt2img(h, {}, &second_pass).ok);
    EXPECT_NE(second_pass[0].infotext.find("Hires upscaler: Latent, Refiner: second [" + hash + "], Refiner switch at: 0.6"), std::string::npos)
        << second_pass[0].infotext;
    h.hr_refiner_pass = "first pass";
    ASSERT_TRUE(engine.txt2img(h, {}, &first_pass).ok);
    EXPECT_NE(first_pass[0].infotext.find("Hires refiner: first pass, Refiner: second [" + hash + "]"), std::string::npos)
        << first_pass[0].infotext;
    h.hr_refiner_pass = "both passes";
    ASSERT_TRUE(engine.txt2img(h, {}, &both).ok);
    EXPECT_NE(both[0].infotext.find("Hires refiner: both passes, Refiner: second"), std::string::npos) << both[0].infotext;
    EXPECT_NE(second_pass[0].image.pixels, none[0].image.pixels);
    EXPECT_NE(first_pass[0].image.pixels, second_pass[0].image.pixels);
    EXPECT_NE(both[0].image.pixels, first_pass[0].image.pixels);
    EXPECT_NE(both[0].image.pixels, second_pass[0].image.pixels);
    ASSERT_TRUE(apply_parameters(both[0].infotext, &pasted).empty());
    EXPECT_EQ(pasted.hr_refiner_pass, "both passes");
    ASSERT_TRUE(engine.txt2img(pasted, {}, &again).ok);
    EXPECT_EQ(again[0].image.pixels, both[0].image.pixels);

    // img2img and inpainting switch too (a strength whose steps reach the switch point).
    Image init;
    init.width = init.height = 64;
    init.channels = 3;
    init.pixels.resize(64 * 64 * 3);
    for (size_t i = 0; i < init.pixels.size(); ++i) init.pixels[i] = static_cast<uint8_t>((i * 37) % 251);
    GenerateRequest i2i = r;
    i2i.denoising_strength = 0.75;
    i2i.refiner_switch_at = 0.5;
    GenerateRequest i2i_plain = i2i;
    i2i_plain.refiner_checkpoint.clear();
    std::vector<GeneratedImage> ia, ib;
    ASSERT_TRUE(engine.img2img(i2i_plain, init, {}, &ia).ok);
    ASSERT_TRUE(engine.img2img(i2i, init, {}, &ib).ok);
    EXPECT_NE(ia[0].image.pixels, ib[0].image.pixels);
    EXPECT_NE(ib[0].infotext.find("Refiner: second [" + hash + "], Refiner switch at: 0.5"), std::string::npos) << ib[0].infotext;
    Image mask;
    mask.width = mask.height = 64;
    mask.channels = 1;
    mask.pixels.assign(64 * 64, 0);
    for (int y = 16; y < 48; ++y)
        for (int x = 16; x < 48; ++x) mask.pixels[static_cast<size_t>(y * 64 + x)] = 255;
    std::vector<GeneratedImage> pa, pb;
    ASSERT_TRUE(engine.inpaint(i2i_plain, init, mask, {}, &pa).ok);
    st = engine.inpaint(i2i, init, mask, {}, &pb);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_NE(pa[0].image.pixels, pb[0].image.pixels);
    EXPECT_NE(pb[0].infotext.find("Refiner: second ["), std::string::npos) << pb[0].infotext;
    // The unselected area stays the user's in both.
    EXPECT_EQ(pb[0].image.pixels[0], init.pixels[0]);

    // Refused before any step: a refiner that is not there, a switch point out of range, one of
    // another family or kind.
    int done = 0;
    RunCallbacks cb;
    cb.progress = [&](int d, int) { done = d; };
    GenerateRequest bad = r;
    bad.refiner_checkpoint = "missing [0000000000]";
    st = engine.txt2img(bad, cb, &out);
    EXPECT_NE(st.message.find("The refiner \"missing [0000000000]\" was not found: put missing.safetensors beside first"), std::string::npos)
        << st.message;
    bad.refiner_checkpoint = "second";
    bad.refiner_switch_at = 0;
    st = engine.txt2img(bad, cb, &out);
    EXPECT_NE(st.message.find("The refiner switch point must be between 0.01 and 1."), std::string::npos) << st.message;
    bad.refiner_switch_at = 0.5;
    bad.enable_hr = true;
    bad.denoising_strength = 0.5;
    bad.hr_refiner_pass = "third pass";
    st = engine.txt2img(bad, cb, &out);
    EXPECT_NE(st.message.find("Hires refiner must be"), std::string::npos) << st.message;
    bad.enable_hr = false;
    bad.hr_refiner_pass = "second pass";
    EXPECT_EQ(done, 0);
    // Every pair of oracle models: another family, or an inpainting UNet after a plain one (and
    // the other way round), is refused in one sentence before any step.
    int kinds = 0;
    for (const auto& first : models) {
        const auto fm = pipeline::load_sd_model(first.checkpoints.front());
        Engine e;
        ASSERT_TRUE(e.load_model({first.checkpoints.front(), "", test::vocab_path()}, nullptr).ok);
        for (const auto& other : models) {
            if (&other == &first) continue;
            const auto probe = pipeline::load_sd_model(other.checkpoints.front());
            const bool same_family = probe->cfg.text.kind == fm->cfg.text.kind && probe->cfg.text.width == fm->cfg.text.width &&
                                     probe->cfg.unet.context_dim == fm->cfg.unet.context_dim;
            GenerateRequest q = small_request();
            q.refiner_checkpoint = other.checkpoints.front();
            q.refiner_switch_at = 0.5;
            done = 0;
            st = e.txt2img(q, cb, &out);
            if (!same_family) {
                EXPECT_NE(st.message.find("choose a refiner of the same family"), std::string::npos) << st.message;
                EXPECT_EQ(done, 0);
            } else if (probe->cfg.unet.in_channels != fm->cfg.unet.in_channels) {
                const std::string want = probe->cfg.unet.in_channels == 9 ? "is an inpainting model and the model it takes over from is not"
                                                                           : "is not an inpainting model and the model it takes over from is";
                EXPECT_NE(st.message.find(want + "; choose a refiner of the same kind."), std::string::npos) << st.message;
                EXPECT_EQ(done, 0);
                ++kinds;
            }
        }
    }
    std::printf("refiner kind refusals checked: %d\n", kinds);
}
