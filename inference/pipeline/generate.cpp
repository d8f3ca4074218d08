#include "generate.h"

#include <random>

#include "../imaging/color_correction.h"
#include "../status.h"
#include "conditioning.h"
#include "hires_fix.h"

namespace sdgimp::pipeline {

torch::Tensor full_mask_concat(const SDModel& m, const torch::Tensor& image) {
    const auto lat = m.cfg.scale_factor * m.encode_posterior(image).first;
    return torch::cat({torch::ones({lat.size(0), 1, lat.size(2), lat.size(3)}, lat.options()), lat}, 1);
}

GenerateRequest with_resolved_seeds(GenerateRequest r) {
    std::random_device rd;
    std::uniform_int_distribution<int64_t> dist(0, 4294967293LL);
    if (r.seed == -1) r.seed = dist(rd);
    if (r.subseed == -1) r.subseed = dist(rd);
    return r;
}

SamplingSettings sampling_settings(const GenerateRequest& r) {
    SamplingSettings s;
    s.image_cfg_scale = r.image_cfg_scale;
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
    s.s_min_uncond_all = r.s_min_uncond_all;
    s.skip_early_cond = r.skip_early_cond;
    s.sgm_noise_multiplier = r.sgm_noise_multiplier;
    s.schedule_overrides.sigma_min = r.schedule_sigma_min;
    s.schedule_overrides.sigma_max = r.schedule_sigma_max;
    s.schedule_overrides.rho = r.schedule_rho;
    s.schedule_overrides.beta_alpha = r.beta_dist_alpha;
    s.schedule_overrides.beta_beta = r.beta_dist_beta;
    s.always_discard_next_to_last_sigma = r.always_discard_next_to_last_sigma;
    s.schedule_overrides.old_karras_range = r.old_karras_sigmas;
    s.noise_multiplier = r.noise_multiplier;
    s.extra_noise = r.extra_noise;
    s.unipc.variant = r.unipc_variant;
    s.unipc.skip_type = r.unipc_skip_type;
    s.unipc.order = r.unipc_order;
    s.unipc.lower_order_final = r.unipc_lower_order_final;
    if (s.sampler == sampling::SamplerKind::kUniPC) sampling::check_unipc(s.unipc, r.steps);
    return s;
}

FirstStageScope::FirstStageScope(const GenerateRequest& r, const RunHooks& hooks, std::vector<const SDModel*> models) {
    const bool decode = r.vae_decode_method == "TAESD", encode = r.vae_encode_method == "TAESD";
    if ((decode && !hooks.taesd_decoder) || (encode && !hooks.taesd_encoder))
        throw Error(ErrorCode::kInternal, "The run asks for TAESD but was given no TAESD model.");
    if (!decode && !encode) return;
    for (const SDModel* m : models) {
        if (!m) continue;
        if (decode) m->taesd_decoder = hooks.taesd_decoder;
        if (encode) m->taesd_encoder = hooks.taesd_encoder;
        models_.push_back(m);
    }
}

FirstStageScope::~FirstStageScope() {
    for (const SDModel* m : models_) {
        m->taesd_decoder = nullptr;
        m->taesd_encoder = nullptr;
    }
}

torch::Tensor preview_of(const RunHooks& hooks, const torch::Tensor& latent) {
    return hooks.preview_decode ? hooks.preview_decode(latent) : latent_preview(latent);
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
    t.old_prompt_editing = r.old_prompt_editing_timelines;
    t.pad_conds = r.pad_cond_uncond_v0 ? sampling::Guidance::Pad::kV0
                  : r.pad_cond_uncond  ? sampling::Guidance::Pad::kEmpty
                                       : sampling::Guidance::Pad::kNone;
    t.padded_conds = hooks.padded_conds;
    t.ngms_skipped = hooks.ngms_skipped;
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
            st.hooks.preview(preview_of(st.hooks, denoised[0]));
        if (st.hooks.cancelled && st.hooks.cancelled()) throw Cancelled();
    };
}

torch::Tensor decode_images(const SDModel& m, const torch::Tensor& samples) {
    std::vector<torch::Tensor> out;
    for (int64_t i = 0; i < samples.size(0); ++i) out.push_back(to_uint8_images(m.decode_first_stage(samples.slice(0, i, i + 1))));
    return torch::cat(out);
}

// sample returns an iteration's latents and sets *decoder to the model whose VAE decodes them (a
// hires checkpoint's after a second pass, a refiner's after a switch).
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
        const SDModel* decoder = &m;
        torch::Tensor samples = sample([&cond](int call) { return cond.at(call); }, seeds, var, step_callback(st), &decoder);
        torch::Tensor decoded = decode_images(*decoder, samples);
        if (hooks.restore_faces) restore_faces_batch(&decoded, hooks);
        images.push_back(decoded);
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

LatentModel latent_model_of(const SDModel& m, const GenerateRequest& r) {
    LatentModel lm = m.latent_model(r.downcast_alphas_cumprod, zero_terminal_snr(r), r.token_merging_ratio);
    lm.schedule.quantize = r.enable_quantization;
    return lm;
}

models::HypertileSettings hypertile_settings(const GenerateRequest& r) {
    models::HypertileSettings s;
    s.unet = r.hypertile_unet;
    s.unet_second_pass = r.hypertile_unet_second_pass;
    s.unet_max_depth = r.hypertile_unet_max_depth;
    s.unet_max_tile = r.hypertile_unet_max_tile;
    s.unet_swap_size = r.hypertile_unet_swap_size;
    s.vae = r.hypertile_vae;
    s.vae_max_depth = r.hypertile_vae_max_depth;
    s.vae_max_tile = r.hypertile_vae_max_tile;
    s.vae_swap_size = r.hypertile_vae_swap_size;
    return s;
}

HypertileScope::HypertileScope(const GenerateRequest& r, int width, int height, std::vector<const SDModel*> models) {
    const auto s = hypertile_settings(r);
    if (!s.any()) return;
    ht_ = std::make_unique<models::Hypertile>(s);
    ht_->start(std::max<int64_t>(r.seed, 0), width, height);
    for (const SDModel* m : models)
        if (m) {
            m->set_hypertile(ht_.get());
            models_.push_back(m);
        }
}

HypertileScope::~HypertileScope() {
    for (const SDModel* m : models_) m->set_hypertile(nullptr);
}

GeneratedBatch generate_txt2img(const SDModel& m, const text::ClipTokenizer& tok, const GenerateRequest& r,
                                const RunHooks& hooks) {
    validate(r);
    if (m.cfg.unet.in_channels == 8)
        throw Error(ErrorCode::kInvalidRequest, "InstructPix2Pix models edit an image; use Image to Image or Inpaint with this model.");
    const SamplingSettings s = sampling_settings(r);
    const FirstStageScope first_stage(r, hooks, {&m, hooks.hires_model, hooks.refiner});
    torch::Tensor concat;
    // An inpainting model generating from nothing: A1111 conditions it on a fully masked grey image.
    if (m.cfg.unet.in_channels == 9) concat = m.txt2img_concat(r.height, r.width);
    const LatentModel lm = latent_model_of(m, r);
    const HypertileScope hypertile(r, r.width, r.height, {&m, hooks.hires_model, hooks.refiner});
    std::unique_ptr<HiresPass> hires;
    if (r.enable_hr) {
        hires = std::make_unique<HiresPass>(m, tok, r, hooks);
        hires->set_hypertile(hypertile.get());
    }
    int iteration = 0;
    return run_batches(m, tok, r, s.steps + (hires ? hires->steps() : 0), hooks,
                       [&](const sampling::GuidanceAt& g, const std::vector<uint64_t>& seeds, const sampling::Variation& var,
                           const sampling::StepCallback& cb, const SDModel** decoder) {
                           if (hires && iteration++ > 0 && hooks.use_networks) hooks.use_networks(false);
                           auto refiner = refiner_for_pass(hooks, tok, r, false, r.prompt, r.negative_prompt);
                           auto samples = txt2img_latents(lm, g, seeds, r.width, r.height, s, cb, var, concat, refiner ? &*refiner : nullptr);
                           *decoder = &model_after_pass(hooks, refiner, m);
                           return hires ? hires->run(samples, seeds, var, cb, **decoder, decoder) : samples;
                       });
}

std::optional<RefinerRun> refiner_for_pass(const RunHooks& hooks, const text::ClipTokenizer& tok, const GenerateRequest& r,
                                           bool hires_pass, const std::string& prompt, const std::string& negative,
                                           std::optional<int> hires_steps) {
    if (!hooks.refiner || !(hires_pass ? hooks.refiner_second_pass : hooks.refiner_first_pass)) return std::nullopt;
    if (hooks.use_refiner_networks) hooks.use_refiner_networks(hires_pass);
    // A1111 encodes them again after loading the refiner (setup_conds); its cache is the first model's.
    const auto cond = encode_run_cached(nullptr, *hooks.refiner, tok, prompt, negative, schedule_steps(r), r.batch_size, r.cfg_scale,
                                        text_settings(r, hooks), hires_steps);
    RefinerRun rf;
    // Token merging, as hypernetworks, acts on whichever model samples the pass.
    GenerateRequest pass = r;
    if (hires_pass) pass.token_merging_ratio = hires_token_merging_ratio(r);
    rf.lm = latent_model_of(*hooks.refiner, pass);
    rf.codec = hooks.refiner->codec();
    rf.guidance = [cond](int call) { return cond->at(call); };
    rf.switch_at = hooks.refiner_switch_at;
    rf.by_steps = hooks.refiner_by_steps;
    return rf;
}

const SDModel& model_after_pass(const RunHooks& hooks, const std::optional<RefinerRun>& refiner, const SDModel& first) {
    if (!refiner || !refiner->switched) return first;
    if (hooks.refiner_switched) *hooks.refiner_switched = true;
    return *hooks.refiner;
}

torch::Tensor seeded_normal(const torch::Tensor& like, int64_t seed) {
    if (seed < 0) return torch::randn_like(like);
    at::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed));
    return torch::randn(like.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat)).to(like.options());
}

GeneratedBatch generate_img2img(const SDModel& m, const text::ClipTokenizer& tok, const GenerateRequest& r,
                                const torch::Tensor& init, const RunHooks& hooks,
                                const std::optional<torch::Tensor>& vae_eps) {
    validate(r);
    const SamplingSettings s = sampling_settings(r);
    if (init.dim() != 4 || init.size(1) != 3 || init.size(2) % 8 || init.size(3) % 8)
        throw Error(ErrorCode::kInvalidRequest, "The init image must be RGB with a width and height that are multiples of 8.");
    const FirstStageScope first_stage(r, hooks, {&m, hooks.refiner});
    torch::Tensor vae_mean;  // the VAE's posterior mean, when it made the init latent
    auto init_latent = m.encode_init_latent(init, [&](const torch::Tensor& mean) {
        vae_mean = mean;
        return vae_eps ? *vae_eps : seeded_normal(mean, r.seed);
    });
    GenerateRequest sized = r;
    sized.width = static_cast<int>(init.size(3));
    sized.height = static_cast<int>(init.size(2));
    // A1111's "Just resize (latent upscale)": the init latent enlarged bilinearly to the run's size.
    if (r.resize_init_image && r.resize_mode == 3 && (sized.width != r.width || sized.height != r.height)) {
        if (m.cfg.unet.in_channels != 4)
            throw Error(ErrorCode::kInvalidRequest, "Just resize (latent upscale) needs a plain model (an inpainting or InstructPix2Pix model "
                                                    "is conditioned on the picture); choose another resize mode.");
        namespace F = torch::nn::functional;
        init_latent = F::interpolate(init_latent, F::InterpolateFuncOptions()
                                                      .size(std::vector<int64_t>{r.height / 8, r.width / 8})
                                                      .mode(torch::kBilinear)
                                                      .align_corners(false));
        sized.width = r.width;
        sized.height = r.height;
    }
    const LatentModel lm = latent_model_of(m, r);
    const HypertileScope hypertile(r, sized.width, sized.height, {&m, hooks.refiner});
    torch::Tensor concat;
    if (m.cfg.unet.in_channels == 9) {
        // An inpainting model without a mask: A1111 conditions it on a full mask over the image
        // blanked by the conditioning mask strength.
        concat = full_mask_concat(m, torch::lerp(init, torch::zeros_like(init), r.inpainting_mask_weight));
    } else if (m.cfg.unet.in_channels == 8) {
        // InstructPix2Pix: the init image's latent mode, unscaled (A1111's edit_image_conditioning,
        // by the model's VAE whichever encoder made the init latent).
        concat = vae_mean.defined() ? vae_mean : m.encode_posterior(init).first;
    }
    GeneratedBatch batch =
        run_batches(m, tok, sized, img2img_callback_steps(s, r.denoising_strength), hooks,
                    [&](const sampling::GuidanceAt& g, const std::vector<uint64_t>& seeds, const sampling::Variation& var,
                        const sampling::StepCallback& cb, const SDModel** decoder) {
                        auto lat = init_latent.repeat({static_cast<int64_t>(seeds.size()), 1, 1, 1});
                        auto refiner = refiner_for_pass(hooks, tok, r, false, r.prompt, r.negative_prompt);
                        auto samples = img2img_latents(lm, g, lat, seeds, r.denoising_strength, s, cb, var, concat, nullptr,
                                                       refiner ? &*refiner : nullptr);
                        *decoder = &model_after_pass(hooks, refiner, m);
                        return samples;
                    });
    if (r.img2img_color_correction) color_correct_batch(&batch.images, init, hooks);
    return batch;
}

void restore_faces_batch(torch::Tensor* images, const RunHooks& hooks) {
    for (int64_t i = 0; i < images->size(0); ++i) {
        const Image fixed = hooks.restore_faces(rgb_image((*images)[i].contiguous()));
        (*images)[i].copy_(torch::from_blob(const_cast<uint8_t*>(fixed.pixels.data()), {fixed.height, fixed.width, 3}, torch::kUInt8));
    }
}

void color_correct_batch(torch::Tensor* images, const torch::Tensor& init, const RunHooks& hooks) {
    Image target;
    if (hooks.color_correction_target) {
        target = *hooks.color_correction_target;
    } else {
        // The init image's bytes again (A1111 takes the target from the uint8 picture it encodes).
        auto bytes = ((init[0].to(torch::kCPU, torch::kFloat) + 1) * 127.5).round().clamp(0, 255).to(torch::kUInt8).permute({1, 2, 0});
        target = imaging::color_correction_target(rgb_image(bytes.contiguous()));
    }
    for (int64_t i = 0; i < images->size(0); ++i) {
        const Image fixed = imaging::apply_color_correction(target, rgb_image((*images)[i].contiguous()));
        (*images)[i].copy_(torch::from_blob(const_cast<uint8_t*>(fixed.pixels.data()), {fixed.height, fixed.width, 3}, torch::kUInt8));
    }
}

}  // namespace sdgimp::pipeline
