#include "hires_fix.h"

#include <ATen/ops/_upsample_bicubic2d_aa.h>
#include <ATen/ops/_upsample_bilinear2d_aa.h>
#include <ATen/ops/_upsample_nearest_exact2d.h>
#include <ATen/ops/upsample_bicubic2d.h>
#include <ATen/ops/upsample_bilinear2d.h>
#include <ATen/ops/upsample_nearest2d.h>

#include "../imaging/resample.h"
#include "../status.h"
#include "../text/extra_networks.h"
#include "../text/prompt_schedule.h"

namespace sdgimp::pipeline {

torch::Tensor upscale_latents(const torch::Tensor& samples, const std::string& mode, int64_t rows, int64_t cols) {
    if (rows < 1 || cols < 1) throw Error(ErrorCode::kInvalidRequest, "The hires size is too small for its latents.");
    const std::vector<int64_t> size = {rows, cols};
    // The float path: bicubic and antialiased kernels need it for half-precision latents on the CPU.
    const auto x = samples.to(torch::kFloat);
    torch::Tensor y;
    if (mode == "Latent") y = at::upsample_bilinear2d(x, size, false);
    else if (mode == "Latent (antialiased)") y = at::_upsample_bilinear2d_aa(x, size, false);
    else if (mode == "Latent (bicubic)") y = at::upsample_bicubic2d(x, size, false);
    else if (mode == "Latent (bicubic antialiased)") y = at::_upsample_bicubic2d_aa(x, size, false);
    else if (mode == "Latent (nearest)") y = at::upsample_nearest2d(x, size);
    else if (mode == "Latent (nearest-exact)") y = at::_upsample_nearest_exact2d(x, size);
    else throw Error(ErrorCode::kInvalidRequest, "Unknown latent upscale mode \"" + mode + "\".");
    return y.to(samples.dtype());
}

torch::Tensor truncate_latents(const torch::Tensor& x, int truncate_x, int truncate_y) {
    if (truncate_x == 0 && truncate_y == 0) return x;
    const int64_t h = x.size(2), w = x.size(3);
    return x.slice(2, truncate_y / 2, h - (truncate_y + 1) / 2).slice(3, truncate_x / 2, w - (truncate_x + 1) / 2);
}

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
    h.noise_multiplier = 1.0;  // A1111's hires pass draws its noise unscaled (its extra noise stays)
    h.token_merging_ratio = hires_token_merging_ratio(r);
    return h;
}


bool old_timelines_change_schedules(const GenerateRequest& r, bool img2img) {
    if (!r.old_prompt_editing_timelines) return false;
    auto differs = [](const std::string& prompt, int steps, std::optional<int> hires_steps) {
        const std::string text = text::parse_extra_networks(prompt).stripped;
        text::ScheduleOptions now, old;
        now.steps = old.steps = steps;
        now.hires_steps = old.hires_steps = hires_steps;
        old.use_old_scheduling = true;
        return text::prompt_schedule(text, now) != text::prompt_schedule(text, old);
    };
    const int steps = schedule_steps(r);
    if (differs(r.prompt, steps, std::nullopt) || differs(r.negative_prompt, steps, std::nullopt)) return true;
    if (img2img || !r.enable_hr) return false;
    const GenerateRequest h = hires_request(r);
    return differs(h.prompt, steps, schedule_steps(h)) || differs(h.negative_prompt, steps, schedule_steps(h));
}

HiresPass::HiresPass(const SDModel& m, const text::ClipTokenizer& tok, const GenerateRequest& r, const RunHooks& hooks)
    : m_(m), hm_(hooks.hires_model ? *hooks.hires_model : m), tok_(tok), r_(r), hooks_(hooks), hr_(hires_request(r)),
      s_(sampling_settings(hr_)), size_(hires_size(r)), lm_(latent_model_of(hm_, hr_)) {}

int HiresPass::steps() const { return img2img_callback_steps(s_, r_.denoising_strength); }

torch::Tensor HiresPass::run(const torch::Tensor& samples, const std::vector<uint64_t>& seeds, const sampling::Variation& var,
                             const sampling::StepCallback& cb, const SDModel& first, const SDModel** decoder) {
    const int64_t rows = size_.upscale_to_y / 8, cols = size_.upscale_to_x / 8;
    const bool inpainting = hm_.cfg.unet.in_channels == 9;
    const double w = r_.inpainting_mask_weight;
    torch::Tensor init;
    std::vector<torch::Tensor> concats;  // per image, or one for all
    if (is_latent_upscaler(r_.hr_upscaler)) {
        init = upscale_latents(samples, r_.hr_upscaler, rows, cols);
        if (inpainting && w < 1.0) {
            for (int64_t i = 0; i < init.size(0); ++i) {
                const auto decoded = hm_.decode_first_stage(init.slice(0, i, i + 1)).to(torch::kFloat);
                concats.push_back(full_mask_concat(hm_, torch::lerp(decoded, torch::zeros_like(decoded), w)));
            }
        } else if (inpainting) {
            concats.push_back(hm_.txt2img_concat(rows * 8, cols * 8));
        }
    } else {
        std::vector<torch::Tensor> lats;
        for (int64_t i = 0; i < samples.size(0); ++i) {
            const Image low = rgb_image(to_uint8_images(first.decode_first_stage(samples.slice(0, i, i + 1)))[0]);
            const Image up = upscale(low);
            const auto x01 = unit_tensor(up);
            lats.push_back(hm_.encode_init_latent(x01 * 2 - 1, [&](const torch::Tensor& mean) {
                return hooks_.vae_noise ? hooks_.vae_noise(mean) : seeded_normal(mean, static_cast<int64_t>(seeds[static_cast<size_t>(i)]));
            }));
            // A1111 hands the conditioning the [0, 1] image here (not [-1, 1]), blanked by the weight;
            // fully blanked it is the same for every image.
            if (inpainting && w < 1.0) concats.push_back(full_mask_concat(hm_, x01 * (1.0 - w)));
            else if (inpainting && concats.empty()) concats.push_back(full_mask_concat(hm_, torch::zeros_like(x01)));
        }
        init = torch::cat(lats);
    }
    init = truncate_latents(init, size_.truncate_x, size_.truncate_y);
    for (auto& c : concats) c = truncate_latents(c, size_.truncate_x, size_.truncate_y);
    if (hooks_.use_networks) hooks_.use_networks(true);
    if (!cond_)
        // The cache holds the first model's encodings.
        cond_ = encode_run_cached(&hm_ == &m_ ? hooks_.conditioning_cache : nullptr, hm_, tok_, hr_.prompt, hr_.negative_prompt, schedule_steps(r_),
                                  r_.batch_size, r_.cfg_scale, text_settings(r_, hooks_), schedule_steps(hr_));
    bool shared_concat = concats.size() <= 1;
    for (size_t i = 1; i < concats.size(); ++i) shared_concat = shared_concat && torch::equal(concats[i], concats[0]);
    // A1111 loads the hires checkpoint again for this pass, so a refiner switches afresh; images
    // run one by one (below) take its prompts one image at a time.
    GenerateRequest batch = r_;
    if (!shared_concat) batch.batch_size = 1;
    // A1111's Hypertile script (before_hr): after the first pass's images are decoded.
    if (hypertile_) hypertile_->before_hires(std::max<int64_t>(r_.seed, 0), size_.upscale_to_x, size_.upscale_to_y);
    auto refiner = refiner_for_pass(hooks_, tok_, batch, true, hr_.prompt, hr_.negative_prompt, schedule_steps(hr_));
    RefinerRun* rf = refiner ? &*refiner : nullptr;
    if (shared_concat) {
        const auto concat = concats.empty() ? torch::Tensor() : concats[0].slice(0, 0, 1);
        const auto cond = cond_;
        auto out = img2img_latents(lm_, [cond](int call) { return cond->at(call); }, init, seeds, r_.denoising_strength, s_, cb,
                                   var, concat, nullptr, rf);
        *decoder = &model_after_pass(hooks_, refiner, hm_);
        return out;
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
                                      r_.denoising_strength, s_, cb, v, concats[i], nullptr, rf));
    }
    *decoder = &model_after_pass(hooks_, refiner, hm_);
    return torch::cat(out);
}

Image HiresPass::upscale(const Image& low) const {
    const int tw = size_.upscale_to_x, th = size_.upscale_to_y;
    if (hooks_.hires_upscale) return hooks_.hires_upscale(low, tw, th);
    if (r_.hr_upscaler == "None" || r_.hr_upscaler == "Lanczos") return imaging::resize(low, tw, th, imaging::Filter::kLanczos);
    throw Error(ErrorCode::kInvalidRequest, "The hires upscaler \"" + r_.hr_upscaler + "\" is not available here; use Latent or Lanczos.");
}

}  // namespace sdgimp::pipeline
