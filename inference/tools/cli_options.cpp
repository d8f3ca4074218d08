#include "cli_options.h"

#include <algorithm>
#include <cstdlib>

#include "../io/exif_comment.h"
#include "../status.h"

namespace sdgimp::cli {
namespace {

[[noreturn]] void bad(const std::string& m) { throw Error(ErrorCode::kInvalidRequest, m); }

double to_number(const std::string& k, const std::string& v) {
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0') bad("--" + k + " needs a number, not '" + v + "'.");
    return d;
}

}  // namespace

std::string Options::get(const std::string& k, const std::string& def) const {
    auto it = values.find(k);
    return it == values.end() ? def : it->second;
}

int Options::get_int(const std::string& k, int def) const {
    return has(k) ? static_cast<int>(to_number(k, get(k))) : def;
}

double Options::get_double(const std::string& k, double def) const { return has(k) ? to_number(k, get(k)) : def; }

Options parse_options(const std::vector<std::string>& args, const std::vector<std::string>& flags) {
    Options o;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
            std::string name = a.substr(2), value;
            const size_t eq = name.find('=');
            if (eq != std::string::npos) {
                value = name.substr(eq + 1);
                name.resize(eq);
            } else if (std::find(flags.begin(), flags.end(), name) != flags.end()) {
                value = "1";
            } else {
                if (i + 1 >= args.size()) bad("--" + name + " needs a value.");
                value = args[++i];
            }
            o.values[name] = value;
        } else if (a == "-o") {
            if (i + 1 >= args.size()) bad("-o needs an output file name.");
            o.values["output"] = args[++i];
        } else {
            o.positional.push_back(a);
        }
    }
    return o;
}

const std::vector<std::string>& request_option_names() {
    static const std::vector<std::string> names = {
        "parameters", "parameters-from", "prompt", "negative-prompt", "steps", "sampler", "schedule", "cfg-scale", "seed", "width", "height",
        "batch-size", "batch-count", "variation-seed", "variation-strength", "resize-seed-from-w", "resize-seed-from-h",
        "rng", "ensd", "clip-skip", "emphasis", "denoising-strength", "mask-blur", "masked-content", "inpaint-full-res",
        "inpaint-padding", "img2img-fix-steps", "color-correction", "enable-quantization", "background-color", "eta", "eta-ddim", "s-churn", "s-tmin", "s-tmax", "s-noise", "s-min-uncond",
        "skip-early-cond", "sgm-noise-multiplier", "sigma-min", "sigma-max", "rho", "beta-alpha", "beta-beta",
        "discard-penultimate-sigma", "old-karras-sigmas", "noise-schedule", "downcast-alphas", "fp8-weight", "cache-fp16-weight", "old-prompt-editing", "pad-conds", "pad-conds-v0", "s-min-uncond-all", "image-cfg-scale", "token-merging-ratio", "token-merging-ratio-hr", "hypertile-unet", "hypertile-unet-second-pass", "hypertile-unet-max-depth", "hypertile-unet-max-tile", "hypertile-unet-swap-size", "hypertile-vae", "hypertile-vae-max-depth", "hypertile-vae-max-tile", "hypertile-vae-swap-size", "vae-encoder", "vae-decoder", "vae-whole-image", "resize-init", "resize-mode", "img2img-upscaler", "live-preview", "tiling", "unipc-variant", "unipc-skip-type", "unipc-order", "unipc-lower-order-final",
        "inpainting-mask-weight", "enable-hr", "hr-scale", "hr-resize-x", "hr-resize-y", "hr-upscaler", "hr-second-pass-steps",
        "hr-sampler", "hr-scheduler", "hr-prompt", "hr-negative-prompt", "hr-checkpoint", "soft-inpainting", "soft-schedule-bias",
        "soft-preservation-strength", "soft-transition-contrast", "soft-mask-influence", "soft-difference-threshold",
        "soft-difference-contrast", "inpaint-not-masked", "noise-multiplier", "extra-noise", "refiner", "refiner-switch-at",
        "hr-refiner", "refiner-switch-by-steps"};
    return names;
}

std::string parameters_of_image(const std::string& path) {
    const std::string text = io::image_file_parameters(path);
    if (text.empty())
        throw Error(ErrorCode::kInvalidRequest, path + " carries no A1111 parameters text (no PNG \"parameters\" chunk or JPEG/WebP EXIF comment).");
    return text;
}

GenerateRequest request_from_options(const Options& o) {
    GenerateRequest r;
    if (o.has("parameters-from")) apply_parameters(parameters_of_image(o.get("parameters-from")), &r);
    if (o.has("parameters")) apply_parameters(o.get("parameters"), &r);
    r.prompt = o.get("prompt", r.prompt);
    r.negative_prompt = o.get("negative-prompt", r.negative_prompt);
    r.steps = o.get_int("steps", r.steps);
    r.sampler = o.get("sampler", r.sampler);
    r.schedule = o.get("schedule", r.schedule);
    r.cfg_scale = o.get_double("cfg-scale", r.cfg_scale);
    if (o.has("seed")) r.seed = saturated_int64(o.get_double("seed", -1));
    r.width = o.get_int("width", r.width);
    r.height = o.get_int("height", r.height);
    r.batch_size = o.get_int("batch-size", r.batch_size);
    r.batch_count = o.get_int("batch-count", r.batch_count);
    if (o.has("variation-seed")) r.subseed = saturated_int64(o.get_double("variation-seed", -1));
    r.subseed_strength = o.get_double("variation-strength", r.subseed_strength);
    r.seed_resize_from_w = o.get_int("resize-seed-from-w", r.seed_resize_from_w);
    r.seed_resize_from_h = o.get_int("resize-seed-from-h", r.seed_resize_from_h);
    if (o.has("rng")) {
        std::string v = o.get("rng");
        std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        r.rng = v;
    }
    if (o.has("ensd")) r.eta_noise_seed_delta = saturated_int64(o.get_double("ensd", 0));
    r.clip_skip = o.get_int("clip-skip", r.clip_skip);
    r.emphasis = o.get("emphasis", r.emphasis);
    r.denoising_strength = o.get_double("denoising-strength", r.denoising_strength);
    r.mask_blur = o.get_int("mask-blur", r.mask_blur);
    r.masked_content = o.get_int("masked-content", r.masked_content);
    if (o.has("inpaint-full-res")) r.inpaint_full_res = o.get_int("inpaint-full-res", 0) != 0;
    r.inpaint_full_res_padding = o.get_int("inpaint-padding", r.inpaint_full_res_padding);
    if (o.has("img2img-fix-steps")) r.img2img_fix_steps = o.get_int("img2img-fix-steps", 0) != 0;
    if (o.has("resize-init")) r.resize_init_image = o.get_int("resize-init", 0) != 0;
    r.resize_mode = o.get_int("resize-mode", r.resize_mode);
    r.img2img_upscaler = o.get("img2img-upscaler", r.img2img_upscaler);
    if (o.has("color-correction")) r.img2img_color_correction = o.get_int("color-correction", 0) != 0;
    if (o.has("enable-quantization")) r.enable_quantization = o.get_int("enable-quantization", 0) != 0;
    r.img2img_background_color = o.get("background-color", r.img2img_background_color);
    r.eta_ancestral = o.get_double("eta", r.eta_ancestral);
    r.eta_ddim = o.get_double("eta-ddim", r.eta_ddim);
    r.s_churn = o.get_double("s-churn", r.s_churn);
    r.s_tmin = o.get_double("s-tmin", r.s_tmin);
    r.s_tmax = o.get_double("s-tmax", r.s_tmax);
    r.s_noise = o.get_double("s-noise", r.s_noise);
    r.s_min_uncond = o.get_double("s-min-uncond", r.s_min_uncond);
    r.skip_early_cond = o.get_double("skip-early-cond", r.skip_early_cond);
    if (o.has("sgm-noise-multiplier")) r.sgm_noise_multiplier = o.get_int("sgm-noise-multiplier", 0) != 0;
    r.schedule_sigma_min = o.get_double("sigma-min", r.schedule_sigma_min);
    r.schedule_sigma_max = o.get_double("sigma-max", r.schedule_sigma_max);
    r.schedule_rho = o.get_double("rho", r.schedule_rho);
    r.beta_dist_alpha = o.get_double("beta-alpha", r.beta_dist_alpha);
    r.beta_dist_beta = o.get_double("beta-beta", r.beta_dist_beta);
    if (o.has("old-karras-sigmas")) r.old_karras_sigmas = o.get_int("old-karras-sigmas", 0) != 0;
    r.noise_schedule = o.get("noise-schedule", r.noise_schedule);
    if (o.has("downcast-alphas")) r.downcast_alphas_cumprod = o.get_int("downcast-alphas", 0) != 0;
    r.fp8_weight = o.get("fp8-weight", r.fp8_weight);
    if (o.has("cache-fp16-weight")) r.cache_fp16_weight = o.get_int("cache-fp16-weight", 0) != 0;
    if (o.has("s-min-uncond-all")) r.s_min_uncond_all = o.get_int("s-min-uncond-all", 0) != 0;
    if (o.has("pad-conds")) r.pad_cond_uncond = o.get_int("pad-conds", 0) != 0;
    if (o.has("pad-conds-v0")) r.pad_cond_uncond_v0 = o.get_int("pad-conds-v0", 0) != 0;
    if (o.has("old-prompt-editing")) r.old_prompt_editing_timelines = o.get_int("old-prompt-editing", 0) != 0;
    if (o.has("discard-penultimate-sigma")) r.always_discard_next_to_last_sigma = o.get_int("discard-penultimate-sigma", 0) != 0;
    r.image_cfg_scale = o.get_double("image-cfg-scale", r.image_cfg_scale);
    r.token_merging_ratio = o.get_double("token-merging-ratio", r.token_merging_ratio);
    r.token_merging_ratio_hr = o.get_double("token-merging-ratio-hr", r.token_merging_ratio_hr);
    if (o.has("hypertile-unet")) r.hypertile_unet = o.get_int("hypertile-unet", 0) != 0;
    if (o.has("hypertile-unet-second-pass")) r.hypertile_unet_second_pass = o.get_int("hypertile-unet-second-pass", 0) != 0;
    r.hypertile_unet_max_depth = o.get_int("hypertile-unet-max-depth", r.hypertile_unet_max_depth);
    r.hypertile_unet_max_tile = o.get_int("hypertile-unet-max-tile", r.hypertile_unet_max_tile);
    r.hypertile_unet_swap_size = o.get_int("hypertile-unet-swap-size", r.hypertile_unet_swap_size);
    if (o.has("hypertile-vae")) r.hypertile_vae = o.get_int("hypertile-vae", 0) != 0;
    r.hypertile_vae_max_depth = o.get_int("hypertile-vae-max-depth", r.hypertile_vae_max_depth);
    r.hypertile_vae_max_tile = o.get_int("hypertile-vae-max-tile", r.hypertile_vae_max_tile);
    r.hypertile_vae_swap_size = o.get_int("hypertile-vae-swap-size", r.hypertile_vae_swap_size);
    r.vae_encode_method = o.get("vae-encoder", r.vae_encode_method);
    r.vae_decode_method = o.get("vae-decoder", r.vae_decode_method);
    if (o.has("vae-whole-image")) r.vae_whole_image = o.get_int("vae-whole-image", 0) != 0;
    r.ldsr_steps = o.get_int("ldsr-steps", r.ldsr_steps);
    if (o.has("face-restoration")) r.face_restoration = o.get("face-restoration") == "None" ? "" : o.get("face-restoration");
    r.codeformer_weight = o.get_double("codeformer-weight", r.codeformer_weight);
    r.live_preview_method = o.get("live-preview", r.live_preview_method);
    if (o.has("tiling")) r.tiling = o.get_int("tiling", 0) != 0;
    r.unipc_variant = o.get("unipc-variant", r.unipc_variant);
    r.unipc_skip_type = o.get("unipc-skip-type", r.unipc_skip_type);
    r.unipc_order = o.get_int("unipc-order", r.unipc_order);
    r.inpainting_mask_weight = o.get_double("inpainting-mask-weight", r.inpainting_mask_weight);
    r.noise_multiplier = o.get_double("noise-multiplier", r.noise_multiplier);
    r.extra_noise = o.get_double("extra-noise", r.extra_noise);
    if (o.has("inpaint-not-masked")) r.inpaint_not_masked = o.get_int("inpaint-not-masked", 0) != 0;
    if (o.has("soft-inpainting")) r.soft_inpainting = o.get_int("soft-inpainting", 0) != 0;
    r.soft_schedule_bias = o.get_double("soft-schedule-bias", r.soft_schedule_bias);
    r.soft_preservation_strength = o.get_double("soft-preservation-strength", r.soft_preservation_strength);
    r.soft_transition_contrast = o.get_double("soft-transition-contrast", r.soft_transition_contrast);
    r.soft_mask_influence = o.get_double("soft-mask-influence", r.soft_mask_influence);
    r.soft_difference_threshold = o.get_double("soft-difference-threshold", r.soft_difference_threshold);
    r.soft_difference_contrast = o.get_double("soft-difference-contrast", r.soft_difference_contrast);
    if (o.has("unipc-lower-order-final")) r.unipc_lower_order_final = o.get_int("unipc-lower-order-final", 1) != 0;
    if (o.has("enable-hr")) r.enable_hr = o.get_int("enable-hr", 0) != 0;
    r.hr_scale = o.get_double("hr-scale", r.hr_scale);
    r.hr_resize_x = o.get_int("hr-resize-x", r.hr_resize_x);
    r.hr_resize_y = o.get_int("hr-resize-y", r.hr_resize_y);
    r.hr_upscaler = o.get("hr-upscaler", r.hr_upscaler);
    r.hr_second_pass_steps = o.get_int("hr-second-pass-steps", r.hr_second_pass_steps);
    r.hr_sampler = o.get("hr-sampler", r.hr_sampler);
    r.hr_schedule = o.get("hr-scheduler", r.hr_schedule);
    r.hr_prompt = o.get("hr-prompt", r.hr_prompt);
    r.hr_negative_prompt = o.get("hr-negative-prompt", r.hr_negative_prompt);
    r.hr_checkpoint = o.get("hr-checkpoint", r.hr_checkpoint);
    r.refiner_checkpoint = o.get("refiner", r.refiner_checkpoint);
    if (r.refiner_checkpoint == "None") r.refiner_checkpoint.clear();
    r.refiner_switch_at = o.get_double("refiner-switch-at", r.refiner_switch_at);
    r.hr_refiner_pass = o.get("hr-refiner", r.hr_refiner_pass);
    if (o.has("refiner-switch-by-steps")) r.refiner_switch_by_steps = o.get_int("refiner-switch-by-steps", 0) != 0;
    return r;
}

}  // namespace sdgimp::cli
