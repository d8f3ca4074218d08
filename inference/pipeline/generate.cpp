#include "generate.h"

#include <random>

#include "../imaging/resample.h"
#include "../status.h"
#include "conditioning.h"
#include "hires_fix.h"

namespace sdgimp::pipeline {

GenerateRequest with_resolved_seeds(GenerateRequest r) {
    std::random_device rd;
    std::uniform_int_distribution<int64_t> dist(0, 4294967293LL);
    if (r.seed == -1) r.seed = dist(rd);
    if (r.subseed == -1) r.subseed = dist(rd);
    return r;
}

SamplingSettings sampling_settings(const GenerateRequest& r) {
    SamplingSettings s;
    const auto info = sampling::find_sampler(r.sampler);
    if (!info) {
        std::string names;
        for (const auto& i : sampling::sampler_table()) names += std::string(names.empty() ? "" : ", ") + i.name;
        throw Error(ErrorCode::kInvalidRequest, "Unknown sampler \"" + r.sampler + "\"; choose one of: " + names + ".");
    }
    s.sampler = info->kind;
    const auto sched = sampling::parse_schedule(r.schedule);
    if (!sched) throw Error(ErrorCode::kInvalidRequest, "Unknown schedule type \"" + r.schedule + "\"; use one of A1111's: Automatic, Uniform, Karras, Exponential, Polyexponential, SGM Uniform, KL Optimal, Align Your Steps, Simple, Normal, DDIM, Beta.");
    s.schedule = *sched;
    s.steps = r.steps;
    s.cfg_scale = r.cfg_scale;
    // "GPU" is what A1111 draws on an NVIDIA card: CUDA's Philox, which the NV source reproduces.
    s.noise = r.rng == "CPU" ? sampling::NoiseSource::kCPU : sampling::NoiseSource::kNV;
    s.eta_noise_seed_delta = r.eta_noise_seed_delta;
    s.img2img_fix_steps = r.img2img_fix_steps;
    s.eta = r.eta_ancestral;
    s.eta_ddim = r.eta_ddim;
    s.s_churn = r.s_churn;
    s.s_tmin = r.s_tmin;
    s.s_tmax = r.s_tmax;
    s.s_noise = r.s_noise;
    s.s_min_uncond = r.s_min_uncond;
    s.skip_early_cond = r.skip_early_cond;
    s.sgm_noise_multiplier = r.sgm_noise_multiplier;
    s.unipc.variant = r.unipc_variant;
    s.unipc.skip_type = r.unipc_skip_type;
    s.unipc.order = r.unipc_order;
    s.unipc.lower_order_final = r.unipc_lower_order_final;
    if (s.sampler == sampling::SamplerKind::kUniPC) sampling::check_unipc(s.unipc, r.steps);
    return s;
}

torch::Tensor latent_preview(const torch::Tensor& latent) {
    static const float kCoefs[4][3] = {{0.298f, 0.207f, 0.208f},
                                       {0.187f, 0.286f, 0.173f},
                                       {-0.158f, 0.189f, 0.264f},
                                       {-0.184f, -0.271f, -0.473f}};
    auto coefs = torch::from_blob(const_cast<float*>(&kCoefs[0][0]), {4, 3}).to(latent.dtype());
    auto rgb = torch::einsum("lxy,lr->rxy", {latent.slice(0, 0, 4), coefs});
    return ((rgb + 1) / 2).clamp(0, 1);
}

int schedule_steps(const GenerateRequest& r) {
    const auto info = sampling::find_sampler(r.sampler);
    return r.steps * (info && info->second_order ? 2 : 1);
}

TextSettings text_settings(const GenerateRequest& r, const RunHooks& hooks) {
    TextSettings t;
    t.embeddings = hooks.embeddings;
    t.emphasis = text::parse_emphasis_mode(r.emphasis);
    t.clip_skip = r.clip_skip;
    return t;
}

namespace {

struct RunState {
    const RunHooks& hooks;
    int done = 0, total = 0;
};

sampling::StepCallback step_callback(RunState& st) {
    return [&st](int step, int, const torch::Tensor& denoised) {
        ++st.done;
        if (st.hooks.progress) st.hooks.progress(st.done, st.total);
        if (st.hooks.preview && st.hooks.preview_every > 0 && (step + 1) % st.hooks.preview_every == 0)
            st.hooks.preview(latent_preview(denoised[0]));
        if (st.hooks.cancelled && st.hooks.cancelled()) throw Cancelled();
    };
}

torch::Tensor decode_images(const SDModel& m, const torch::Tensor& samples) {
    std::vector<torch::Tensor> out;
    for (int64_t i = 0; i < samples.size(0); ++i) out.push_back(to_uint8_images(m.decode_first_stage(samples.slice(0, i, i + 1))));
    return torch::cat(out);
}

template <typename SampleFn>
GeneratedBatch run_batches(const SDModel& m, const text::ClipTokenizer& tok, const GenerateRequest& r,
                           int steps_per_iteration, const RunHooks& hooks, SampleFn sample) {
    if (r.seed < 0 || r.subseed < 0) throw Error(ErrorCode::kInternal, "Seeds must be resolved before a run.");
    const auto cond_ptr = encode_run_cached(hooks.conditioning_cache, m, tok, r.prompt, r.negative_prompt,
                                            schedule_steps(r), r.batch_size, r.cfg_scale, text_settings(r, hooks));
    const RunConditioning& cond = *cond_ptr;
    RunState st{hooks};
    st.total = steps_per_iteration * r.batch_count;
    const int n = r.batch_size * r.batch_count;
    const auto all_seeds = sampling::batch_seeds(static_cast<uint64_t>(r.seed), n, r.subseed_strength);
    const auto all_subs = sampling::batch_seeds(static_cast<uint64_t>(r.subseed), n, 0);
    GeneratedBatch out;
    std::vector<torch::Tensor> images, latents;
    for (int it = 0; it < r.batch_count; ++it) {
        const auto b0 = all_seeds.begin() + it * r.batch_size;
        const auto s0 = all_subs.begin() + it * r.batch_size;
        std::vector<uint64_t> seeds(b0, b0 + r.batch_size), subs(s0, s0 + r.batch_size);
        sampling::Variation var;
        var.subseeds = subs;
        var.strength = r.subseed_strength;
        var.resize_from_w = r.seed_resize_from_w;
        var.resize_from_h = r.seed_resize_from_h;
        torch::Tensor samples = sample([&cond](int call) { return cond.at(call); }, seeds, var, step_callback(st));
        images.push_back(decode_images(m, samples));
        latents.push_back(samples.to(torch::kFloat).cpu());
        for (int i = 0; i < r.batch_size; ++i) {
            out.seeds.push_back(static_cast<int64_t>(seeds[static_cast<size_t>(i)]));
            out.subseeds.push_back(static_cast<int64_t>(subs[static_cast<size_t>(i)]));
        }
    }
    out.images = torch::cat(images);
    out.latents = torch::cat(latents);
    return out;
}

}  // namespace

namespace {

// The request the hires pass runs: its sampler, schedule, steps, prompts and size.
GenerateRequest hires_request(const GenerateRequest& r) {
    GenerateRequest h = r;
    if (!r.hr_sampler.empty() && r.hr_sampler != "Use same sampler") h.sampler = r.hr_sampler;
    if (!r.hr_schedule.empty() && r.hr_schedule != "Use same scheduler") h.schedule = r.hr_schedule;
    if (r.hr_second_pass_steps > 0) h.steps = r.hr_second_pass_steps;
    if (!r.hr_prompt.empty()) h.prompt = r.hr_prompt;
    if (!r.hr_negative_prompt.empty()) h.negative_prompt = r.hr_negative_prompt;
    const HiresSize size = hires_size(r);
    h.width = size.width();
    h.height = size.height();
    h.enable_hr = false;
    return h;
}

Image to_image(const torch::Tensor& hwc) {
    const auto t = hwc.to(torch::kCPU).contiguous();
    Image img{static_cast<int>(t.size(1)), static_cast<int>(t.size(0)), 3, {}};
    img.pixels.assign(t.data_ptr<uint8_t>(), t.data_ptr<uint8_t>() + t.numel());
    return img;
}

// (1, 3, H, W) in [0, 1], as A1111 reads the resized image back.
torch::Tensor from_image(const Image& img) {
    auto px = torch::from_blob(const_cast<uint8_t*>(img.pixels.data()), {img.height, img.width, img.channels}, torch::kUInt8);
    return px.slice(2, 0, 3).permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat) / 255.0;
}

// A1111's conditioning of a 9-channel model over a whole image: a full mask beside the latent of
// `image` (the posterior mean stands in for A1111's unseeded sample).
torch::Tensor full_mask_concat(const SDModel& m, const torch::Tensor& image) {
    const auto lat = m.cfg.scale_factor * m.encode_posterior(image).first;
    return torch::cat({torch::ones({lat.size(0), 1, lat.size(2), lat.size(3)}, lat.options()), lat}, 1);
}

// The second pass of A1111's Hires. fix (sample_hr_pass) for one iteration's first-pass latents.
class HiresPass {
public:
    HiresPass(const SDModel& m, const text::ClipTokenizer& tok, const GenerateRequest& r, const RunHooks& hooks)
        : m_(m), tok_(tok), r_(r), hooks_(hooks), hr_(hires_request(r)), s_(sampling_settings(hr_)), size_(hires_size(r)),
          lm_(m.latent_model()) {}

    // The sampler steps the pass runs (what progress counts).
    int steps() const { return img2img_callback_steps(s_, r_.denoising_strength); }

    torch::Tensor run(const torch::Tensor& samples, const std::vector<uint64_t>& seeds, const sampling::Variation& var,
                      const sampling::StepCallback& cb) {
        const int64_t rows = size_.upscale_to_y / 8, cols = size_.upscale_to_x / 8;
        const bool inpainting = m_.cfg.unet.in_channels == 9;
        const double w = r_.inpainting_mask_weight;
        torch::Tensor init;
        std::vector<torch::Tensor> concats;  // per image, or one for all
        if (is_latent_upscaler(r_.hr_upscaler)) {
            init = upscale_latents(samples, r_.hr_upscaler, rows, cols);
            if (inpainting && w < 1.0) {
                for (int64_t i = 0; i < init.size(0); ++i) {
                    const auto decoded = m_.decode_first_stage(init.slice(0, i, i + 1)).to(torch::kFloat);
                    concats.push_back(full_mask_concat(m_, torch::lerp(decoded, torch::zeros_like(decoded), w)));
                }
            } else if (inpainting) {
                concats.push_back(full_mask_concat(m_, torch::zeros({1, 3, rows * 8, cols * 8})));
            }
        } else {
            std::vector<torch::Tensor> lats;
            for (int64_t i = 0; i < samples.size(0); ++i) {
                const Image low = to_image(to_uint8_images(m_.decode_first_stage(samples.slice(0, i, i + 1)))[0]);
                const Image up = upscale(low);
                const auto x01 = from_image(up);
                auto [mean, std] = m_.encode_posterior(x01 * 2 - 1);
                const auto eps = hooks_.vae_noise ? hooks_.vae_noise(mean) : torch::randn_like(mean);
                lats.push_back(m_.cfg.scale_factor * (mean + std * eps));
                // A1111 hands the conditioning the [0, 1] image here (not [-1, 1]), blanked by the weight.
                if (inpainting) concats.push_back(full_mask_concat(m_, x01 * (1.0 - w)));
            }
            init = torch::cat(lats);
        }
        init = truncate_latents(init, size_.truncate_x, size_.truncate_y);
        for (auto& c : concats) c = truncate_latents(c, size_.truncate_x, size_.truncate_y);
        if (hooks_.use_networks) hooks_.use_networks(true);
        if (!cond_)
            cond_ = encode_run_cached(hooks_.conditioning_cache, m_, tok_, hr_.prompt, hr_.negative_prompt, schedule_steps(r_),
                                      r_.batch_size, r_.cfg_scale, text_settings(r_, hooks_), schedule_steps(hr_));
        bool shared_concat = concats.size() <= 1;
        for (size_t i = 1; i < concats.size(); ++i) shared_concat = shared_concat && torch::equal(concats[i], concats[0]);
        if (shared_concat) {
            const auto concat = concats.empty() ? torch::Tensor() : concats[0].slice(0, 0, 1);
            const auto cond = cond_;
            return img2img_latents(lm_, [cond](int call) { return cond->at(call); }, init, seeds, r_.denoising_strength, s_, cb,
                                   var, concat);
        }
        // Images whose conditioning differs run one by one (each image's noise has its own
        // generator, so this draws the same noise as a batch).
        auto single = std::make_shared<RunConditioning>(*cond_);
        single->batch = 1;
        std::vector<torch::Tensor> out;
        for (size_t i = 0; i < seeds.size(); ++i) {
            sampling::Variation v = var;
            if (!var.subseeds.empty()) v.subseeds = {var.subseeds[i]};
            const auto k = static_cast<int64_t>(i);
            out.push_back(img2img_latents(lm_, [single](int call) { return single->at(call); }, init.slice(0, k, k + 1), {seeds[i]},
                                          r_.denoising_strength, s_, cb, v, concats[i]));
        }
        return torch::cat(out);
    }

private:
    Image upscale(const Image& low) const {
        const int tw = size_.upscale_to_x, th = size_.upscale_to_y;
        if (hooks_.hires_upscale) return hooks_.hires_upscale(low, tw, th);
        if (r_.hr_upscaler == "None" || r_.hr_upscaler == "Lanczos") return imaging::resize(low, tw, th, imaging::Filter::kLanczos);
        throw Error(ErrorCode::kInvalidRequest, "The hires upscaler \"" + r_.hr_upscaler + "\" is not available here; use Latent or Lanczos.");
    }

    const SDModel& m_;
    const text::ClipTokenizer& tok_;
    const GenerateRequest& r_;
    const RunHooks& hooks_;
    const GenerateRequest hr_;
    const SamplingSettings s_;
    const HiresSize size_;
    const LatentModel lm_;
    std::shared_ptr<const RunConditioning> cond_;
};

}  // namespace

GeneratedBatch generate_txt2img(const SDModel& m, const text::ClipTokenizer& tok, const GenerateRequest& r,
                                const RunHooks& hooks) {
    validate(r);
    const SamplingSettings s = sampling_settings(r);
    torch::Tensor concat;
    if (m.cfg.unet.in_channels == 9) {
        // An inpainting model generating from nothing: A1111 conditions it on a fully masked grey
        // image (mask 1, latent of mid-grey; the posterior mean stands in for its unseeded sample).
        concat = full_mask_concat(m, torch::zeros({1, 3, r.height, r.width}));
    }
    const LatentModel lm = m.latent_model();
    std::unique_ptr<HiresPass> hires;
    if (r.enable_hr) hires = std::make_unique<HiresPass>(m, tok, r, hooks);
    int iteration = 0;
    return run_batches(m, tok, r, s.steps + (hires ? hires->steps() : 0), hooks,
                       [&](const sampling::GuidanceAt& g, const std::vector<uint64_t>& seeds,
                           const sampling::Variation& var, const sampling::StepCallback& cb) {
                           if (hires && iteration++ > 0 && hooks.use_networks) hooks.use_networks(false);
                           auto samples = txt2img_latents(lm, g, seeds, r.width, r.height, s, cb, var, concat);
                           return hires ? hires->run(samples, seeds, var, cb) : samples;
                       });
}

GeneratedBatch generate_img2img(const SDModel& m, const text::ClipTokenizer& tok, const GenerateRequest& r,
                                const torch::Tensor& init, const RunHooks& hooks,
                                const std::optional<torch::Tensor>& vae_eps) {
    validate(r);
    const SamplingSettings s = sampling_settings(r);
    if (init.dim() != 4 || init.size(1) != 3 || init.size(2) % 8 || init.size(3) % 8)
        throw Error(ErrorCode::kInvalidRequest, "The init image must be RGB with a width and height that are multiples of 8.");
    auto [mean, std] = m.encode_posterior(init);
    const auto eps = vae_eps ? *vae_eps : torch::randn_like(mean);
    const auto init_latent = m.cfg.scale_factor * (mean + std * eps);
    GenerateRequest sized = r;
    sized.width = static_cast<int>(init.size(3));
    sized.height = static_cast<int>(init.size(2));
    const LatentModel lm = m.latent_model();
    torch::Tensor concat;
    if (m.cfg.unet.in_channels == 9) {
        // An inpainting model without a mask: A1111 conditions it on a full mask over the image
        // blanked by the conditioning mask strength.
        const auto cond_image = torch::lerp(init, torch::zeros_like(init), r.inpainting_mask_weight);
        const auto cond_latent = m.cfg.scale_factor * m.encode_posterior(cond_image).first;
        concat = torch::cat({torch::ones({1, 1, cond_latent.size(2), cond_latent.size(3)}), cond_latent}, 1);
    }
    return run_batches(m, tok, sized, img2img_callback_steps(s, r.denoising_strength), hooks,
                       [&](const sampling::GuidanceAt& g, const std::vector<uint64_t>& seeds,
                           const sampling::Variation& var, const sampling::StepCallback& cb) {
                           auto lat = init_latent.repeat({static_cast<int64_t>(seeds.size()), 1, 1, 1});
                           return img2img_latents(lm, g, lat, seeds, r.denoising_strength, s, cb, var, concat);
                       });
}

}  // namespace sdgimp::pipeline
