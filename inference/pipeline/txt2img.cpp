#include "txt2img.h"

#include <algorithm>

#include "../sampling/timestep_samplers.h"
#include "../status.h"

namespace sdgimp::pipeline {

using sampling::SamplerKind;

torch::Tensor sampler_sigmas(const SamplingSettings& s, const sampling::ModelSchedule& model, int steps) {
    const auto info = [&] {
        for (const auto& i : sampling::sampler_table())
            if (i.kind == s.sampler) return i;
        throw Error(ErrorCode::kInvalidRequest, "Unknown sampler.");
    }();
    // A1111 makes one sigma more and drops the next-to-last for the samplers that ask for it, and
    // for all of them with "Always discard next-to-last sigma".
    const bool discard = info.discard_next_to_last_sigma || s.always_discard_next_to_last_sigma;
    const int n = discard ? steps + 1 : steps;
    torch::Tensor sig;
    if (s.sampler == SamplerKind::kLCM) {
        sig = sampling::LcmSchedule::from(model).sigmas(s.schedule, n, s.schedule_overrides);
    } else {
        sampling::ScheduleKind kind = s.schedule;
        if (kind == sampling::ScheduleKind::kAutomatic) kind = *sampling::parse_schedule(info.automatic);
        sig = sampling::make_sigmas(kind, n, model, s.schedule_overrides);
    }
    return discard ? torch::cat({sig.slice(0, 0, -2), sig.slice(0, -1)}) : sig;
}

Img2ImgSteps img2img_steps(int steps, double strength, bool fix_steps) {
    // A1111 caps the strength at 0.999 so one step of the schedule always stays.
    const double d = std::min(strength, 0.999);
    if (fix_steps) return {static_cast<int>(steps / d), steps - 1};
    return {steps, static_cast<int>(d * steps)};
}

int img2img_callback_steps(const SamplingSettings& s, double strength) {
    const int t_enc = img2img_steps(s.steps, strength, s.img2img_fix_steps).t_enc;
    if (sampling::find_sampler_kind(s.sampler).timesteps) return std::max(t_enc, 0);
    return std::max(t_enc, 0) + 1;
}

namespace {

// alphas_cumprod as A1111's timestep samplers read it: float16 under "Downcast alphas_cumprod".
torch::Tensor timestep_alphas(const sampling::ModelSchedule& schedule) {
    return schedule.half_table ? schedule.alphas_cumprod.to(torch::kHalf) : schedule.alphas_cumprod;
}

// The UNet wrapped as A1111 wraps it for this sampler (k-diffusion's CompVis eps / v denoiser, the
// LCM one, or eps at timesteps for DDIM / PLMS / UniPC), before guidance.
sampling::InnerDenoiser inner_denoiser(const LatentModel& m, const SamplingSettings& s, const torch::Tensor& concat) {
    auto unet = m.unet(concat);
    if (sampling::find_sampler_kind(s.sampler).timesteps) return sampling::timestep_eps(unet, timestep_alphas(m.schedule), m.prediction);
    if (s.sampler == SamplerKind::kLCM) {
        auto lcm = std::make_shared<sampling::LcmSchedule>(sampling::LcmSchedule::from(m.schedule));
        return [lcm, unet](const torch::Tensor& x, const torch::Tensor& sigma, const torch::Tensor& cond) {
            return sampling::lcm_denoise(unet, *lcm, x, sigma, cond);
        };
    }
    return [unet, sched = m.schedule, pred = m.prediction](const torch::Tensor& x, const torch::Tensor& sigma, const torch::Tensor& cond) {
        return sampling::compvis_denoise(unet, sched, pred, x, sigma, cond);
    };
}

// InstructPix2Pix with an Image CFG scale other than 1 (A1111's is_edit_model): the guided batch is
// [prompt rows, negative rows, negative rows], the first two with the image latent, the last with
// zeros in its place.
sampling::InnerDenoiser edit_inner(const LatentModel& m, const SamplingSettings& s, const torch::Tensor& image) {
    // Built once for the batch size the sampler runs (it never changes within a run).
    auto built = std::make_shared<std::pair<int64_t, sampling::InnerDenoiser>>(-1, nullptr);
    return [m, s, image, built](const torch::Tensor& x, const torch::Tensor& sigma, const torch::Tensor& cond) {
        const int64_t k = x.size(0) / 3;
        if (built->first != k) {
            const auto img = image.size(0) == k ? image : image.repeat({k / image.size(0), 1, 1, 1});
            *built = {k, inner_denoiser(m, s, torch::cat({img, img, torch::zeros_like(img)}))};
        }
        return built->second(x, sigma, cond);
    };
}

bool edit_run(const LatentModel& m, const SamplingSettings& s, const torch::Tensor& concat) {
    return m.in_channels == 8 && concat.defined() && s.image_cfg_scale != 1.0;
}

sampling::GuidanceAt with_guidance_skips(const SamplingSettings& s, int steps, sampling::GuidanceAt g) {
    if (s.skip_early_cond <= 0 && s.s_min_uncond <= 0) return g;
    return [s, steps, g = std::move(g)](int call) {
        auto x = g(call);
        apply_guidance_skips(s, steps, &x);
        return x;
    };
}

// The sampler-facing denoiser with classifier-free guidance over `steps` sampler steps (what A1111
// launches the sampler with: the steps, t_enc + 1 for img2img; its total_steps doubles them for
// second-order samplers). DDIM CFG++ scales guidance by 1/12.5 and keeps the unconditional eps of
// each call in last_uncond. With a refiner, one guided denoiser whose network and prompts switch,
// so the call count runs on.
sampling::Denoiser guided_denoiser(const LatentModel& m, const SamplingSettings& s, const sampling::GuidanceAt& g, int steps,
                                   const torch::Tensor& concat, RefinerRun* refiner,
                                   const std::shared_ptr<torch::Tensor>& last_uncond = nullptr) {
    const bool edit = edit_run(m, s, concat);
    sampling::InnerDenoiser inner = edit ? edit_inner(m, s, concat) : inner_denoiser(m, s, concat);
    sampling::GuidanceAt guidance = with_guidance_skips(s, steps, g);
    if (edit) {
        if (refiner)
            throw Error(ErrorCode::kInvalidRequest, "A refiner cannot take over from an InstructPix2Pix model whose Image CFG scale is not 1; "
                                                    "turn the refiner off or set the Image CFG scale to 1.");
        if (s.sampler == SamplerKind::kDDIMCFGPP)
            throw Error(ErrorCode::kInvalidRequest, "DDIM CFG++ cannot guide an InstructPix2Pix model whose Image CFG scale is not 1; "
                                                    "choose another sampler or set the Image CFG scale to 1.");
        guidance = [g = std::move(guidance), icfg = s.image_cfg_scale](int call) {
            auto x = g(call);
            x.edit = true;
            x.image_cfg_scale = icfg;
            return x;
        };
    }
    auto on = std::make_shared<bool>(false);  // the refiner has taken over
    if (refiner) {
        inner = [on, first = std::move(inner), second = inner_denoiser(refiner->lm, s, concat)](
                    const torch::Tensor& x, const torch::Tensor& sigma, const torch::Tensor& cond) {
            return *on ? second(x, sigma, cond) : first(x, sigma, cond);
        };
        guidance = [on, first = std::move(guidance), second = with_guidance_skips(s, steps, refiner->guidance)](int call) {
            return *on ? second(call) : first(call);
        };
    }
    if (s.sampler == SamplerKind::kDDIMCFGPP) {
        guidance = [g = std::move(guidance)](int call) {
            auto x = g(call);
            x.cfg_scale = x.cfg_scale * (1.0 / 12.5);
            return x;
        };
    }
    auto cfg = sampling::make_cfg_denoiser(std::move(inner), std::move(guidance), last_uncond);
    if (!refiner) return cfg;
    // The switch reads the first model's table (LCM: its own 50 entries, as A1111's LCM denoiser has).
    torch::Tensor table;
    if (!sampling::find_sampler_kind(s.sampler).timesteps)
        table = (s.sampler == SamplerKind::kLCM ? sampling::LcmSchedule::from(m.schedule).table.sigmas : m.schedule.sigmas)
                    .to(torch::kFloat)
                    .cpu();  // once, not on every call
    const float at = static_cast<float>(refiner->switch_at);
    const int total = sampling::find_sampler_kind(s.sampler).second_order ? steps * 2 : steps;
    auto calls = std::make_shared<int>(0);
    return [cfg = std::move(cfg), on, table, at, total, calls, refiner](const torch::Tensor& x, const torch::Tensor& sigma) {
        const int call = (*calls)++;
        // A1111's "switch by sampling steps" option: the calls made over its total_steps, as Python floats.
        const bool reached = refiner->by_steps ? total > 0 && static_cast<double>(call) / total >= refiner->switch_at
                                               : refiner_completed_ratio(table, sigma) >= at;
        if (!*on && reached) *on = refiner->switched = true;
        return cfg(x, sigma);
    };
}

torch::Tensor run_timesteps(const SamplingSettings& s, const sampling::Denoiser& eps,
                            const std::shared_ptr<torch::Tensor>& last_uncond, const torch::Tensor& x,
                            const torch::Tensor& ts, const torch::Tensor& ac, sampling::ImageRNG& rng,
                            const sampling::StepCallback& cb, bool img2img) {
    if (s.sampler == SamplerKind::kPLMS) return sampling::sample_plms(eps, x, ts, ac, cb);
    if (s.sampler == SamplerKind::kUniPC) {
        // img2img starts UniPC at the last kept timestep (A1111: timesteps[-1] / 1000 + 1 / 1000).
        std::optional<torch::Tensor> t_start;
        if (img2img) t_start = ts[-1].to(torch::kFloat) / 1000 + 1.0 / 1000;
        return sampling::sample_unipc(eps, x, static_cast<int>(ts.size(0)), ac, s.unipc, cb, t_start);
    }
    if (s.sampler == SamplerKind::kDDIMCFGPP)
        return sampling::sample_ddim_cfgpp(eps, last_uncond, x, ts, ac, s.eta_ddim, [&] { return rng.next(); }, cb);
    return sampling::sample_ddim(eps, x, ts, ac, s.eta_ddim, [&] { return rng.next(); }, cb);
}

}  // namespace

float refiner_completed_ratio(const torch::Tensor& sigma_table, const torch::Tensor& sigma) {
    const torch::Tensor top = sigma.max().to(torch::kFloat).cpu();
    const int64_t t = sigma_table.defined() ? (sigma_table.to(torch::kFloat).cpu() - top).abs().argmin().item<int64_t>()
                                            : static_cast<int64_t>(top.item<float>());
    return static_cast<float>(999 - t) / 1000.0f;
}

torch::Tensor initial_latent(const SamplingSettings& s, const torch::Tensor& noise, const torch::Tensor& sigma0) {
    if (s.sgm_noise_multiplier) return noise * torch::sqrt(1.0 + sigma0.pow(2.0));
    return noise * sigma0;
}

namespace {

// img2img's first noise draw, scaled by A1111's noise multiplier.
torch::Tensor start_noise(const SamplingSettings& s, sampling::ImageRNG& rng) {
    auto n = rng.first();
    return s.noise_multiplier != 1.0 ? n * s.noise_multiplier : n;
}

}  // namespace

void apply_guidance_skips(const SamplingSettings& s, int steps, sampling::Guidance* g) {
    g->skip_early_cond = s.skip_early_cond;
    g->s_min_uncond = s.s_min_uncond;
    g->s_min_uncond_all = s.s_min_uncond_all;
    const auto& info = sampling::find_sampler_kind(s.sampler);
    g->total_steps = info.second_order ? steps * 2 : steps;
}

sampling::SamplerOptions sampler_options(const SamplingSettings& s, const std::vector<uint64_t>& seeds) {
    sampling::SamplerOptions opt;
    opt.eta = s.eta;
    opt.s_noise = s.s_noise;
    opt.s_churn = s.s_churn;
    opt.s_tmin = s.s_tmin;
    if (s.s_tmax > 0) opt.s_tmax = s.s_tmax;
    opt.seeds = seeds;
    opt.source = s.noise;
    return opt;
}

torch::Tensor txt2img_latents(const LatentModel& m, const sampling::GuidanceAt& guidance, const std::vector<uint64_t>& seeds,
                              int width, int height, const SamplingSettings& s, const sampling::StepCallback& cb,
                              const sampling::Variation& var, const torch::Tensor& concat, RefinerRun* refiner) {
    if (width % 8 || height % 8 || width < 8 || height < 8)
        throw Error(ErrorCode::kInvalidRequest, "Width and height must be positive multiples of 8.");
    sampling::ImageRNG rng(s.noise, seeds, {m.latent_channels, height / 8, width / 8}, s.eta_noise_seed_delta, var);
    if (sampling::find_sampler_kind(s.sampler).timesteps) {
        auto last_uncond = std::make_shared<torch::Tensor>();
        auto eps = guided_denoiser(m, s, guidance, s.steps, concat, refiner, last_uncond);
        return run_timesteps(s, eps, last_uncond, rng.first(), sampling::ddim_timesteps(s.steps), timestep_alphas(m.schedule), rng, cb, false);
    }
    auto sigmas = sampler_sigmas(s, m.schedule, s.steps);
    auto x = initial_latent(s, rng.first(), sigmas[0]);
    auto denoiser = guided_denoiser(m, s, guidance, s.steps, concat, refiner);
    sampling::SamplerOptions opt = sampler_options(s, seeds);
    // A1111 hands DPM fast / adaptive the model's whole sigma range for txt2img.
    opt.sigma_min = m.schedule.sigma_min();
    opt.sigma_max = m.schedule.sigma_max();
    return sampling::sample(s.sampler, denoiser, x, sigmas, [&] { return rng.next(); }, cb, opt);
}

torch::Tensor img2img_latents(const LatentModel& m, const sampling::GuidanceAt& guidance, const torch::Tensor& init_latent,
                              const std::vector<uint64_t>& seeds, double strength, const SamplingSettings& s,
                              const sampling::StepCallback& cb, const sampling::Variation& var,
                              const torch::Tensor& concat, const LatentBlend* blend, RefinerRun* refiner) {
    if (strength <= 0 || strength > 1) throw Error(ErrorCode::kInvalidRequest, "Denoising strength must be above 0 and at most 1.");
    const Img2ImgSteps st = img2img_steps(s.steps, strength, s.img2img_fix_steps);
    const int t_enc = st.t_enc;
    const bool timesteps = sampling::find_sampler_kind(s.sampler).timesteps;
    // A strength under 1 / steps: A1111 still runs its k-diffusion samplers one step (over the last
    // two sigmas); a timestep sampler would get no timesteps and return the noised start, so the
    // image stays as it is there.
    if (t_enc < 1 && timesteps) return init_latent;
    sampling::ImageRNG rng(s.noise, seeds, {init_latent.size(1), init_latent.size(2), init_latent.size(3)}, s.eta_noise_seed_delta, var);
    if (timesteps) {
        // A1111's timesteps img2img: the first t_enc timesteps, init noised to timesteps[t_enc].
        const auto ts = sampling::ddim_timesteps(st.steps);
        const auto ac = timestep_alphas(m.schedule);
        const auto a = ac[ts[std::min<int64_t>(t_enc, ts.size(0) - 1)]].to(torch::kFloat);
        const auto noise = start_noise(s, rng);
        const auto sqrt_a = sampling::alphas_dtype_arith(ac, torch::sqrt(a));
        const auto sqrt_1ma = sampling::alphas_dtype_arith(ac, torch::sqrt(sampling::alphas_dtype_arith(ac, 1 - a)));
        auto xi = init_latent * sqrt_a + noise * sqrt_1ma;
        if (s.extra_noise > 0) xi = xi + noise * s.extra_noise * sqrt_a;
        auto last_uncond = std::make_shared<torch::Tensor>();
        auto eps = guided_denoiser(m, s, guidance, t_enc + 1, concat, refiner, last_uncond);
        if (blend) {
            // A1111 masks timestep samplers before denoising: the kept area comes from the init latent.
            auto inner = eps;
            eps = [inner, blend](const torch::Tensor& xx, const torch::Tensor& t) { return inner(blend->at_step(xx, t), t); };
        }
        auto samples = run_timesteps(s, eps, last_uncond, xi, ts.slice(0, 0, t_enc), ac, rng, cb, true);
        return blend ? blend->at_end(samples) : samples;
    }
    auto sigmas = sampler_sigmas(s, m.schedule, st.steps);
    auto sched = sigmas.slice(0, st.steps - t_enc - 1);
    const auto noise = start_noise(s, rng);
    // A1111's sample_img2img scales the noise by sigma0 alone (no SGM noise multiplier here).
    auto x = init_latent + noise * sched[0];
    if (s.extra_noise > 0) x = x + noise * s.extra_noise;
    auto denoiser = guided_denoiser(m, s, guidance, t_enc + 1, concat, refiner);
    if (blend) {
        denoiser = [inner = std::move(denoiser), blend](const torch::Tensor& xx, const torch::Tensor& sigma) {
            return blend->at_step(inner(xx, sigma), sigma);
        };
    }
    const sampling::SamplerOptions opt = sampler_options(s, seeds);
    auto samples = sampling::sample(s.sampler, denoiser, x, sched, [&] { return rng.next(); }, cb, opt);
    return blend ? blend->at_end(samples) : samples;
}

}  // namespace sdgimp::pipeline
