#include "request.h"

#include <cctype>
#include <cmath>
#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "imaging/flatten.h"
#include "status.h"

namespace sdgimp {
namespace {

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorCode::kInvalidRequest, msg); }

bool to_double(const std::string& s, double* out) {
    if (s.empty()) return false;
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    while (*end == ' ') ++end;
    if (*end != '\0' || !std::isfinite(v)) return false;
    *out = v;
    return true;
}

}  // namespace

int saturated_int(double v) {
    if (!(v > -2147483648.0)) return std::isnan(v) ? 0 : INT32_MIN;
    if (!(v < 2147483647.0)) return INT32_MAX;
    return static_cast<int>(v);
}

int64_t saturated_int64(double v) {
    if (!(v > -9.2233720368547758e18)) return std::isnan(v) ? 0 : INT64_MIN;
    if (!(v < 9.2233720368547758e18)) return INT64_MAX;
    return static_cast<int64_t>(v);
}

const std::vector<std::string>& sampler_names() {
    static const std::vector<std::string> n = {"DPM++ 2M", "DPM++ SDE", "DPM++ 2M SDE", "DPM++ 2M SDE Heun", "DPM++ 2S a",
                                               "DPM++ 3M SDE", "Euler a", "Euler", "LMS", "Heun", "DPM2", "DPM2 a",
                                               "DPM fast", "DPM adaptive", "Restart", "DDIM", "DDIM CFG++", "PLMS", "UniPC", "LCM"};
    return n;
}

std::string sampler_from_map(const std::string& v) {
    if (std::string name = canonical_name(sampler_names(), v); !name.empty()) return name;
    // Each sampler's aliases, as A1111 1.10 lists them with the sampler.
    static const std::vector<std::pair<std::string, std::string>> aliases = {
        {"k_dpmpp_2m", "DPM++ 2M"}, {"k_dpmpp_sde", "DPM++ SDE"}, {"k_dpmpp_2m_sde", "DPM++ 2M SDE"},
        {"k_dpmpp_2m_sde_heun", "DPM++ 2M SDE Heun"}, {"k_dpmpp_2s_a", "DPM++ 2S a"}, {"k_dpmpp_3m_sde", "DPM++ 3M SDE"},
        {"k_euler_a", "Euler a"}, {"k_euler_ancestral", "Euler a"}, {"k_euler", "Euler"}, {"k_lms", "LMS"}, {"k_heun", "Heun"},
        {"k_dpm_2", "DPM2"}, {"k_dpm_2_a", "DPM2 a"}, {"k_dpm_fast", "DPM fast"}, {"k_dpm_ad", "DPM adaptive"},
        {"restart", "Restart"}, {"ddim", "DDIM"}, {"ddim_cfgpp", "DDIM CFG++"}, {"plms", "PLMS"}, {"unipc", "UniPC"},
        {"k_lcm", "LCM"}};
    for (const auto& [alias, name] : aliases)
        if (!canonical_name({alias}, v).empty()) return name;
    return "";
}

std::string canonical_name(const std::vector<std::string>& names, const std::string& v) {
    for (const auto& name : names) {
        if (name.size() != v.size()) continue;
        bool same = true;
        for (size_t i = 0; i < v.size(); ++i)
            same = same && std::tolower(static_cast<unsigned char>(name[i])) == std::tolower(static_cast<unsigned char>(v[i]));
        if (same) return name;
    }
    return "";
}

const std::vector<std::string>& schedule_names() {
    static const std::vector<std::string> n = {"Automatic", "Uniform", "Karras", "Exponential", "Polyexponential",
                                               "SGM Uniform", "KL Optimal", "Align Your Steps", "Simple", "Normal",
                                               "DDIM", "Beta"};
    return n;
}

std::string automatic_schedule(const std::string& sampler) {
    // A1111's k-diffusion samplers with a "scheduler" option (sd_samplers_kdiffusion.py).
    static const std::vector<std::pair<std::string, std::string>> kAutomatic = {
        {"DPM++ 2M", "Karras"},          {"DPM++ SDE", "Karras"},         {"DPM++ 2M SDE", "Exponential"},
        {"DPM++ 2M SDE Heun", "Exponential"}, {"DPM++ 2S a", "Karras"}, {"DPM++ 3M SDE", "Exponential"},
        {"DPM2", "Karras"},             {"DPM2 a", "Karras"},           {"Restart", "Karras"}};
    for (const auto& [name, sched] : kAutomatic)
        if (name == sampler) return sched;
    return "";
}

std::string recorded_schedule(const std::string& sampler, const std::string& schedule) {
    if (schedule != "Automatic") return schedule;
    const std::string own = automatic_schedule(sampler);
    return own.empty() ? schedule : own;
}

const std::vector<std::string>& hires_upscaler_names() {
    static const std::vector<std::string> n = {"Latent", "Latent (antialiased)", "Latent (bicubic)",
                                               "Latent (bicubic antialiased)", "Latent (nearest)",
                                               "Latent (nearest-exact)", "None", "Lanczos", "Nearest"};
    return n;
}

bool zero_terminal_snr(const GenerateRequest& r) { return r.noise_schedule == "Zero Terminal SNR"; }

bool fp8_on(const GenerateRequest& r) { return r.fp8_weight == "Enable"; }

double hires_token_merging_ratio(const GenerateRequest& r) {
    return r.token_merging_ratio_hr != 0 ? r.token_merging_ratio_hr : r.token_merging_ratio;
}

bool is_latent_upscaler(const std::string& name) {
    const auto& n = hires_upscaler_names();
    return std::find(n.begin(), n.begin() + 6, name) != n.begin() + 6;
}

int HiresSize::width() const { return saturated_int(static_cast<double>((static_cast<int64_t>(upscale_to_x) / 8 - truncate_x) * 8)); }
int HiresSize::height() const { return saturated_int(static_cast<double>((static_cast<int64_t>(upscale_to_y) / 8 - truncate_y) * 8)); }

HiresSize hires_size(const GenerateRequest& r) {
    HiresSize h;
    const int64_t w = r.width, ht = r.height, rx = r.hr_resize_x, ry = r.hr_resize_y;
    if (w <= 0 || ht <= 0) return h;  // no first pass to enlarge (validate() says so)
    // 64-bit products, saturated: the fields may hold anything a pasted text gave them.
    auto to_int = [](int64_t v) { return saturated_int(static_cast<double>(v)); };
    if (rx == 0 && ry == 0) {
        h.upscale_to_x = saturated_int(static_cast<double>(w) * r.hr_scale);
        h.upscale_to_y = saturated_int(static_cast<double>(ht) * r.hr_scale);
    } else if (ry == 0) {
        h.upscale_to_x = to_int(rx);
        h.upscale_to_y = to_int(rx * ht / w);
    } else if (rx == 0) {
        h.upscale_to_x = to_int(ry * w / ht);
        h.upscale_to_y = to_int(ry);
    } else {
        // Both given: enlarged to cover that size in the first pass's proportions, the rest cut.
        if (static_cast<double>(w) / ht < static_cast<double>(rx) / ry) {
            h.upscale_to_x = to_int(rx);
            h.upscale_to_y = to_int(rx * ht / w);
        } else {
            h.upscale_to_x = to_int(ry * w / ht);
            h.upscale_to_y = to_int(ry);
        }
        // Python's floor division: a negative difference (never for a covering size) would floor.
        auto floordiv8 = [](int64_t v) { return v >= 0 ? v / 8 : -((-v + 7) / 8); };
        h.truncate_x = to_int(floordiv8(static_cast<int64_t>(h.upscale_to_x) - rx));
        h.truncate_y = to_int(floordiv8(static_cast<int64_t>(h.upscale_to_y) - ry));
    }
    return h;
}

namespace {

bool same_marker(const std::string& v, const char* marker) { return v.empty() || v == marker; }

void validate_hires(const GenerateRequest& r) {
    if (!(r.hr_scale >= 1 && r.hr_scale <= 8)) bad("Hires upscale must be between 1 and 8.");
    if (r.hr_resize_x < 0 || r.hr_resize_y < 0 || r.hr_resize_x > 16384 || r.hr_resize_y > 16384)
        bad("Hires resize width and height must be between 0 (not set) and 16384.");
    if (r.hr_second_pass_steps < 0 || r.hr_second_pass_steps > 1000) bad("Hires steps must be between 0 (the first pass's) and 1000.");
    if (!(r.denoising_strength > 0)) bad("Hires. fix needs a denoising strength above 0 (A1111's default is 0.7).");
    if (r.hr_upscaler.empty()) bad("Choose a hires upscaler, e.g. Latent or Lanczos.");
    if (!same_marker(r.hr_sampler, "Use same sampler") &&
        std::find(sampler_names().begin(), sampler_names().end(), r.hr_sampler) == sampler_names().end())
        bad("Unknown hires sampler \"" + r.hr_sampler + "\"; choose \"Use same sampler\" or one of the samplers.");
    if (!same_marker(r.hr_schedule, "Use same scheduler") &&
        std::find(schedule_names().begin(), schedule_names().end(), r.hr_schedule) == schedule_names().end())
        bad("Unknown hires schedule type \"" + r.hr_schedule + "\"; choose \"Use same scheduler\" or one of the schedule types.");
    const HiresSize h = hires_size(r);
    if (h.width() < 64 || h.height() < 64 || h.width() > 8192 || h.height() > 8192)
        bad("The hires size would be " + std::to_string(h.width()) + "x" + std::to_string(h.height()) +
            "; choose an upscale factor or resize that gives between 64 and 8192 pixels a side.");
}

}  // namespace

void validate(const GenerateRequest& r) {
    if (r.steps < 1 || r.steps > 1000) bad("Steps must be between 1 and 1000, not " + std::to_string(r.steps) + ".");
    if (!(r.cfg_scale >= 0 && r.cfg_scale <= 100)) bad("CFG scale must be between 0 and 100.");
    if (r.ldsr_steps < 1 || r.ldsr_steps > 1000) bad("LDSR steps must be between 1 and 1000, not " + std::to_string(r.ldsr_steps) + ".");
    if (!r.face_restoration.empty() && r.face_restoration != "CodeFormer" && r.face_restoration != "GFPGAN")
        bad("Unknown face restoration \"" + r.face_restoration + "\"; use CodeFormer, GFPGAN or none.");
    if (!(r.codeformer_weight >= 0 && r.codeformer_weight <= 1)) bad("CodeFormer weight must be between 0 and 1.");
    if (r.resize_mode < 0 || r.resize_mode > 3)
        bad("The resize mode is 0 (Just resize), 1 (Crop and resize), 2 (Resize and fill) or 3 (Just resize (latent upscale)), not " +
            std::to_string(r.resize_mode) + ".");
    if (r.width < 64 || r.height < 64 || r.width > 8192 || r.height > 8192 || r.width % 8 || r.height % 8)
        bad("Width and height must be multiples of 8 between 64 and 8192, not " + std::to_string(r.width) + "x" +
            std::to_string(r.height) + ".");
    if (r.batch_size < 1 || r.batch_size > 64) bad("Batch size must be between 1 and 64.");
    if (r.batch_count < 1 || r.batch_count > 1000) bad("Batch count must be between 1 and 1000.");
    (void)imaging::parse_background_color(r.img2img_background_color);  // one sentence before any work
    if (r.seed < -1 || r.subseed < -1) bad("Seeds must be -1 (random) or a non-negative number.");
    if (!(r.subseed_strength >= 0 && r.subseed_strength <= 1)) bad("Variation strength must be between 0 and 1.");
    if (!(r.denoising_strength >= 0 && r.denoising_strength <= 1)) bad("Denoising strength must be between 0 and 1.");
    if (r.rng != "GPU" && r.rng != "CPU" && r.rng != "NV") bad("RNG must be GPU, CPU or NV, not \"" + r.rng + "\".");
    if (r.clip_skip < 1 || r.clip_skip > 12) bad("Clip skip must be between 1 and 12.");
    // 256: the outpainting scripts blur by 2x (Poor man's) and 4x (mk2) their own 0-64.
    if (r.mask_blur < 0 || r.mask_blur > 256) bad("Mask blur must be between 0 and 256.");
    if (r.masked_content < 0 || r.masked_content > 3)
        bad("Masked content must be 0 (fill), 1 (original), 2 (latent noise) or 3 (latent nothing).");
    if (r.inpaint_full_res_padding < 0 || r.inpaint_full_res_padding > 256) bad("Inpaint padding must be between 0 and 256.");
    if (!(r.eta_ancestral >= 0 && r.eta_ancestral <= 1) || !(r.eta_ddim >= 0 && r.eta_ddim <= 1)) bad("Eta must be between 0 and 1.");
    if (!(r.s_churn >= 0 && r.s_churn <= 100) || !(r.s_tmin >= 0) || !(r.s_tmax >= 0) || !(r.s_noise >= 0 && r.s_noise <= 2))
        bad("Sigma churn, tmin and tmax must not be negative, and sigma noise must be between 0 and 2.");
    if (!(r.inpainting_mask_weight >= 0 && r.inpainting_mask_weight <= 1)) bad("Inpainting conditioning mask strength must be between 0 and 1.");
    if (r.soft_inpainting &&
        !(r.soft_schedule_bias >= 0 && r.soft_schedule_bias <= 8 && r.soft_preservation_strength >= 0 && r.soft_preservation_strength <= 8 &&
          r.soft_transition_contrast >= 1 && r.soft_transition_contrast <= 32 && r.soft_mask_influence >= 0 && r.soft_mask_influence <= 1 &&
          r.soft_difference_threshold >= 0 && r.soft_difference_threshold <= 8 && r.soft_difference_contrast >= 0 && r.soft_difference_contrast <= 8))
        bad("Soft inpainting settings are out of range: schedule bias, preservation strength, difference threshold and contrast go from 0 to 8, the transition contrast boost from 1 to 32 and the mask influence from 0 to 1.");
    if (!(r.noise_multiplier >= 0 && r.noise_multiplier <= 1.5) || !(r.extra_noise >= 0 && r.extra_noise <= 1))
        bad("The noise multiplier must be between 0 and 1.5 and the extra noise between 0 and 1.");
    if (!(r.s_min_uncond >= 0) || !(r.skip_early_cond >= 0 && r.skip_early_cond <= 1))
        bad("NGMS must not be negative and Skip Early CFG must be between 0 and 1.");
    if (!(r.schedule_sigma_min >= 0 && r.schedule_sigma_min <= 1000) || !(r.schedule_sigma_max >= 0 && r.schedule_sigma_max <= 1000))
        bad("Schedule min and max sigma must be between 0 (the model's own) and 1000.");
    if (r.schedule_sigma_min > 0 && r.schedule_sigma_max > 0 && !(r.schedule_sigma_min < r.schedule_sigma_max))
        bad("Schedule min sigma must be below Schedule max sigma.");
    if (r.noise_schedule != "Default" && r.noise_schedule != "Zero Terminal SNR")
        bad("The noise schedule must be \"Default\" or \"Zero Terminal SNR\", not \"" + r.noise_schedule + "\".");
    if (!(r.schedule_rho >= 0 && r.schedule_rho <= 100)) bad("Schedule rho must be between 0 (the schedule's own) and 100.");
    if (!(r.image_cfg_scale >= 0 && r.image_cfg_scale <= 30)) bad("The Image CFG scale must be between 0 and 30.");
    for (const int d : {r.hypertile_unet_max_depth, r.hypertile_vae_max_depth})
        if (d < 0 || d > 3) bad("Hypertile's max depth must be between 0 and 3.");
    for (const int t : {r.hypertile_unet_max_tile, r.hypertile_vae_max_tile})
        if (t < 0 || t > 512) bad("Hypertile's max tile size must be between 0 and 512.");
    for (const int w : {r.hypertile_unet_swap_size, r.hypertile_vae_swap_size})
        if (w < 0 || w > 64) bad("Hypertile's swap size must be between 0 and 64.");
    if (!(r.token_merging_ratio >= 0 && r.token_merging_ratio <= 0.9) || !(r.token_merging_ratio_hr >= 0 && r.token_merging_ratio_hr <= 0.9))
        bad("Token merging ratios must be between 0 (none) and 0.9.");
    if (!(r.beta_dist_alpha >= 0.01 && r.beta_dist_alpha <= 1) || !(r.beta_dist_beta >= 0.01 && r.beta_dist_beta <= 1))
        bad("Beta schedule alpha and beta must be between 0.01 and 1.");
    if (!r.refiner_checkpoint.empty() && !(r.refiner_switch_at >= 0.01 && r.refiner_switch_at <= 1))
        bad("The refiner switch point must be between 0.01 and 1.");
    if (r.hr_refiner_pass != "first pass" && r.hr_refiner_pass != "second pass" && r.hr_refiner_pass != "both passes")
        bad("Hires refiner must be \"first pass\", \"second pass\" or \"both passes\", not \"" + r.hr_refiner_pass + "\".");
    for (const std::string* m : {&r.vae_encode_method, &r.vae_decode_method})
        if (*m != "Full" && *m != "TAESD") bad("The VAE type for encode and decode must be \"Full\" or \"TAESD\", not \"" + *m + "\".");
    if (r.live_preview_method != "Full" && r.live_preview_method != "Approx NN" && r.live_preview_method != "Approx cheap" &&
        r.live_preview_method != "TAESD")
        bad("The live preview method must be \"Full\", \"Approx NN\", \"Approx cheap\" or \"TAESD\", not \"" + r.live_preview_method + "\".");
    if (r.fp8_weight != "Disable" && r.fp8_weight != "Enable for SDXL" && r.fp8_weight != "Enable")
        bad("FP8 weight must be \"Disable\", \"Enable for SDXL\" or \"Enable\", not \"" + r.fp8_weight + "\".");
    if (r.enable_hr) validate_hires(r);
}

std::vector<std::string> apply_parameters(const std::string& infotext, GenerateRequest* r) {
    const text::InfoParams p = text::parse_infotext(infotext);
    std::vector<std::string> ignored;
    auto get = [&](const std::string& k) -> const text::InfoValue* {
        for (const auto& kv : p)
            if (kv.first == k && kv.second) return &*kv.second;
        return nullptr;
    };
    auto num = [&](const std::string& k, double* out) {
        const text::InfoValue* v = get(k);
        if (!v) return false;
        if (v->kind == text::InfoValue::Kind::kInt) { *out = static_cast<double>(v->i); return true; }
        if (v->kind == text::InfoValue::Kind::kFloat) { *out = v->f; return true; }
        return v->kind == text::InfoValue::Kind::kString && to_double(v->s, out);
    };
    auto str = [&](const std::string& k, std::string* out) {
        const text::InfoValue* v = get(k);
        if (!v) return false;
        *out = v->to_string();
        return true;
    };
    double d;
    str("Prompt", &r->prompt);
    str("Negative prompt", &r->negative_prompt);
    if (num("Steps", &d)) r->steps = saturated_int(d);
    const bool text_has_schedule = infotext.find("Schedule type:") != std::string::npos;
    std::string sampler;
    if (str("Sampler", &sampler)) {
        // Before 1.9 the schedule was part of the sampler name ("DPM++ 2M Karras").
        for (const std::string suf : {" Karras", " Exponential"}) {
            if (sampler.size() > suf.size() && sampler.compare(sampler.size() - suf.size(), suf.size(), suf) == 0) {
                sampler.resize(sampler.size() - suf.size());
                if (!text_has_schedule) r->schedule = suf.substr(1);
            }
        }
        while (!sampler.empty() && sampler.back() == ' ') sampler.pop_back();
        r->sampler = sampler;
    }
    if (text_has_schedule) str("Schedule type", &r->schedule);
    if (num("CFG scale", &d)) r->cfg_scale = d;
    if (num("Image CFG scale", &d)) r->image_cfg_scale = d;
    if (num("Seed", &d)) r->seed = saturated_int64(d);
    if (num("Size-1", &d)) r->width = saturated_int(d);
    if (num("Size-2", &d)) r->height = saturated_int(d);
    if (num("Variation seed", &d)) r->subseed = saturated_int64(d);
    if (num("Variation seed strength", &d)) r->subseed_strength = d;
    else if (get("Seed")) r->subseed_strength = 0;
    if (num("Seed resize from-1", &d)) r->seed_resize_from_w = saturated_int(d);
    if (num("Seed resize from-2", &d)) r->seed_resize_from_h = saturated_int(d);
    if (num("Denoising strength", &d)) r->denoising_strength = d;
    if (num("Clip skip", &d)) r->clip_skip = saturated_int(d);
    if (num("ENSD", &d)) r->eta_noise_seed_delta = saturated_int64(d);
    std::string rng;
    if (str("RNG", &rng)) r->rng = rng;
    str("Emphasis", &r->emphasis);
    if (num("Mask blur", &d)) r->mask_blur = saturated_int(d);
    std::string mc;
    if (get("Masked content") && str("Masked content", &mc)) {
        const char* names[] = {"fill", "original", "latent noise", "latent nothing"};
        for (int i = 0; i < 4; ++i)
            if (mc == names[i]) r->masked_content = i;
    }
    std::string area;
    if (str("Inpaint area", &area)) r->inpaint_full_res = area == "Only masked";
    std::string mask_mode;
    if (str("Mask mode", &mask_mode)) r->inpaint_not_masked = mask_mode == "Inpaint not masked";
    if (num("Masked area padding", &d)) r->inpaint_full_res_padding = saturated_int(d);
    if (num("Conditional mask weight", &d)) r->inpainting_mask_weight = d;
    if (num("Eta", &d)) r->eta_ancestral = d;
    if (num("Eta DDIM", &d)) r->eta_ddim = d;
    if (num("Sigma churn", &d)) r->s_churn = d;
    if (num("Sigma tmin", &d)) r->s_tmin = d;
    if (num("Sigma tmax", &d)) r->s_tmax = d;
    if (num("Sigma noise", &d)) r->s_noise = d;
    if (num("NGMS", &d)) r->s_min_uncond = d;
    std::string ngms_all;
    r->s_min_uncond_all = str("NGMS all steps", &ngms_all) && ngms_all == "True";
    if (num("Skip Early CFG", &d)) r->skip_early_cond = d;
    if (num("Noise multiplier", &d)) r->noise_multiplier = d;
    if (num("Extra noise", &d)) r->extra_noise = d;
    std::string sgm;
    if (str("SGM noise multiplier", &sgm)) r->sgm_noise_multiplier = sgm == "True";
    // The schedule settings: A1111 (1.8 and later) records each that is not its default, so a text
    // without one was made with the default, and pasting puts that back.
    r->schedule_sigma_min = num("Schedule min sigma", &d) ? d : 0;
    r->schedule_sigma_max = num("Schedule max sigma", &d) ? d : 0;
    r->schedule_rho = num("Schedule rho", &d) ? d : 0;
    r->beta_dist_alpha = num("Beta schedule alpha", &d) ? d : 0.6;
    r->beta_dist_beta = num("Beta schedule beta", &d) ? d : 0.6;
    // A1111 turns "Restore faces" on for a text that names a restorer, off for one that does not.
    if (!str("Face restoration", &r->face_restoration)) r->face_restoration.clear();
    std::string discard;
    r->always_discard_next_to_last_sigma = str("Discard penultimate sigma", &discard) && discard == "True";
    if (!str("Noise Schedule", &r->noise_schedule)) r->noise_schedule = "Default";
    std::string downcast;  // the parser also sets it for texts of versions before 1.7.0-225
    r->downcast_alphas_cumprod = str("Downcast alphas_cumprod", &downcast) && downcast == "True";
    // Written only while A1111 held float8 weights (the parser fills in "Disable" otherwise).
    std::string fp8;
    if (str("FP8 weight", &fp8)) {
        const bool known = fp8 == "Disable" || fp8 == "Enable" || fp8 == "Enable for SDXL";
        r->fp8_weight = known ? fp8 : "Disable";
        if (!known) ignored.push_back("FP8 weight");
    }
    std::string cache16;
    r->cache_fp16_weight = str("Cache FP16 weight for LoRA", &cache16) && cache16 == "True";
    // The parser also sets it for texts of versions before 1.6, whose timelines were the old ones.
    std::string old_timelines;
    r->old_prompt_editing_timelines = str("Old prompt editing timelines", &old_timelines) && old_timelines == "True";
    // Noted when padding happened; without it the prompts had one length or ran apart.
    std::string pad;
    r->pad_cond_uncond = str("Pad conds", &pad) && pad == "True";
    r->pad_cond_uncond_v0 = str("Pad conds v0", &pad) && pad == "True";
    // Hypertile: A1111 records what is on, and each number that is not its default.
    auto flag = [&](const char* key) {
        std::string v;
        return str(key, &v) && v == "True";
    };
    auto whole = [&](const char* key, int fallback) { return num(key, &d) ? saturated_int(d) : fallback; };
    r->hypertile_unet = flag("Hypertile U-Net");
    r->hypertile_unet_second_pass = flag("Hypertile U-Net second pass");
    r->hypertile_unet_max_depth = whole("Hypertile U-Net max depth", 3);
    r->hypertile_unet_max_tile = whole("Hypertile U-Net max tile size", 256);
    r->hypertile_unet_swap_size = whole("Hypertile U-Net swap size", 3);
    r->hypertile_vae = flag("Hypertile VAE");
    r->hypertile_vae_max_depth = whole("Hypertile VAE max depth", 3);
    r->hypertile_vae_max_tile = whole("Hypertile VAE max tile size", 128);
    r->hypertile_vae_swap_size = whole("Hypertile VAE swap size", 3);
    // A1111 records a token merging ratio that is not 0; the hires one is the hires pass's own.
    r->token_merging_ratio = num("Token merging ratio", &d) ? d : 0;
    r->token_merging_ratio_hr = num("Token merging ratio hr", &d) ? d : 0;
    // A1111 records the VAE types that are not "Full".
    if (!str("VAE Encoder", &r->vae_encode_method)) r->vae_encode_method = "Full";
    if (!str("VAE Decoder", &r->vae_decode_method)) r->vae_decode_method = "Full";
    std::string tiling;
    if (str("Tiling", &tiling)) r->tiling = tiling == "True";
    std::string soft;
    if (str("Soft inpainting enabled", &soft)) r->soft_inpainting = soft == "True";
    if (num("Soft inpainting schedule bias", &d)) r->soft_schedule_bias = d;
    if (num("Soft inpainting preservation strength", &d)) r->soft_preservation_strength = d;
    if (num("Soft inpainting transition contrast boost", &d)) r->soft_transition_contrast = d;
    if (num("Soft inpainting mask influence", &d)) r->soft_mask_influence = d;
    if (num("Soft inpainting difference threshold", &d)) r->soft_difference_threshold = d;
    if (num("Soft inpainting difference contrast", &d)) r->soft_difference_contrast = d;
    // Hires. fix: on when the text has a denoising strength and a hires size or upscaler (A1111's
    // paste rule, except that the parser's default "Hires resize" of 0x0 does not count).
    double hx = 0, hy = 0;
    num("Hires resize-1", &hx);
    num("Hires resize-2", &hy);
    r->enable_hr = get("Denoising strength") && (get("Hires upscale") || get("Hires upscaler") || hx > 0 || hy > 0);
    if (r->enable_hr) {
        r->hr_resize_x = saturated_int(hx);
        r->hr_resize_y = saturated_int(hy);
        r->hr_scale = num("Hires upscale", &d) ? d : 2.0;
        r->hr_second_pass_steps = num("Hires steps", &d) ? saturated_int(d) : 0;
        if (!str("Hires upscaler", &r->hr_upscaler)) r->hr_upscaler = "Latent";
        auto same_or = [&](const char* key, const char* same, std::string* out) {
            out->clear();
            if (str(key, out) && *out == same) out->clear();
        };
        same_or("Hires sampler", "Use same sampler", &r->hr_sampler);
        same_or("Hires schedule type", "Use same scheduler", &r->hr_schedule);
        same_or("Hires prompt", "", &r->hr_prompt);
        same_or("Hires negative prompt", "", &r->hr_negative_prompt);
        same_or("Hires checkpoint", "Use same checkpoint", &r->hr_checkpoint);
    }
    // A1111's Refiner accordion is on when the text names one (its checkpoint, then the switch point).
    std::string refiner;
    r->refiner_checkpoint = str("Refiner", &refiner) && refiner != "None" ? refiner : "";
    if (num("Refiner switch at", &d)) r->refiner_switch_at = d;
    str("Hires refiner", &r->hr_refiner_pass);
    std::string by_steps;
    if (str("Refiner switch by sampling steps", &by_steps)) r->refiner_switch_by_steps = by_steps == "True";
    // Batch size is written by old versions only; with "Batch pos" it described one image of a batch.
    if (num("Batch size", &d)) r->batch_size = saturated_int(d);

    static const char* kKnown[] = {"Prompt", "Negative prompt", "Steps", "Sampler", "Schedule type", "CFG scale", "Seed",
        "Size-1", "Size-2", "Variation seed", "Variation seed strength", "Seed resize from-1", "Seed resize from-2",
        "Denoising strength", "Clip skip", "ENSD", "RNG", "Emphasis", "Mask blur", "Mask mode", "Masked content", "Inpaint area",
        "Masked area padding", "Batch size", "Batch pos", "Tiling", "Model hash", "Model", "Version", "Eta", "Eta DDIM", "Sigma churn",
        "Sigma tmin", "Sigma tmax", "Sigma noise", "NGMS", "Skip Early CFG", "SGM noise multiplier", "Conditional mask weight",
        "Hires upscale", "Hires resize-1", "Hires resize-2", "Hires steps", "Hires upscaler", "Hires sampler",
        "Hires schedule type", "Hires prompt", "Hires negative prompt", "Hires checkpoint", "Soft inpainting enabled",
        "Soft inpainting schedule bias", "Soft inpainting preservation strength", "Soft inpainting transition contrast boost",
        "Soft inpainting mask influence", "Soft inpainting difference threshold", "Soft inpainting difference contrast",
        "Noise multiplier", "Extra noise", "Refiner", "Refiner switch at", "Hires refiner",
        "Refiner switch by sampling steps", "Schedule min sigma", "Schedule max sigma", "Schedule rho", "Beta schedule alpha",
        "Beta schedule beta", "Discard penultimate sigma", "Noise Schedule", "Old prompt editing timelines", "Pad conds", "Downcast alphas_cumprod",
        "Pad conds v0", "NGMS all steps", "Token merging ratio", "Token merging ratio hr", "Image CFG scale",
        "Hypertile U-Net", "Hypertile U-Net second pass", "Hypertile U-Net max depth", "Hypertile U-Net max tile size",
        "Hypertile U-Net swap size", "Hypertile VAE", "Hypertile VAE max depth", "Hypertile VAE max tile size", "Hypertile VAE swap size",
        "VAE Encoder", "VAE Decoder", "FP8 weight", "Cache FP16 weight for LoRA", "Face restoration"};
    // What the parser adds for an empty text is its defaults; only other values were really given.
    static const text::InfoParams defaults = text::parse_infotext("");
    for (const auto& [key, value] : p) {
        bool known = false;
        for (const char* k : kKnown) known = known || key == k;
        if (known || !value) continue;
        bool is_default = false;
        for (const auto& [dk, dv] : defaults) is_default = is_default || (dk == key && dv && *dv == *value);
        if (!is_default) ignored.push_back(key);
    }
    return ignored;
}

std::string checkpoint_title_name(const std::string& title) {
    const size_t bracket = title.rfind(" [");
    return bracket != std::string::npos && !title.empty() && title.back() == ']' ? title.substr(0, bracket) : title;
}

std::string checkpoint_named(const std::vector<std::string>& paths, const std::string& title) {
    const std::string name = checkpoint_title_name(title);
    if (name.empty()) return "";
    for (const auto& p : paths) {
        const std::string file = p.substr(p.find_last_of('/') == std::string::npos ? 0 : p.find_last_of('/') + 1);
        for (const std::string ext : {".safetensors", ".ckpt"})
            if (file.size() == name.size() + ext.size() && file.compare(0, name.size(), name) == 0 &&
                file.compare(name.size(), ext.size(), ext) == 0)
                return p;
    }
    return "";
}

namespace {

// A1111's timestep samplers: they never build a sigma list (get_sigmas).
bool timestep_sampler(const std::string& sampler) {
    return sampler == "DDIM" || sampler == "DDIM CFG++" || sampler == "PLMS" || sampler == "UniPC";
}

// The sampler and schedule type the hires pass runs.
std::pair<std::string, std::string> hires_sampler_schedule(const GenerateRequest& r) {
    return {same_marker(r.hr_sampler, "Use same sampler") ? r.sampler : r.hr_sampler,
            same_marker(r.hr_schedule, "Use same scheduler") ? r.schedule : r.hr_schedule};
}

// The schedule a pass's sigma list records in A1111 (get_sigmas): its resolved type, "" where there
// is none (the timestep samplers, and "Automatic" for samplers without a type of their own).
std::string sigma_schedule(const std::string& sampler, const std::string& schedule) {
    if (timestep_sampler(sampler)) return "";
    const std::string s = recorded_schedule(sampler, schedule);
    return s == "Automatic" ? "" : s;
}

// The keys A1111's get_sigmas adds for a pass of this sampler and schedule (none for the timestep
// samplers, which never call it): the forced discard where the sampler does not discard already,
// then the schedule settings where the pass's schedule type has a function that takes them.
std::vector<std::pair<std::string, text::InfoValue>> schedule_keys(const GenerateRequest& r, const std::string& sampler,
                                                                   const std::string& schedule) {
    std::vector<std::pair<std::string, text::InfoValue>> keys;
    if (timestep_sampler(sampler)) return keys;
    const bool discards_itself = sampler == "DPM2" || sampler == "DPM2 a" || sampler == "DPM++ 3M SDE";
    if (r.always_discard_next_to_last_sigma && !discards_itself) keys.emplace_back("Discard penultimate sigma", text::InfoValue::boolean(true));
    const std::string sched = sigma_schedule(sampler, schedule);
    if (sched.empty()) return keys;
    if (r.schedule_sigma_min != 0) keys.emplace_back("Schedule min sigma", text::InfoValue::real(r.schedule_sigma_min));
    if (r.schedule_sigma_max != 0) keys.emplace_back("Schedule max sigma", text::InfoValue::real(r.schedule_sigma_max));
    const double own_rho = sched == "Karras" ? 7.0 : sched == "Polyexponential" ? 1.0 : -1.0;
    if (own_rho > 0 && r.schedule_rho != 0 && r.schedule_rho != own_rho) keys.emplace_back("Schedule rho", text::InfoValue::real(r.schedule_rho));
    if (sched == "Beta") {
        keys.emplace_back("Beta schedule alpha", text::InfoValue::real(r.beta_dist_alpha));
        keys.emplace_back("Beta schedule beta", text::InfoValue::real(r.beta_dist_beta));
    }
    return keys;
}

// The hires keys in the order A1111's txt2img init adds them (before the networks' hashes).
void add_hires_info(const GenerateRequest& r, const ModelIdentity& model, text::GenerationInfo* g) {
    g->enable_hr = true;
    auto& e = g->extra;
    auto at = e.begin();  // ahead of "Lora hashes" / "TI hashes", which A1111 adds later in the run
    auto add = [&](const char* key, text::InfoValue v) { at = e.emplace(at, key, std::move(v)) + 1; };
    if (r.hr_resize_x == 0 && r.hr_resize_y == 0) {
        const double whole = std::floor(r.hr_scale);
        add("Hires upscale", whole == r.hr_scale ? text::InfoValue::integer(static_cast<int64_t>(whole)) : text::InfoValue::real(r.hr_scale));
    } else {
        add("Hires resize", text::InfoValue::str(std::to_string(r.hr_resize_x) + "x" + std::to_string(r.hr_resize_y)));
    }
    add("Denoising strength", text::InfoValue::real(r.denoising_strength));
    if (!model.hr_checkpoint_title.empty()) add("Hires checkpoint", text::InfoValue::str(model.hr_checkpoint_title));
    if (!same_marker(r.hr_sampler, "Use same sampler") && r.hr_sampler != r.sampler) add("Hires sampler", text::InfoValue::str(r.hr_sampler));
    g->hr_prompt = r.hr_prompt.empty() ? r.prompt : r.hr_prompt;
    g->hr_negative_prompt = r.hr_negative_prompt.empty() ? r.negative_prompt : r.hr_negative_prompt;
    add("Hires prompt", text::InfoValue::str(g->hr_prompt));
    g->hires_prompt_keys.push_back("Hires prompt");
    add("Hires negative prompt", text::InfoValue::str(g->hr_negative_prompt));
    g->hires_negative_prompt_keys.push_back("Hires negative prompt");
    // A1111 records the second pass's schedule when it resolves to a type of its own that differs
    // from the first pass's recorded one (samplers without one run the model's schedule, unrecorded).
    const auto [hr_sampler, hr_schedule] = hires_sampler_schedule(r);
    const std::string hr_sched = sigma_schedule(hr_sampler, hr_schedule);
    if (!hr_sched.empty() && hr_sched != sigma_schedule(r.sampler, r.schedule)) add("Hires schedule type", text::InfoValue::str(hr_sched));
    if (r.hr_second_pass_steps > 0) add("Hires steps", text::InfoValue::integer(r.hr_second_pass_steps));
    add("Hires upscaler", text::InfoValue::str(r.hr_upscaler));
}

}  // namespace

namespace {

// Hypertile's keys as its script adds them: the U-Net's when it is on (or, from the hires pass,
// when only the second pass is), its numbers only when not their defaults; the VAE's likewise.
std::vector<std::pair<std::string, text::InfoValue>> hypertile_keys(const GenerateRequest& r, bool unet, bool vae) {
    std::vector<std::pair<std::string, text::InfoValue>> k;
    auto number = [&](const char* key, int v, int fallback) {
        if (v != fallback) k.emplace_back(key, text::InfoValue::integer(v));
    };
    if (unet) {
        number("Hypertile U-Net max depth", r.hypertile_unet_max_depth, 3);
        number("Hypertile U-Net max tile size", r.hypertile_unet_max_tile, 256);
        number("Hypertile U-Net swap size", r.hypertile_unet_swap_size, 3);
    }
    if (vae) {
        k.emplace_back("Hypertile VAE", text::InfoValue::boolean(true));
        number("Hypertile VAE max depth", r.hypertile_vae_max_depth, 3);
        number("Hypertile VAE max tile size", r.hypertile_vae_max_tile, 128);
        number("Hypertile VAE swap size", r.hypertile_vae_swap_size, 3);
    }
    return k;
}

}  // namespace

void add_early_info(text::GenerationInfo* g, const std::vector<std::pair<std::string, text::InfoValue>>& keys) {
    const std::vector<std::string> later = {
        "VAE Encoder", "Lora hashes", "Old prompt editing timelines", "TI hashes", "Emphasis", "Downcast alphas_cumprod", "Noise Schedule", "Noise multiplier",
        "Discard penultimate sigma", "Schedule min sigma", "Schedule max sigma", "Schedule rho", "Beta schedule alpha",
        "Beta schedule beta", "Extra noise", "SGM noise multiplier", "Eta DDIM", "Eta", "Sigma churn", "Sigma tmin", "Sigma tmax",
        "Sigma noise", "Refiner switch by sampling steps", "Skip Early CFG", "NGMS", "NGMS all steps", "Hires refiner", "Refiner",
        "Refiner switch at", "Pad conds", "Pad conds v0"};
    auto at = std::find_if(g->extra.begin(), g->extra.end(),
                           [&](const auto& kv) { return std::find(later.begin(), later.end(), kv.first) != later.end(); });
    for (const auto& kv : keys) at = g->extra.emplace(at, kv.first, kv.second) + 1;
}

void add_soft_inpaint_info(const GenerateRequest& r, text::GenerationInfo* g) {
    if (!r.soft_inpainting) return;
    // A1111's sliders hand whole numbers over as ints ("4"), others as floats ("0.5").
    auto number = [](double v) {
        return std::floor(v) == v && std::abs(v) < 1e15 ? text::InfoValue::integer(static_cast<int64_t>(v)) : text::InfoValue::real(v);
    };
    add_early_info(g, {{"Soft inpainting enabled", text::InfoValue::boolean(true)},
                       {"Soft inpainting schedule bias", number(r.soft_schedule_bias)},
                       {"Soft inpainting preservation strength", number(r.soft_preservation_strength)},
                       {"Soft inpainting transition contrast boost", number(r.soft_transition_contrast)},
                       {"Soft inpainting mask influence", number(r.soft_mask_influence)},
                       {"Soft inpainting difference threshold", number(r.soft_difference_threshold)},
                       {"Soft inpainting difference contrast", number(r.soft_difference_contrast)}});
}

text::GenerationInfo generation_info(const GenerateRequest& r, const ModelIdentity& model, int64_t seed,
                                     int64_t subseed, bool img2img) {
    text::GenerationInfo g;
    g.prompt = r.prompt;
    g.negative_prompt = r.negative_prompt;
    g.steps = r.steps;
    g.sampler_name = r.sampler;
    g.scheduler = recorded_schedule(r.sampler, r.schedule);
    if (!r.face_restoration.empty()) g.face_restoration = r.face_restoration;
    g.cfg_scale = r.cfg_scale;
    if (img2img && model.edit) g.image_cfg_scale = r.image_cfg_scale;
    g.seed = seed;  // the image's own seed: batch_size 1 and index 0 below make create_infotext keep it
    g.subseed = subseed;
    g.subseed_strength = r.subseed_strength;
    g.width = r.width;
    g.height = r.height;
    if (!model.hash.empty()) g.model_hash = model.hash;
    if (!model.name.empty()) g.model_name = model.name;
    if (fp8_on(r)) {
        g.extra.emplace_back("FP8 weight", text::InfoValue::str(r.fp8_weight));
        g.extra.emplace_back("Cache FP16 weight for LoRA", text::InfoValue::boolean(r.cache_fp16_weight));
    }
    if (!model.vae_hash.empty()) g.vae_hash = model.vae_hash;
    if (!model.vae_name.empty()) g.vae_name = model.vae_name;
    // Set by the script before processing starts.
    for (const auto& [key, value] : r.script_info) g.extra.emplace_back(key, text::InfoValue::str(value));
    // Img2img's init() notes the encoder as it makes the init latents, before the networks load.
    if (img2img && r.vae_encode_method != "Full") g.extra.emplace_back("VAE Encoder", text::InfoValue::str(r.vae_encode_method));
    if (!model.lora_hashes.empty()) g.extra.emplace_back("Lora hashes", text::InfoValue::str(model.lora_hashes));
    // Noted as the prompts are encoded, after the networks' hashes are in, before the embeddings'.
    if (r.old_prompt_editing_timelines && model.old_timelines_changed)
        g.extra.emplace_back("Old prompt editing timelines", text::InfoValue::boolean(true));
    if (!model.ti_hashes.empty()) g.extra.emplace_back("TI hashes", text::InfoValue::str(model.ti_hashes));
    g.clip_skip = r.clip_skip;
    g.seed_resize_from_w = r.seed_resize_from_w > 0 ? r.seed_resize_from_w : -1;
    g.seed_resize_from_h = r.seed_resize_from_h > 0 ? r.seed_resize_from_h : -1;
    g.inpainting_conditioning = model.inpainting;
    g.inpainting_mask_weight = r.inpainting_mask_weight;
    g.eta_noise_seed_delta = r.eta_noise_seed_delta;
    g.sampler_uses_ensd = r.eta_noise_seed_delta != 0;
    g.randn_source = r.rng;
    g.token_merging_ratio = r.token_merging_ratio;
    g.token_merging_ratio_hr = hires_token_merging_ratio(r);
    if (img2img) g.extra.emplace_back("Denoising strength", text::InfoValue::real(r.denoising_strength));
    if (!img2img && r.enable_hr) add_hires_info(r, model, &g);
    if (r.emphasis != "Original") g.extra.emplace_back("Emphasis", text::InfoValue::str(r.emphasis));
    // Set when A1111 samples (after the prompts' keys): the noise schedule as the model's alphas are
    // put in place, img2img's noise multiplier before the sampler starts, then the sigma list's
    // keys, the extra noise (img2img), the SGM noise multiplier (txt2img), the sampler's parameters
    // and the guidance skips; a hires pass's own keys after them.
    if (r.downcast_alphas_cumprod) g.extra.emplace_back("Downcast alphas_cumprod", text::InfoValue::boolean(true));
    if (zero_terminal_snr(r)) g.extra.emplace_back("Noise Schedule", text::InfoValue::str(r.noise_schedule));
    if (img2img && r.noise_multiplier != 1.0) g.extra.emplace_back("Noise multiplier", text::InfoValue::real(r.noise_multiplier));
    for (auto& kv : schedule_keys(r, r.sampler, r.schedule)) g.extra.push_back(std::move(kv));
    if (img2img && r.extra_noise > 0) g.extra.emplace_back("Extra noise", text::InfoValue::real(r.extra_noise));
    // Set by A1111's txt2img sampling only (img2img ignores the option).
    if (r.sgm_noise_multiplier && !img2img) g.extra.emplace_back("SGM noise multiplier", text::InfoValue::boolean(true));
    const bool ddim_like = r.sampler == "DDIM" || r.sampler == "DDIM CFG++";
    const bool churn_like = r.sampler == "Euler" || r.sampler == "Heun" || r.sampler == "DPM2";
    auto put = [&](const char* key, double v) { g.extra.emplace_back(key, text::InfoValue::real(v)); };
    if (ddim_like && r.eta_ddim != 0) put("Eta DDIM", r.eta_ddim);
    if (!ddim_like && !churn_like && r.eta_ancestral != 1.0) put("Eta", r.eta_ancestral);
    if (churn_like && r.s_churn != 0) put("Sigma churn", r.s_churn);
    if (churn_like && r.s_tmin != 0) put("Sigma tmin", r.s_tmin);
    if (churn_like && r.s_tmax != 0) put("Sigma tmax", r.s_tmax);
    if (churn_like && r.s_noise != 1.0) put("Sigma noise", r.s_noise);
    if (r.skip_early_cond != 0) put("Skip Early CFG", r.skip_early_cond);
    const bool ngms = r.s_min_uncond != 0 && model.ngms_skipped.value_or(true);
    if (ngms) put("NGMS", r.s_min_uncond);
    if (ngms && r.s_min_uncond_all) g.extra.emplace_back("NGMS all steps", text::InfoValue::boolean(true));
    // A1111's apply_refiner notes the step rule at the first denoiser call (before that call's
    // guidance skips), with or without a refiner.
    if (r.refiner_switch_by_steps) {
        auto at = std::find_if(g.extra.begin(), g.extra.end(), [](const auto& kv) { return kv.first == "Skip Early CFG" || kv.first == "NGMS"; });
        g.extra.emplace(at, "Refiner switch by sampling steps", text::InfoValue::boolean(true));
    }
    // Added when sampling switches (apply_refiner), after the keys set before it started: in the
    // first pass, or in the hires pass when the refiner runs there only.
    const bool hires = r.enable_hr && !img2img;
    auto add_refiner = [&] {
        if (model.refiner_title.empty()) return;
        if (hires && r.hr_refiner_pass != "second pass") g.extra.emplace_back("Hires refiner", text::InfoValue::str(r.hr_refiner_pass));
        g.extra.emplace_back("Refiner", text::InfoValue::str(model.refiner_title));
        g.extra.emplace_back("Refiner switch at", text::InfoValue::real(r.refiner_switch_at));
    };
    if (!hires || r.hr_refiner_pass != "second pass") add_refiner();
    // Noted once a pass has sampled when its last call padded the prompts.
    if (model.padded_conds && (r.pad_cond_uncond || r.pad_cond_uncond_v0))
        g.extra.emplace_back(r.pad_cond_uncond_v0 ? "Pad conds v0" : "Pad conds", text::InfoValue::boolean(true));
    if (hires) {
        // The hires pass encodes an upscaled image (not latents) before anything else it notes.
        if (!is_latent_upscaler(r.hr_upscaler) && r.vae_encode_method != "Full")
            g.extra.emplace_back("VAE Encoder", text::InfoValue::str(r.vae_encode_method));
        // Hypertile's before_hr, when only its second-pass setting turns the U-Net on (its VAE keys
        // are set again where they stand).
        if (r.hypertile_unet_second_pass && !r.hypertile_unet) {
            g.extra.emplace_back("Hypertile U-Net second pass", text::InfoValue::boolean(true));
            for (auto& kv : hypertile_keys(r, true, false)) g.extra.push_back(std::move(kv));
        }
        const auto [hr_sampler, hr_schedule] = hires_sampler_schedule(r);
        for (auto& kv : schedule_keys(r, hr_sampler, hr_schedule))
            if (std::none_of(g.extra.begin(), g.extra.end(), [&](const auto& e) { return e.first == kv.first; })) g.extra.push_back(std::move(kv));
        if (r.extra_noise > 0) g.extra.emplace_back("Extra noise", text::InfoValue::real(r.extra_noise));
        if (r.hr_refiner_pass == "second pass") add_refiner();
    }
    // Noted after sampling, as the latents go to the decoder.
    if (r.vae_decode_method != "Full") g.extra.emplace_back("VAE Decoder", text::InfoValue::str(r.vae_decode_method));
    // Hypertile's process() runs before any other key is set (the hires keys come from init()).
    auto first = hypertile_keys(r, r.hypertile_unet, r.hypertile_vae);
    if (r.hypertile_unet) first.insert(first.begin(), {"Hypertile U-Net", text::InfoValue::boolean(true)});
    g.extra.insert(g.extra.begin(), first.begin(), first.end());
    g.tiling = r.tiling;
    return g;
}

}  // namespace sdgimp
