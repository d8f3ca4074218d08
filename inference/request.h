// The engine's plain request structs, named after A1111's fields, and their round trip through the
// A1111 parameters text. Torch-free: the plug-in, the dialogs and the CLI all fill these.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "text/infotext.h"

namespace sdgimp {

struct GenerateRequest {
    std::string prompt, negative_prompt;
    std::string sampler = "Euler a";
    std::string schedule = "Automatic";
    int steps = 20;
    double cfg_scale = 7.0;
    int64_t seed = -1;  // -1: random, then recorded
    int64_t subseed = -1;
    double subseed_strength = 0;
    int seed_resize_from_w = 0, seed_resize_from_h = 0;
    int width = 512, height = 512;
    int batch_size = 1, batch_count = 1;
    std::string rng = "GPU";  // A1111's "Random number generator source": GPU, CPU or NV
    int64_t eta_noise_seed_delta = 0;
    int clip_skip = 1;
    std::string emphasis = "Original";
    double denoising_strength = 0.75;  // img2img / inpaint
    // A1111's "Image CFG scale" for InstructPix2Pix checkpoints (img2img, inpaint): how closely the
    // result keeps to the input image; 1 = plain CFG with the image on both sides.
    double image_cfg_scale = 1.5;
    bool img2img_fix_steps = false;    // A1111's "do exactly the amount of steps the slider specifies"
    // img2img: the init image resized to width x height first, as A1111 resizes it to its tab's
    // size (the plug-in's scripts set this where a line or an axis asks for another size than the
    // layer's; the Image to Image dialog's "Resize to"). Off: the run takes the init image's size.
    bool resize_init_image = false;
    // How (A1111's img2img "Resize mode"): 0 Just resize (Lanczos), 1 Crop and resize (fill and
    // centre-crop), 2 Resize and fill (fit, the edges stretched into the gaps), 3 Just resize
    // (latent upscale: the init latent enlarged bilinearly instead of the picture).
    int resize_mode = 0;
    // A1111's "Upscaler for img2img" setting: what enlarges the picture in those resizes ("None":
    // Lanczos; else an upscaler by name, then Lanczos to the exact size). Not in the text.
    std::string img2img_upscaler = "None";
    // A1111's "Apply color correction to img2img results to match original colors" (img2img,
    // inpaint and the scripts that run them): not written to the parameters text, as there.
    bool img2img_color_correction = false;
    // A1111's "Background color for img2img": what shows through a transparent init image (img2img,
    // inpainting, SD upscale), "#rrggbb". A setting, not in the parameters text.
    std::string img2img_background_color = "#ffffff";
    // A1111's "Enable quantization in K samplers": the k-diffusion samplers' model calls (and the
    // SGM Uniform / Normal schedules) use the nearest whole timestep. A setting A1111 does not write
    // to the parameters text.
    bool enable_quantization = false;
    // A1111's "Sampler parameters" settings; written to the parameters text when not the default.
    double eta_ancestral = 1.0;  // "Eta": ancestral, SDE and DPM fast/adaptive samplers
    double eta_ddim = 0.0;       // "Eta DDIM": DDIM, DDIM CFG++
    double s_churn = 0, s_tmin = 0, s_tmax = 0, s_noise = 1.0;  // Euler, Heun, DPM2 (s_tmax 0: no bound)
    double s_min_uncond = 0;     // "NGMS": skip the uncond pass on odd calls below this sigma
    bool s_min_uncond_all = false;  // "NGMS all steps": on every call below it
    double skip_early_cond = 0;  // "Skip Early CFG": no guidance for this fraction of the steps
    bool sgm_noise_multiplier = false;
    // A1111's schedule settings: the noise range the schedule types span (0 = the model's own),
    // Karras's / Polyexponential's rho (0 = 7 / 1), the Beta schedule's distribution, and whether
    // every k-diffusion sampler drops the next-to-last sigma.
    double schedule_sigma_min = 0, schedule_sigma_max = 0, schedule_rho = 0;
    double beta_dist_alpha = 0.6, beta_dist_beta = 0.6;
    bool always_discard_next_to_last_sigma = false;
    bool old_karras_sigmas = false;  // A1111's "Use old karras scheduler sigmas (0.1 to 10)"; not recorded
    std::string noise_schedule = "Default";  // A1111's "Noise schedule for sampling": Default or Zero Terminal SNR
    // A1111's "Downcast model alphas_cumprod to fp16 before sampling" (its half-precision models did
    // so before 1.7; texts of those versions set it).
    bool downcast_alphas_cumprod = false;
    // A1111's "FP8 weight" (Settings > Optimizations): "Enable" rounds the UNet's and text encoder's
    // convolution and linear weights to float8 (e4m3fn) values, which changes the image; "Disable"
    // and "Enable for SDXL" (SDXL models only, none of ours) leave them. cache_fp16_weight: A1111's
    // "Cache FP16 weight for LoRA" (LoRA networks merge into the unrounded weights).
    std::string fp8_weight = "Disable";
    bool cache_fp16_weight = false;
    // Keys a script adds to every image's parameters text before the run's own (A1111's
    // p.extra_generation_params as a script sets it, e.g. Loopback's "Denoising curve"), values as written.
    std::vector<std::pair<std::string, std::string>> script_info;
    // A1111's "Use old prompt editing timelines": [a:b:when] read as before 1.6 (a fraction below 1
    // of the steps, else a step; the hires pass counts the first pass's steps).
    bool old_prompt_editing_timelines = false;
    // A1111's "Pad prompt/negative prompt" (Pad conds) and its older form (Pad conds v0, which wins).
    bool pad_cond_uncond = false, pad_cond_uncond_v0 = false;
    // A1111's "Token merging ratio" (tomesd: that share of the tokens merged for the self-attention
    // at the latent's own resolution; 0 = none) for the first pass, and for the hires pass (0 = the
    // first pass's).
    double token_merging_ratio = 0, token_merging_ratio_hr = 0;
    // A1111's Hypertile (Settings > Hypertile): the U-Net's self-attention (on every pass, or on
    // the hires pass only) and the VAE decoder's middle attention over tiles whose count is drawn
    // per call (A1111's defaults: depth 3, tile 256 / 128, swap size 3).
    bool hypertile_unet = false, hypertile_unet_second_pass = false, hypertile_vae = false;
    int hypertile_unet_max_depth = 3, hypertile_unet_max_tile = 256, hypertile_unet_swap_size = 3;
    int hypertile_vae_max_depth = 3, hypertile_vae_max_tile = 128, hypertile_vae_swap_size = 3;
    // A1111's "VAE type for encode / decode" (Settings > VAE): "Full" (the model's VAE) or "TAESD"
    // (madebyollin's tiny autoencoder, a file in the VAE-taesd folder: much faster, softer detail).
    // The encoder makes the init latents of img2img, inpainting and the hires pass's upscaled image.
    std::string vae_encode_method = "Full", vae_decode_method = "Full";
    // Large images (above 1024 x 1024) through the VAE in one pass, as A1111 does, instead of
    // blended 512-pixel tiles (which keep the memory of one tile and differ slightly from A1111's
    // pixels); a 2048 x 2048 decode then needs several GiB. Not recorded in the text.
    bool vae_whole_image = false;
    // A1111's "LDSR processing steps" for the LDSR upscaler where the run upscales (Hires. fix, the
    // img2img and SD upscale upscalers); not recorded.
    int ldsr_steps = 100;
    // A1111's "Restore faces" with its "Face restoration model": "" (off), "CodeFormer" or "GFPGAN".
    // Each image is restored after decoding, before colour correction and the inpaint overlay, and
    // records "Face restoration: <name>". codeformer_weight: A1111's "CodeFormer weight" setting
    // (not recorded).
    std::string face_restoration;
    double codeformer_weight = 0.5;
    // A1111's "Live preview display": "Full" (the VAE), "Approx NN" (its VAE-approx model.pt),
    // "Approx cheap" (a fixed linear map) or "TAESD"; not recorded.
    std::string live_preview_method = "Approx cheap";
    std::string unipc_variant = "bh1", unipc_skip_type = "time_uniform";
    int unipc_order = 3;
    bool unipc_lower_order_final = true;
    // Inpaint (A1111's order for masked content: fill, original, latent noise, latent nothing).
    int mask_blur = 4;
    int masked_content = 1;
    bool inpaint_full_res = false;
    int inpaint_full_res_padding = 32;
    bool inpaint_not_masked = false;  // A1111's "Mask mode: Inpaint not masked": the mask inverted first
    // A1111's img2img noise settings: the starting noise scaled ("Noise multiplier for img2img",
    // recorded as "Noise multiplier"; not in Hires. fix's second pass), and the same noise added
    // once more at this strength ("Extra noise", img2img and the hires pass).
    double noise_multiplier = 1.0;
    double extra_noise = 0.0;
    // Inpainting models: how strongly the masked area is blanked in their image conditioning
    // (A1111's "Inpainting conditioning mask strength", written as "Conditional mask weight").
    double inpainting_mask_weight = 1.0;
    // A1111's "Soft inpainting" (inpaint only): partly masked pixels keep part of the original, and
    // each result is composited through a mask of where it really changed (pipeline/soft_inpaint.h).
    // The six numbers are A1111's Schedule bias, Preservation strength, Transition contrast boost,
    // Mask influence, Difference threshold and Difference contrast.
    bool soft_inpainting = false;
    double soft_schedule_bias = 1, soft_preservation_strength = 0.5, soft_transition_contrast = 4;
    double soft_mask_influence = 0, soft_difference_threshold = 0.5, soft_difference_contrast = 2;
    // A1111's "Tiling": the networks' convolutions pad circularly, so the image tiles seamlessly.
    bool tiling = false;
    // A1111's "Hires. fix" (txt2img only): the first pass at width x height, its latents (or its
    // decoded image, through an upscaler) enlarged to the hires size, then an img2img pass there at
    // denoising_strength. The hires size is hr_scale times the first pass, or hr_resize_x x
    // hr_resize_y when either is set (one 0: kept in proportion; both: cropped to that aspect).
    bool enable_hr = false;
    double hr_scale = 2.0;
    int hr_resize_x = 0, hr_resize_y = 0;
    std::string hr_upscaler = "Latent";  // a latent mode (hires_upscaler_names()) or an image upscaler
    int hr_second_pass_steps = 0;        // 0: the first pass's steps
    std::string hr_sampler, hr_schedule;  // "": the first pass's
    std::string hr_prompt, hr_negative_prompt;  // "": the first pass's
    // A1111's "Hires checkpoint": the second pass runs on another checkpoint of the same family
    // (its file, or its name as A1111 records it, "name" or "name [hash]"); "": the first pass's.
    std::string hr_checkpoint;
    // A1111's "Refiner": sampling switches to another checkpoint of the same kind (its file, or
    // "name [hash]" of a file beside the model) once refiner_switch_at of the model's timesteps are
    // done; "": none. With Hires. fix it joins hr_refiner_pass (A1111's "Hires refiner" setting):
    // "first pass", "second pass" or "both passes".
    std::string refiner_checkpoint;
    double refiner_switch_at = 0.8;
    // A1111's setting "Refiner switch by sampling steps": the switch counts sampler steps instead of
    // reading the sigma (A1111 records it on every run while it is set).
    bool refiner_switch_by_steps = false;
    std::string hr_refiner_pass = "second pass";
};

// A1111's latent upscale modes for the hires pass, then the image upscalers that need no model
// ("None", "Lanczos", "Nearest"); learned ones are named as Engine::upscale names them.
const std::vector<std::string>& hires_upscaler_names();
bool is_latent_upscaler(const std::string& name);

// Whether the request samples on A1111's "Zero Terminal SNR" noise schedule.
bool zero_terminal_snr(const GenerateRequest& r);
// Whether the run's weights are rounded to float8 ("FP8 weight: Enable"; "Enable for SDXL" is off
// for the SD 1.x and 2.x models this engine loads, as in A1111).
bool fp8_on(const GenerateRequest& r);
// The hires pass's token merging ratio (A1111's get_token_merging_ratio(for_hr=True)).
double hires_token_merging_ratio(const GenerateRequest& r);

// The hires pass's size as A1111 computes it (calculate_target_resolution): the size the first
// pass is enlarged to, and the latent rows/columns then cut from each side's total.
struct HiresSize {
    int upscale_to_x = 0, upscale_to_y = 0;
    int truncate_x = 0, truncate_y = 0;  // latent columns / rows cut (half before, half after)
    int width() const;   // the image's final size: (upscale_to_x / 8 - truncate_x) * 8
    int height() const;
};
HiresSize hires_size(const GenerateRequest& r);

// The A1111 sampler and schedule names this engine implements, in A1111's menu order (the
// dialogs list them; a test keeps them equal to the engine's tables).
const std::vector<std::string>& sampler_names();
// The name of `names` that v spells without regard to case (A1111 matches sampler, schedule and
// other names so), or "".
std::string canonical_name(const std::vector<std::string>& names, const std::string& v);
// A1111's samplers_map: the sampler a name or an old alias ("k_euler_a", "k_dpmpp_2m", "ddim")
// spells without regard to case, or "".
std::string sampler_from_map(const std::string& v);
const std::vector<std::string>& schedule_names();

// Numbers from texts (pasted parameters, X/Y values, options) as integers, saturated at the type's
// range (validate() then names the field); a bare cast of an out-of-range double is undefined.
int saturated_int(double v);
int64_t saturated_int64(double v);

// What A1111's "Automatic" schedule is for a sampler: "Karras" or "Exponential" for the samplers
// that name one, "" for the others (the model's own schedule; the timestep samplers).
std::string automatic_schedule(const std::string& sampler);

// The schedule label A1111 records for a run: an explicit type as chosen, "Automatic" resolved to
// the sampler's own type when it has one (A1111 writes "Schedule type: Karras" for DPM++ 2M).
std::string recorded_schedule(const std::string& sampler, const std::string& schedule);

// Checks ranges and names; throws sdgimp::Error with one sentence naming the field and the fix.
void validate(const GenerateRequest& r);

// Fills every field the text carries ("paste parameters"); the others keep their values.
// Returns the keys that were read but have no field here (shown to the user as ignored).
std::vector<std::string> apply_parameters(const std::string& infotext, GenerateRequest* r);

// The checkpoint of `paths` whose file name without .safetensors / .ckpt is `name` (what A1111
// writes as "Model: ..."), or "".
// A checkpoint's name without A1111's " [hash]" suffix ("v1-5 [6ce0161689]" -> "v1-5").
std::string checkpoint_title_name(const std::string& title);
std::string checkpoint_named(const std::vector<std::string>& paths, const std::string& name);

// The A1111 generation record of one image, given that image's own seed and subseed.
struct ModelIdentity {
    std::string hash;  // A1111's short hash (10 hex digits)
    std::string name;  // file name without extension
    bool inpainting = false;
    bool edit = false;  // an InstructPix2Pix checkpoint (8 input channels): its img2img texts note the Image CFG scale
    std::string vae_hash, vae_name;  // a separate VAE file's: 10 hex digits, file name; empty without one
    std::string lora_hashes;  // A1111's "Lora hashes" of the run's <lora:...> networks ("name: hash, ..."), or ""
    std::string ti_hashes;    // A1111's "TI hashes" of the embeddings the prompts use, or ""
    std::string hr_checkpoint_title;  // a Hires checkpoint's "name [hash]" (A1111's short_title), or ""
    std::string refiner_title;        // the refiner's "name [hash]" when sampling switched to it, or ""
    bool old_timelines_changed = false;  // the old prompt editing timelines changed a schedule of the run
    bool padded_conds = false;           // the run padded its prompt and negative prompt to one length
    // Whether NGMS skipped an uncond pass in the run (A1111 notes it only then); unset (no run
    // behind the text): noted whenever it is set.
    std::optional<bool> ngms_skipped;
};
text::GenerationInfo generation_info(const GenerateRequest& r, const ModelIdentity& model, int64_t seed,
                                     int64_t subseed, bool img2img);
// A1111's "Soft inpainting enabled: True" and its six settings, when the request uses it.
void add_soft_inpaint_info(const GenerateRequest& r, text::GenerationInfo* g);
// Keys A1111 adds before a run's prompts are encoded (scripts' and img2img init's: soft
// inpainting, mask, inpaint area, SD upscale), placed ahead of those added later (the networks'
// hashes, emphasis, noise and sampler parameters), in the order given.
void add_early_info(text::GenerationInfo* g, const std::vector<std::pair<std::string, text::InfoValue>>& keys);

}  // namespace sdgimp
