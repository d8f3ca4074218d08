#include "wire.h"

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <unistd.h>

#include "status.h"

namespace sdgimp::wire {
namespace {

constexpr uint32_t kMaxHeader = 16u << 20;
constexpr uint64_t kMaxPayload = 1ull << 31;

void write_all(int fd, const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
        const ssize_t k = ::write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) throw Error(ErrorCode::kBackendUnavailable, "The engine connection was closed while sending.");
        p += k;
        n -= static_cast<size_t>(k);
    }
}

// false if the stream ended before the first byte.
bool read_all(int fd, void* data, size_t n, bool eof_ok) {
    auto* p = static_cast<uint8_t*>(data);
    size_t got = 0;
    while (got < n) {
        const ssize_t k = ::read(fd, p + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k == 0 && got == 0 && eof_ok) return false;
        if (k <= 0) throw Error(ErrorCode::kBackendUnavailable, "The engine connection ended in the middle of a message.");
        got += static_cast<size_t>(k);
    }
    return true;
}

}  // namespace

void send_message(int fd, const Message& m) {
    nlohmann::json h = m.header;
    h["payloads"] = nlohmann::json::array();
    for (const auto& p : m.payloads) h["payloads"].push_back(p.size());
    const std::string s = h.dump();
    const uint8_t len[4] = {static_cast<uint8_t>(s.size()), static_cast<uint8_t>(s.size() >> 8),
                            static_cast<uint8_t>(s.size() >> 16), static_cast<uint8_t>(s.size() >> 24)};
    write_all(fd, len, 4);
    write_all(fd, s.data(), s.size());
    for (const auto& p : m.payloads) write_all(fd, p.data(), p.size());
}

bool recv_message(int fd, Message* m) {
    uint8_t len[4];
    if (!read_all(fd, len, 4, true)) return false;
    const uint32_t n = len[0] | (len[1] << 8) | (len[2] << 16) | (static_cast<uint32_t>(len[3]) << 24);
    if (n == 0 || n > kMaxHeader) throw Error(ErrorCode::kBadFile, "The engine received a malformed message header.");
    std::string s(n, '\0');
    read_all(fd, s.data(), n, false);
    m->header = nlohmann::json::parse(s, nullptr, false);
    if (!m->header.is_object()) throw Error(ErrorCode::kBadFile, "The engine received a message that is not a JSON object.");
    m->payloads.clear();
    if (m->header.contains("payloads")) {
        const auto& sizes = m->header["payloads"];
        if (!sizes.is_array() || sizes.size() > 1024) throw Error(ErrorCode::kBadFile, "The engine received a malformed payload list.");
        for (const auto& sz : sizes) {
            if (!sz.is_number_unsigned() || sz.get<uint64_t>() > kMaxPayload)
                throw Error(ErrorCode::kBadFile, "The engine received an oversized payload.");
            std::vector<uint8_t> p(sz.get<size_t>());
            if (!p.empty()) read_all(fd, p.data(), p.size(), false);
            m->payloads.push_back(std::move(p));
        }
    }
    return true;
}

bool readable(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, timeout_ms);
    return r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

nlohmann::json request_to_json(const GenerateRequest& r) {
    return {{"prompt", r.prompt}, {"negative_prompt", r.negative_prompt}, {"sampler", r.sampler},
            {"schedule", r.schedule}, {"steps", r.steps}, {"cfg_scale", r.cfg_scale}, {"seed", r.seed},
            {"subseed", r.subseed}, {"subseed_strength", r.subseed_strength},
            {"seed_resize_from_w", r.seed_resize_from_w}, {"seed_resize_from_h", r.seed_resize_from_h},
            {"width", r.width}, {"height", r.height}, {"batch_size", r.batch_size}, {"batch_count", r.batch_count},
            {"rng", r.rng}, {"eta_noise_seed_delta", r.eta_noise_seed_delta}, {"clip_skip", r.clip_skip},
            {"emphasis", r.emphasis}, {"denoising_strength", r.denoising_strength}, {"img2img_fix_steps", r.img2img_fix_steps},
            {"resize_init_image", r.resize_init_image}, {"resize_mode", r.resize_mode},
            {"img2img_upscaler", r.img2img_upscaler},
            {"img2img_color_correction", r.img2img_color_correction}, {"enable_quantization", r.enable_quantization},
            {"img2img_background_color", r.img2img_background_color},
            {"mask_blur", r.mask_blur},
            {"masked_content", r.masked_content}, {"inpaint_full_res", r.inpaint_full_res},
            {"inpaint_full_res_padding", r.inpaint_full_res_padding}, {"inpaint_not_masked", r.inpaint_not_masked},
            {"noise_multiplier", r.noise_multiplier}, {"extra_noise", r.extra_noise},
            {"eta_ancestral", r.eta_ancestral},
            {"eta_ddim", r.eta_ddim}, {"s_churn", r.s_churn}, {"s_tmin", r.s_tmin}, {"s_tmax", r.s_tmax},
            {"s_noise", r.s_noise}, {"s_min_uncond", r.s_min_uncond}, {"s_min_uncond_all", r.s_min_uncond_all}, {"skip_early_cond", r.skip_early_cond},
            {"sgm_noise_multiplier", r.sgm_noise_multiplier}, {"schedule_sigma_min", r.schedule_sigma_min},
            {"schedule_sigma_max", r.schedule_sigma_max}, {"schedule_rho", r.schedule_rho}, {"beta_dist_alpha", r.beta_dist_alpha},
            {"beta_dist_beta", r.beta_dist_beta}, {"always_discard_next_to_last_sigma", r.always_discard_next_to_last_sigma},
            {"old_karras_sigmas", r.old_karras_sigmas}, {"noise_schedule", r.noise_schedule},
            {"downcast_alphas_cumprod", r.downcast_alphas_cumprod}, {"fp8_weight", r.fp8_weight},
            {"cache_fp16_weight", r.cache_fp16_weight}, {"script_info", r.script_info},
            {"image_cfg_scale", r.image_cfg_scale}, {"token_merging_ratio", r.token_merging_ratio}, {"token_merging_ratio_hr", r.token_merging_ratio_hr},
            {"hypertile_unet", r.hypertile_unet}, {"hypertile_unet_second_pass", r.hypertile_unet_second_pass},
            {"hypertile_unet_max_depth", r.hypertile_unet_max_depth}, {"hypertile_unet_max_tile", r.hypertile_unet_max_tile},
            {"hypertile_unet_swap_size", r.hypertile_unet_swap_size}, {"hypertile_vae", r.hypertile_vae},
            {"hypertile_vae_max_depth", r.hypertile_vae_max_depth}, {"hypertile_vae_max_tile", r.hypertile_vae_max_tile},
            {"hypertile_vae_swap_size", r.hypertile_vae_swap_size},
            {"vae_encode_method", r.vae_encode_method}, {"vae_decode_method", r.vae_decode_method},
            {"vae_whole_image", r.vae_whole_image}, {"ldsr_steps", r.ldsr_steps},
            {"face_restoration", r.face_restoration}, {"codeformer_weight", r.codeformer_weight},
            {"live_preview_method", r.live_preview_method},
            {"old_prompt_editing_timelines", r.old_prompt_editing_timelines}, {"pad_cond_uncond", r.pad_cond_uncond},
            {"pad_cond_uncond_v0", r.pad_cond_uncond_v0},
            {"tiling", r.tiling}, {"unipc_variant", r.unipc_variant},
            {"unipc_skip_type", r.unipc_skip_type}, {"unipc_order", r.unipc_order},
            {"unipc_lower_order_final", r.unipc_lower_order_final}, {"inpainting_mask_weight", r.inpainting_mask_weight},
            {"enable_hr", r.enable_hr}, {"hr_scale", r.hr_scale}, {"hr_resize_x", r.hr_resize_x}, {"hr_resize_y", r.hr_resize_y},
            {"hr_upscaler", r.hr_upscaler}, {"hr_second_pass_steps", r.hr_second_pass_steps}, {"hr_sampler", r.hr_sampler},
            {"hr_schedule", r.hr_schedule}, {"hr_prompt", r.hr_prompt}, {"hr_negative_prompt", r.hr_negative_prompt},
            {"hr_checkpoint", r.hr_checkpoint}, {"refiner_checkpoint", r.refiner_checkpoint},
            {"refiner_switch_at", r.refiner_switch_at}, {"hr_refiner_pass", r.hr_refiner_pass},
            {"refiner_switch_by_steps", r.refiner_switch_by_steps}, {"soft_inpainting", r.soft_inpainting},
            {"soft_schedule_bias", r.soft_schedule_bias}, {"soft_preservation_strength", r.soft_preservation_strength},
            {"soft_transition_contrast", r.soft_transition_contrast}, {"soft_mask_influence", r.soft_mask_influence},
            {"soft_difference_threshold", r.soft_difference_threshold}, {"soft_difference_contrast", r.soft_difference_contrast}};
}

GenerateRequest request_from_json(const nlohmann::json& j) {
    GenerateRequest r;
    if (!j.is_object()) throw Error(ErrorCode::kInvalidRequest, "The request must be a JSON object.");
    auto take = [&](const char* k, auto* field) {
        if (!j.contains(k)) return;
        try {
            *field = j.at(k).get<std::decay_t<decltype(*field)>>();
        } catch (const nlohmann::json::exception&) {
            throw Error(ErrorCode::kInvalidRequest, std::string("The request field \"") + k + "\" has the wrong type.");
        }
    };
    take("prompt", &r.prompt);
    take("negative_prompt", &r.negative_prompt);
    take("sampler", &r.sampler);
    take("schedule", &r.schedule);
    take("steps", &r.steps);
    take("cfg_scale", &r.cfg_scale);
    take("seed", &r.seed);
    take("subseed", &r.subseed);
    take("subseed_strength", &r.subseed_strength);
    take("seed_resize_from_w", &r.seed_resize_from_w);
    take("seed_resize_from_h", &r.seed_resize_from_h);
    take("width", &r.width);
    take("height", &r.height);
    take("batch_size", &r.batch_size);
    take("batch_count", &r.batch_count);
    take("rng", &r.rng);
    take("eta_noise_seed_delta", &r.eta_noise_seed_delta);
    take("clip_skip", &r.clip_skip);
    take("emphasis", &r.emphasis);
    take("denoising_strength", &r.denoising_strength);
    take("img2img_fix_steps", &r.img2img_fix_steps);
    take("resize_init_image", &r.resize_init_image);
    take("resize_mode", &r.resize_mode);
    take("img2img_upscaler", &r.img2img_upscaler);
    take("img2img_color_correction", &r.img2img_color_correction);
    take("enable_quantization", &r.enable_quantization);
    take("img2img_background_color", &r.img2img_background_color);
    take("mask_blur", &r.mask_blur);
    take("masked_content", &r.masked_content);
    take("inpaint_full_res", &r.inpaint_full_res);
    take("inpaint_full_res_padding", &r.inpaint_full_res_padding);
    take("inpaint_not_masked", &r.inpaint_not_masked);
    take("noise_multiplier", &r.noise_multiplier);
    take("extra_noise", &r.extra_noise);
    take("eta_ancestral", &r.eta_ancestral);
    take("eta_ddim", &r.eta_ddim);
    take("s_churn", &r.s_churn);
    take("s_tmin", &r.s_tmin);
    take("s_tmax", &r.s_tmax);
    take("s_noise", &r.s_noise);
    take("s_min_uncond", &r.s_min_uncond);
    take("s_min_uncond_all", &r.s_min_uncond_all);
    take("skip_early_cond", &r.skip_early_cond);
    take("sgm_noise_multiplier", &r.sgm_noise_multiplier);
    take("schedule_sigma_min", &r.schedule_sigma_min);
    take("schedule_sigma_max", &r.schedule_sigma_max);
    take("schedule_rho", &r.schedule_rho);
    take("beta_dist_alpha", &r.beta_dist_alpha);
    take("beta_dist_beta", &r.beta_dist_beta);
    take("always_discard_next_to_last_sigma", &r.always_discard_next_to_last_sigma);
    take("old_karras_sigmas", &r.old_karras_sigmas);
    take("noise_schedule", &r.noise_schedule);
    take("token_merging_ratio", &r.token_merging_ratio);
    take("image_cfg_scale", &r.image_cfg_scale);
    take("token_merging_ratio_hr", &r.token_merging_ratio_hr);
    take("hypertile_unet", &r.hypertile_unet);
    take("hypertile_unet_second_pass", &r.hypertile_unet_second_pass);
    take("hypertile_unet_max_depth", &r.hypertile_unet_max_depth);
    take("hypertile_unet_max_tile", &r.hypertile_unet_max_tile);
    take("hypertile_unet_swap_size", &r.hypertile_unet_swap_size);
    take("hypertile_vae", &r.hypertile_vae);
    take("hypertile_vae_max_depth", &r.hypertile_vae_max_depth);
    take("hypertile_vae_max_tile", &r.hypertile_vae_max_tile);
    take("hypertile_vae_swap_size", &r.hypertile_vae_swap_size);
    take("vae_encode_method", &r.vae_encode_method);
    take("vae_decode_method", &r.vae_decode_method);
    take("vae_whole_image", &r.vae_whole_image);
    take("ldsr_steps", &r.ldsr_steps);
    take("face_restoration", &r.face_restoration);
    take("codeformer_weight", &r.codeformer_weight);
    take("live_preview_method", &r.live_preview_method);
    take("downcast_alphas_cumprod", &r.downcast_alphas_cumprod);
    take("fp8_weight", &r.fp8_weight);
    take("cache_fp16_weight", &r.cache_fp16_weight);
    take("script_info", &r.script_info);
    take("old_prompt_editing_timelines", &r.old_prompt_editing_timelines);
    take("pad_cond_uncond", &r.pad_cond_uncond);
    take("pad_cond_uncond_v0", &r.pad_cond_uncond_v0);
    take("tiling", &r.tiling);
    take("unipc_variant", &r.unipc_variant);
    take("unipc_skip_type", &r.unipc_skip_type);
    take("unipc_order", &r.unipc_order);
    take("unipc_lower_order_final", &r.unipc_lower_order_final);
    take("inpainting_mask_weight", &r.inpainting_mask_weight);
    take("soft_inpainting", &r.soft_inpainting);
    take("soft_schedule_bias", &r.soft_schedule_bias);
    take("soft_preservation_strength", &r.soft_preservation_strength);
    take("soft_transition_contrast", &r.soft_transition_contrast);
    take("soft_mask_influence", &r.soft_mask_influence);
    take("soft_difference_threshold", &r.soft_difference_threshold);
    take("soft_difference_contrast", &r.soft_difference_contrast);
    take("enable_hr", &r.enable_hr);
    take("hr_scale", &r.hr_scale);
    take("hr_resize_x", &r.hr_resize_x);
    take("hr_resize_y", &r.hr_resize_y);
    take("hr_upscaler", &r.hr_upscaler);
    take("hr_second_pass_steps", &r.hr_second_pass_steps);
    take("hr_sampler", &r.hr_sampler);
    take("hr_schedule", &r.hr_schedule);
    take("hr_prompt", &r.hr_prompt);
    take("hr_negative_prompt", &r.hr_negative_prompt);
    take("hr_checkpoint", &r.hr_checkpoint);
    take("refiner_checkpoint", &r.refiner_checkpoint);
    take("refiner_switch_at", &r.refiner_switch_at);
    take("hr_refiner_pass", &r.hr_refiner_pass);
    take("refiner_switch_by_steps", &r.refiner_switch_by_steps);
    return r;
}

nlohmann::json attach_image(Message* m, const Image& img) {
    m->payloads.push_back(img.pixels);
    return {{"width", img.width}, {"height", img.height}, {"channels", img.channels},
            {"payload", m->payloads.size() - 1}};
}

Image image_from(const nlohmann::json& d, const Message& m) {
    Image img;
    try {
        img.width = d.at("width").get<int>();
        img.height = d.at("height").get<int>();
        img.channels = d.at("channels").get<int>();
        const size_t idx = d.at("payload").get<size_t>();
        if (idx >= m.payloads.size()) throw Error(ErrorCode::kBadFile, "An image refers to a missing payload.");
        img.pixels = m.payloads[idx];
    } catch (const nlohmann::json::exception&) {
        throw Error(ErrorCode::kBadFile, "An image description is malformed.");
    }
    if (!img.valid()) throw Error(ErrorCode::kBadFile, "An image's size does not match its pixel data.");
    return img;
}

void put_deepbooru_options(nlohmann::json* h, const text::DeepBooruOptions& o) {
    (*h)["threshold"] = o.threshold;
    (*h)["sort_alpha"] = o.sort_alpha;
    (*h)["use_spaces"] = o.use_spaces;
    (*h)["escape"] = o.escape;
    (*h)["include_ranks"] = o.include_ranks;
    (*h)["filter_tags"] = o.filter_tags;
}

text::DeepBooruOptions deepbooru_options_from(const nlohmann::json& h) {
    text::DeepBooruOptions o;
    auto flag = [&](const char* key, bool* v) {
        if (!h.contains(key)) return;
        if (!h[key].is_boolean()) throw Error(ErrorCode::kInvalidRequest, std::string("The field \"") + key + "\" must be true or false.");
        *v = h[key].get<bool>();
    };
    if (h.contains("threshold")) {
        if (!h["threshold"].is_number()) throw Error(ErrorCode::kInvalidRequest, "The field \"threshold\" must be a number.");
        o.threshold = h["threshold"].get<double>();
    }
    flag("sort_alpha", &o.sort_alpha);
    flag("use_spaces", &o.use_spaces);
    flag("escape", &o.escape);
    flag("include_ranks", &o.include_ranks);
    if (h.contains("filter_tags")) {
        if (!h["filter_tags"].is_string()) throw Error(ErrorCode::kInvalidRequest, "The field \"filter_tags\" must be text.");
        o.filter_tags = h["filter_tags"].get<std::string>();
    }
    return o;
}

}  // namespace sdgimp::wire
