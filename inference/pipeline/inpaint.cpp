#include "inpaint.h"

#include "../imaging/color_correction.h"
#include "../status.h"
#include "conditioning.h"
#include "soft_inpaint.h"

namespace sdgimp::pipeline {

InpaintResult generate_inpaint(const SDModel& m, const text::ClipTokenizer& tok, const GenerateRequest& r,
                               const Image& image, const Image& mask, const RunHooks& hooks,
                               const Image& latent_mask) {
    validate(r);
    imaging::InpaintSettings is;
    is.width = r.width;
    is.height = r.height;
    is.mask_blur_x = is.mask_blur_y = r.mask_blur;
    is.masked_content = r.masked_content;
    is.full_res = r.inpaint_full_res;
    is.padding = r.inpaint_full_res_padding;
    is.mask_round = !r.soft_inpainting;  // soft inpainting keeps the mask's partial values
    is.invert = r.inpaint_not_masked;
    is.latent_mask = latent_mask;
    imaging::InpaintPrep prep = imaging::prepare_inpaint(image, mask, is);
    if (prep.empty_mask) throw Error(ErrorCode::kInvalidRequest, "The inpaint mask is empty; select the area to repaint first.");
    const GenerateRequest rr = with_resolved_seeds(r);
    const auto cond_ptr = encode_run_cached(hooks.conditioning_cache, m, tok, rr.prompt, rr.negative_prompt,
                                            schedule_steps(rr), rr.batch_size, rr.cfg_scale, text_settings(rr, hooks));
    auto refiner = refiner_for_pass(hooks, tok, rr, false, rr.prompt, rr.negative_prompt);
    const HypertileScope hypertile(rr, rr.width, rr.height, {&m, hooks.refiner});
    const FirstStageScope first_stage(rr, hooks, {&m, hooks.refiner});
    auto out = inpaint_prepared(latent_model_of(m, rr), m.codec(), rr, std::move(prep), [cond_ptr](int call) { return cond_ptr->at(call); },
                                hooks, refiner ? &*refiner : nullptr);
    (void)model_after_pass(hooks, refiner, m);
    return out;
}

InpaintResult inpaint_prepared(const LatentModel& lm, const ImageCodec& codec, const GenerateRequest& rr,
                               imaging::InpaintPrep prep, const BatchGuidance& guidance, const RunHooks& hooks,
                               RefinerRun* refiner) {
    if (rr.seed < 0 || rr.subseed < 0) throw Error(ErrorCode::kInternal, "Seeds must be resolved before a run.");
    const SamplingSettings s = sampling_settings(rr);
    InpaintResult out;
    out.prep = std::move(prep);

    // The init latent (A1111 samples the posterior with an unseeded RNG; ours follows the seed).
    const auto source = unit_tensor(out.prep.encoder_input) * 2 - 1;
    torch::Tensor vae_mean;  // the VAE's posterior mean, when it made the init latent
    const auto init_single = codec.init_latent(source, [&](const torch::Tensor& mean) {
        vae_mean = mean;
        return seeded_normal(mean, rr.seed);
    });
    const Image correction_target = !rr.img2img_color_correction ? Image{}
                                    : hooks.color_correction_target ? *hooks.color_correction_target
                                                                    : imaging::color_correction_target(out.prep.encoder_input);
    const int lh = rr.height / 8, lw = rr.width / 8;
    auto nmask1 = torch::from_blob(const_cast<float*>(out.prep.latent_nmask.data()), {1, 1, lh, lw}, torch::kFloat).clone();
    auto nmask = nmask1.expand({1, init_single.size(1), lh, lw});
    auto keep = 1 - nmask;

    torch::Tensor concat;
    if (lm.in_channels == 9) {
        // Inpainting models see the masked-out image and the mask (weight 1: fully masked).
        auto pm = torch::from_blob(const_cast<uint8_t*>(out.prep.mask.pixels.data()), {1, 1, rr.height, rr.width}, torch::kUInt8)
                      .to(torch::kFloat) / 255.0;
        if (!rr.soft_inpainting) pm = torch::round(pm);
        // A1111's "inpainting conditioning mask strength" lerps from the untouched image.
        auto masked_image = torch::lerp(source, source * (1 - pm), rr.inpainting_mask_weight);
        auto cond_latent = codec.scale_factor * codec.encode_posterior(masked_image).first;
        auto small_mask = torch::nn::functional::interpolate(
            pm, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{lh, lw}).mode(torch::kNearest));
        concat = torch::cat({small_mask, cond_latent}, 1);
    } else if (lm.in_channels == 8) {
        // InstructPix2Pix edits the image as filled for sampling (A1111's edit_image_conditioning,
        // by the model's VAE whichever encoder made the init latent).
        concat = vae_mean.defined() ? vae_mean : codec.encode_posterior(source).first;
    }

    const int n = rr.batch_size * rr.batch_count;
    const auto all_seeds = sampling::batch_seeds(static_cast<uint64_t>(rr.seed), n, rr.subseed_strength);
    const auto all_subs = sampling::batch_seeds(static_cast<uint64_t>(rr.subseed), n, 0);
    int done = 0;
    const int total = img2img_callback_steps(s, rr.denoising_strength) * rr.batch_count;
    std::vector<torch::Tensor> latents;
    const SoftInpaintSettings soft = soft_inpaint_settings(rr);
    for (int it = 0; it < rr.batch_count; ++it) {
        std::vector<uint64_t> seeds(all_seeds.begin() + it * rr.batch_size, all_seeds.begin() + (it + 1) * rr.batch_size);
        std::vector<uint64_t> subs(all_subs.begin() + it * rr.batch_size, all_subs.begin() + (it + 1) * rr.batch_size);
        const int64_t b = static_cast<int64_t>(seeds.size());
        auto init = init_single.repeat({b, 1, 1, 1});
        if (rr.masked_content == 2) {
            sampling::ImageRNG noise_rng(s.noise, seeds, {init.size(1), lh, lw});
            init = init * keep + noise_rng.first() * nmask;
        } else if (rr.masked_content == 3) {
            init = init * keep;
        }
        LatentBlend blend{init, keep.repeat({b, 1, 1, 1}), nmask.repeat({b, 1, 1, 1}), {}};
        if (rr.soft_inpainting) {
            blend.step = [&blend, soft](const torch::Tensor& current, const torch::Tensor& sigma) {
                return soft_latent_blend(soft, blend.init, current, soft_step_nmask(soft, blend.nmask, sigma));
            };
        }
        sampling::Variation var;
        var.subseeds = subs;
        var.strength = rr.subseed_strength;
        auto cb = [&](int step, int, const torch::Tensor& denoised) {
            ++done;
            if (hooks.progress) hooks.progress(done, total);
            if (hooks.preview && hooks.preview_every > 0 && (step + 1) % hooks.preview_every == 0)
                hooks.preview(preview_of(hooks, denoised[0]));
            if (hooks.cancelled && hooks.cancelled()) throw Cancelled();
        };
        auto samples = img2img_latents(lm, guidance, init, seeds, rr.denoising_strength, s, cb, var, concat, &blend, refiner);
        latents.push_back(samples);
        const ImageCodec& decoder = refiner && refiner->switched ? refiner->codec : codec;
        for (int64_t i = 0; i < b; ++i) {
            const Image vae_out = rgb_image(to_uint8_images(decoder.decode_first_stage(samples.slice(0, i, i + 1)))[0]);
            // A1111 corrects the colours before the result goes back under the overlay, against the
            // prepared (filled) image.
            const Image restored = hooks.restore_faces ? hooks.restore_faces(vae_out) : vae_out;
            const Image decoded = rr.img2img_color_correction ? imaging::apply_color_correction(correction_target, restored) : restored;
            if (rr.soft_inpainting) {
                // The overlay remade from where this image's latents moved from the original's.
                const Image m = soft_composite_mask(soft, nmask1[0][0], init[i], samples[i], rr.width, rr.height, out.prep.paste_to,
                                                    out.prep.overlay.width, out.prep.overlay.height);
                out.images.push_back(imaging::finish_inpaint(decoded, out.prep, imaging::overlay_of(out.prep.overlay_source, m)));
                out.masks_for_overlay.push_back(m);
            } else {
                out.images.push_back(imaging::finish_inpaint(decoded, out.prep));
            }
            out.decoded.push_back(vae_out);
            out.seeds.push_back(static_cast<int64_t>(seeds[static_cast<size_t>(i)]));
            out.subseeds.push_back(static_cast<int64_t>(subs[static_cast<size_t>(i)]));
        }
    }
    out.latents = torch::cat(latents);
    return out;
}

}  // namespace sdgimp::pipeline
