// The X/Y plot's axes as A1111's script reads them: comma-separated values with quotes keeping
// commas, sampler names matched without case, Prompt S/R replacing its first value in both
// prompts, and one sentence for a value that is not one of the field.
#include <gtest/gtest.h>

#include <array>

#include "status.h"
#include "wire.h"
#include "xy_plot.h"

using namespace sdgimp;

namespace {

std::string error_of(const std::string& field, const std::string& text, const GenerateRequest& base = {}) {
    try {
        (void)parse_xy_axis(field, text, base);
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kInvalidRequest);
        return e.what();
    }
    return "";
}

}  // namespace

TEST(XYPlot, NumericFieldsSetTheirRequestField) {
    const XYAxis cfg = parse_xy_axis("CFG Scale", " 5, 7.5 ,9", {});
    EXPECT_EQ(cfg.values, (std::vector<std::string>{"5", "7.5", "9"}));
    GenerateRequest r;
    apply_xy_value(&r, cfg, 1);
    EXPECT_EQ(r.cfg_scale, 7.5);
    const XYAxis steps = parse_xy_axis("Steps", "20,30", {});
    apply_xy_value(&r, steps, 1);
    EXPECT_EQ(r.steps, 30);
    const XYAxis seed = parse_xy_axis("Seed", "3331645590", {});
    apply_xy_value(&r, seed, 0);
    EXPECT_EQ(r.seed, 3331645590LL);
    EXPECT_EQ(error_of("Steps", "20, many"), "The Steps values must be numbers separated by commas, not \"many\".");
    EXPECT_EQ(error_of("Steps", " , "), "Give at least one Steps value (e.g. \"5, 7, 9\").");
    EXPECT_NE(error_of("Width", "512").find("The plot cannot vary \"Width\"; use CFG Scale, Steps,"), std::string::npos);
}

TEST(XYPlot, SamplersByA1111NameWithoutCase) {
    const XYAxis s = parse_xy_axis("Sampler", "euler a, DPM++ 2M,  dpm++ sde", {});
    EXPECT_EQ(s.values, (std::vector<std::string>{"Euler a", "DPM++ 2M", "DPM++ SDE"}));
    GenerateRequest r;
    apply_xy_value(&r, s, 2);
    EXPECT_EQ(r.sampler, "DPM++ SDE");
    EXPECT_EQ(error_of("Sampler", "Euler a, Nope"), "Unknown sampler \"Nope\" in the X/Y values; use A1111's names, e.g. Euler a, DPM++ 2M.");
    // A1111's samplers_map aliases, also for the hires sampler.
    EXPECT_EQ(parse_xy_axis("Sampler", "k_euler_a, K_DPMPP_2M, k_euler_ancestral, ddim_cfgpp, k_lcm", {}).values,
              (std::vector<std::string>{"Euler a", "DPM++ 2M", "Euler a", "DDIM CFG++", "LCM"}));
    EXPECT_EQ(parse_xy_axis("Hires sampler", "k_dpm_ad, restart", {}).values, (std::vector<std::string>{"DPM adaptive", "Restart"}));
}

// Run from A1111's img2img tab: the hires pass's axes cannot change the plot; Size resizes the layer.
TEST(XYPlot, Img2ImgRefusesTheAxesThatCannotChangeIt) {
    for (const auto& [field, values] : std::vector<std::pair<std::string, std::string>>{
             {"Hires steps", "1, 2"}, {"Hires upscaler", "Latent"}, {"Hires sampler", "Euler"}, {"Token merging ratio high-res", "0.5"}}) {
        try {
            check_xy_axis_for_img2img(parse_xy_axis(field, values, {}));
            ADD_FAILURE() << field << " accepted";
        } catch (const Error& e) {
            EXPECT_EQ(std::string(e.what()), "The X/Y axis \"" + field +
                                                 "\" belongs to Text to Image (img2img has no hires pass); choose another axis or run as txt2img.");
        }
    }
    for (const char* ok : {"Denoising", "CFG Scale", "Steps", "Sampler", "Nothing", "Size"}) {
        const std::string values = std::string(ok) == "Sampler" ? "Euler" : std::string(ok) == "Nothing" ? "" : std::string(ok) == "Size" ? "512x512" : "0.5";
        EXPECT_NO_THROW(check_xy_axis_for_img2img(parse_xy_axis(ok, values, {}))) << ok;
    }
}

TEST(SamplersMap, EveryNameAndAlias) {
    for (const auto& name : sampler_names()) EXPECT_EQ(sampler_from_map(name), name);
    const std::pair<const char*, const char*> aliases[] = {
        {"k_dpmpp_2m", "DPM++ 2M"}, {"k_dpmpp_sde", "DPM++ SDE"}, {"k_dpmpp_2m_sde", "DPM++ 2M SDE"},
        {"k_dpmpp_2m_sde_heun", "DPM++ 2M SDE Heun"}, {"k_dpmpp_2s_a", "DPM++ 2S a"}, {"k_dpmpp_3m_sde", "DPM++ 3M SDE"},
        {"k_euler_a", "Euler a"}, {"k_euler_ancestral", "Euler a"}, {"k_euler", "Euler"}, {"k_lms", "LMS"}, {"k_heun", "Heun"},
        {"k_dpm_2", "DPM2"}, {"k_dpm_2_a", "DPM2 a"}, {"k_dpm_fast", "DPM fast"}, {"k_dpm_ad", "DPM adaptive"},
        {"restart", "Restart"}, {"ddim", "DDIM"}, {"ddim_cfgpp", "DDIM CFG++"}, {"plms", "PLMS"}, {"unipc", "UniPC"}, {"k_lcm", "LCM"}};
    for (const auto& [alias, name] : aliases) EXPECT_EQ(sampler_from_map(alias), name) << alias;
    EXPECT_EQ(sampler_from_map("Euler A"), "Euler a");
    EXPECT_EQ(sampler_from_map("k_euler_"), "");
    EXPECT_EQ(sampler_from_map("DPM++ 2M Karras"), "");  // A1111's old combined names are not in the map
    EXPECT_EQ(sampler_from_map(""), "");
}

TEST(XYPlot, PromptSearchReplaceSwapsItsFirstValueInBothPrompts) {
    GenerateRequest base;
    base.prompt = "a red house, red roof";
    base.negative_prompt = "red sky";
    const XYAxis sr = parse_xy_axis("Prompt S/R", "red, \"blue, dark\", green", base);
    EXPECT_EQ(sr.values, (std::vector<std::string>{"red", "blue, dark", "green"}));
    GenerateRequest r = base;
    apply_xy_value(&r, sr, 0);
    EXPECT_EQ(r.prompt, base.prompt);
    r = base;
    apply_xy_value(&r, sr, 1);
    EXPECT_EQ(r.prompt, "a blue, dark house, blue, dark roof");
    EXPECT_EQ(r.negative_prompt, "blue, dark sky");
    r = base;
    apply_xy_value(&r, sr, 2);
    EXPECT_EQ(r.prompt, "a green house, green roof");
    EXPECT_EQ(error_of("Prompt S/R", "purple, green", base),
              "Prompt S/R did not find \"purple\" in the prompt or negative prompt; its first value is the text the others replace.");
}

TEST(XYPlot, ScheduleAndHiresFields) {
    const XYAxis sched = parse_xy_axis("Schedule type", "karras, Exponential,align your steps", {});
    EXPECT_EQ(sched.values, (std::vector<std::string>{"Karras", "Exponential", "Align Your Steps"}));
    GenerateRequest r;
    apply_xy_value(&r, sched, 2);
    EXPECT_EQ(r.schedule, "Align Your Steps");
    EXPECT_EQ(error_of("Schedule type", "Karras, Fast"), "Unknown schedule type \"Fast\" in the X/Y values; use A1111's names, e.g. Automatic, Karras.");
    const XYAxis den = parse_xy_axis("Denoising", "0.3, 0.55", {});
    apply_xy_value(&r, den, 1);
    EXPECT_DOUBLE_EQ(r.denoising_strength, 0.55);
    const XYAxis hs = parse_xy_axis("Hires steps", "0, 12", {});
    apply_xy_value(&r, hs, 1);
    EXPECT_EQ(r.hr_second_pass_steps, 12);
    const XYAxis up = parse_xy_axis("Hires upscaler", "latent (nearest-exact), Lanczos, /m/4x.pth", {});
    EXPECT_EQ(up.values, (std::vector<std::string>{"Latent (nearest-exact)", "Lanczos", "/m/4x.pth"}));
    apply_xy_value(&r, up, 0);
    EXPECT_EQ(r.hr_upscaler, "Latent (nearest-exact)");
}

// A1111's refiner axes: the checkpoint ("None" in any case is none) and the switch point.
TEST(XYPlot, RefinerFields) {
    const XYAxis rc = parse_xy_axis("Refiner checkpoint", "none, detail, /m/other.ckpt", {});
    EXPECT_EQ(rc.values, (std::vector<std::string>{"None", "detail", "/m/other.ckpt"}));
    GenerateRequest r;
    r.refiner_checkpoint = "before";
    apply_xy_value(&r, rc, 0);
    EXPECT_EQ(r.refiner_checkpoint, "");
    apply_xy_value(&r, rc, 1);
    EXPECT_EQ(r.refiner_checkpoint, "detail");
    const XYAxis at = parse_xy_axis("Refiner switch at", "0.6, 0.85", {});
    apply_xy_value(&r, at, 1);
    EXPECT_DOUBLE_EQ(r.refiner_switch_at, 0.85);
    EXPECT_EQ(error_of("Refiner switch at", "0.6, late"), "The Refiner switch at values must be numbers separated by commas, not \"late\".");
}

TEST(XYPlot, CheckpointNamesResolveToFiles) {
    const XYAxis ck = parse_xy_axis("Checkpoint name", "v1-5-pruned-emaonly, /m/other.ckpt", {});
    const std::vector<CheckpointNames> files = {checkpoint_names("/m/v1-5-pruned-emaonly.safetensors"), checkpoint_names("/m/other.ckpt")};
    EXPECT_EQ(xy_checkpoint(ck, 0, files), "/m/v1-5-pruned-emaonly.safetensors");
    EXPECT_EQ(xy_checkpoint(ck, 1, files), "/m/other.ckpt");
    EXPECT_EQ(xy_checkpoint(parse_xy_axis("Steps", "1", {}), 0, files), "");
    GenerateRequest r;
    apply_xy_value(&r, ck, 0);  // the request itself does not change
    EXPECT_EQ(r.steps, GenerateRequest().steps);
    try {
        (void)xy_checkpoint(parse_xy_axis("Checkpoint name", "missing", {}), 0, files);
        ADD_FAILURE() << "an unknown checkpoint was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()),
                  "The checkpoint \"missing\" is not among the model folders' files; write its file name (or a part of it, or its hash).");
    }
}

// A1111 1.10's further axes: its "Var." spellings, Nothing, Prompt order's permutations and
// apply_order, the sampler parameters, boolean and choice fields, Size.
TEST(XYPlot, A1111sFurtherAxes) {
    GenerateRequest base;
    base.prompt = "a cat, oil painting, by the sea, at night";
    base.steps = 4;
    const XYAxis var = parse_xy_axis("Var. strength", "0.05, 0.1", base);
    EXPECT_EQ(var.field, "Variation strength");
    GenerateRequest r = base;
    apply_xy_value(&r, var, 1);
    EXPECT_EQ(r.subseed_strength, 0.1);
    EXPECT_EQ(parse_xy_axis("Var. seed", "7", base).field, "Variation seed");

    // A1111's apply_face_restore: a restorer by name (any case), on for true/yes/y/1 (the run's
    // restorer, else CodeFormer), off for anything else.
    const XYAxis faces = parse_xy_axis("Face restore", "gfpgan, CodeFormer, yes, no", base);
    EXPECT_EQ(faces.values, (std::vector<std::string>{"GFPGAN", "CodeFormer", "True", "False"}));
    const std::vector<std::string> restorer = {"GFPGAN", "CodeFormer", "CodeFormer", ""};
    for (size_t i = 0; i < 4; ++i) {
        r = base;
        apply_xy_value(&r, faces, i);
        EXPECT_EQ(r.face_restoration, restorer[i]) << i;
    }
    r = base;
    r.face_restoration = "GFPGAN";
    apply_xy_value(&r, faces, 2);
    EXPECT_EQ(r.face_restoration, "GFPGAN");

    const XYAxis nothing = parse_xy_axis("Nothing", "whatever", base);
    EXPECT_EQ(nothing.values, (std::vector<std::string>{""}));

    // itertools.permutations order; each cell's tokens go back where the tokens were, in its order.
    const XYAxis order = parse_xy_axis("Prompt order", "oil painting, at night, a cat", base);
    ASSERT_EQ(order.values.size(), 6u);
    EXPECT_EQ(order.values[0], "oil painting, at night, a cat");
    EXPECT_EQ(order.values[1], "oil painting, a cat, at night");
    EXPECT_EQ(order.values[5], "a cat, at night, oil painting");
    r = base;
    apply_xy_value(&r, order, 0);
    EXPECT_EQ(r.prompt, "oil painting, at night, by the sea, a cat");
    r = base;
    apply_xy_value(&r, order, 5);
    EXPECT_EQ(r.prompt, "a cat, at night, by the sea, oil painting");
    EXPECT_EQ(error_of("Prompt order", "a cat, a dog", base), "Prompt order did not find \"a dog\" in the prompt; list tokens the prompt holds.");

    r = base;
    apply_xy_value(&r, parse_xy_axis("Eta", "0.5", base), 0);
    EXPECT_EQ(r.eta_ancestral, 0.5);
    EXPECT_EQ(r.eta_ddim, 0.5);
    for (const auto& [field, member] : std::vector<std::pair<std::string, double GenerateRequest::*>>{
             {"Sigma Churn", &GenerateRequest::s_churn}, {"Sigma min", &GenerateRequest::s_tmin},
             {"Sigma max", &GenerateRequest::s_tmax}, {"Sigma noise", &GenerateRequest::s_noise},
             {"Negative Guidance minimum sigma", &GenerateRequest::s_min_uncond}, {"Skip Early CFG", &GenerateRequest::skip_early_cond},
             {"Initial noise multiplier", &GenerateRequest::noise_multiplier}, {"Extra noise", &GenerateRequest::extra_noise},
             {"Cond. Image Mask Weight", &GenerateRequest::inpainting_mask_weight},
             {"Schedule min sigma", &GenerateRequest::schedule_sigma_min}, {"Schedule max sigma", &GenerateRequest::schedule_sigma_max},
             {"Schedule rho", &GenerateRequest::schedule_rho}, {"Beta schedule alpha", &GenerateRequest::beta_dist_alpha},
             {"Beta schedule beta", &GenerateRequest::beta_dist_beta}, {"Token merging ratio", &GenerateRequest::token_merging_ratio},
             {"Token merging ratio high-res", &GenerateRequest::token_merging_ratio_hr}}) {
        r = base;
        apply_xy_value(&r, parse_xy_axis(field, "0.25, 0.75", base), 1);
        EXPECT_EQ(r.*member, 0.75) << field;
    }
    r = base;
    apply_xy_value(&r, parse_xy_axis("UniPC Order", "2, 5", base), 1);
    EXPECT_EQ(r.unipc_order, 3);  // A1111: at most steps - 1
    const XYAxis sgm = parse_xy_axis("SGM noise multiplier", "true, False, yes", base);
    EXPECT_EQ(sgm.values, (std::vector<std::string>{"True", "False", "False"}));
    apply_xy_value(&r, sgm, 0);
    EXPECT_TRUE(r.sgm_noise_multiplier);
    const XYAxis discard = parse_xy_axis("Always discard next-to-last sigma", "TRUE, false", base);
    EXPECT_EQ(discard.values, (std::vector<std::string>{"True", "False"}));
    apply_xy_value(&r, discard, 0);
    EXPECT_TRUE(r.always_discard_next_to_last_sigma);
    apply_xy_value(&r, discard, 1);
    EXPECT_FALSE(r.always_discard_next_to_last_sigma);
    EXPECT_EQ(error_of("Schedule rho", "5, steep", base), "The Schedule rho values must be numbers separated by commas, not \"steep\".");
    // A1111's [Hypertile] axes: switches and whole numbers.
    const XYAxis ht = parse_xy_axis("[Hypertile] Unet First pass Enabled", "true, no", base);
    EXPECT_EQ(ht.values, (std::vector<std::string>{"True", "False"}));
    apply_xy_value(&r, ht, 0);
    EXPECT_TRUE(r.hypertile_unet);
    apply_xy_value(&r, parse_xy_axis("[Hypertile] Unet Second pass Enabled", "True", base), 0);
    EXPECT_TRUE(r.hypertile_unet_second_pass);
    apply_xy_value(&r, parse_xy_axis("[Hypertile] VAE Enabled", "True", base), 0);
    EXPECT_TRUE(r.hypertile_vae);
    for (const auto& [field, member] : std::vector<std::pair<std::string, int GenerateRequest::*>>{
             {"[Hypertile] Unet Max Depth", &GenerateRequest::hypertile_unet_max_depth},
             {"[Hypertile] Unet Max Tile Size", &GenerateRequest::hypertile_unet_max_tile},
             {"[Hypertile] Unet Swap Size", &GenerateRequest::hypertile_unet_swap_size},
             {"[Hypertile] VAE Max Depth", &GenerateRequest::hypertile_vae_max_depth},
             {"[Hypertile] VAE Max Tile Size", &GenerateRequest::hypertile_vae_max_tile},
             {"[Hypertile] VAE Swap Size", &GenerateRequest::hypertile_vae_swap_size}}) {
        apply_xy_value(&r, parse_xy_axis(field, "1, 2", base), 1);
        EXPECT_EQ(r.*member, 2) << field;
    }
    const XYAxis rng = parse_xy_axis("RNG source", "cpu, NV", base);
    apply_xy_value(&r, rng, 0);
    EXPECT_EQ(r.rng, "CPU");
    EXPECT_EQ(error_of("RNG source", "TPU", base), "Unknown RNG source \"TPU\" in the X/Y values; use GPU, CPU or NV.");
    // A1111's "FP8 mode" sets its fp8_storage setting for the cell.
    const XYAxis fp8 = parse_xy_axis("FP8 mode", "disable, ENABLE, enable for sdxl", base);
    EXPECT_EQ(fp8.values, (std::vector<std::string>{"Disable", "Enable", "Enable for SDXL"}));
    apply_xy_value(&r, fp8, 1);
    EXPECT_EQ(r.fp8_weight, "Enable");
    EXPECT_TRUE(fp8_on(r));
    apply_xy_value(&r, fp8, 2);
    EXPECT_FALSE(fp8_on(r));  // SDXL models only
    EXPECT_GT(xy_axis_cost("Checkpoint name"), xy_axis_cost("FP8 mode"));
    EXPECT_GT(xy_axis_cost("FP8 mode"), xy_axis_cost("VAE"));
    EXPECT_GT(xy_axis_cost("VAE"), xy_axis_cost("CFG Scale"));
    EXPECT_EQ(xy_axis_cost("Refiner checkpoint"), xy_axis_cost("Checkpoint name"));
    EXPECT_EQ(error_of("FP8 mode", "Enable, fp16", base),
              "Unknown FP8 mode \"fp16\" in the X/Y values; use Disable, Enable for SDXL or Enable.");
    const XYAxis hs = parse_xy_axis("Hires sampler", "dpm++ 2m", base);
    apply_xy_value(&r, hs, 0);
    EXPECT_EQ(r.hr_sampler, "DPM++ 2M");
    const XYAxis size = parse_xy_axis("Size", "512x768, 640 x 384", base);
    apply_xy_value(&r, size, 1);
    EXPECT_EQ(r.width, 640);
    EXPECT_EQ(r.height, 384);
    EXPECT_EQ(error_of("Size", "512", base), "The Size values must be WIDTHxHEIGHT, e.g. 512x768, not \"512\".");
}

// "Styles": a value names styles separated by commas; they merge after every other axis, so
// Prompt S/R edits the prompt, never a style's text (A1111 merges p.styles when the cell runs).
TEST(XYPlot, StylesMergeAfterTheOtherAxes) {
    const std::vector<text::PromptStyle> db = {{"Film", "{prompt}, film grain", "digital"}, {"Red", "red tones", "green"}};
    GenerateRequest base;
    base.prompt = "a red house";
    base.negative_prompt = "blurry";
    const XYAxis st = parse_xy_axis("Styles", "Film, \"Film,Red\"", base, db);
    ASSERT_EQ(st.style_sets.size(), 2u);
    EXPECT_EQ(st.style_sets[1].size(), 2u);
    const XYAxis sr = parse_xy_axis("Prompt S/R", "red, blue", base);
    GenerateRequest r = base;
    apply_xy_value(&r, st, 1);
    apply_xy_value(&r, sr, 1);
    EXPECT_EQ(r.prompt, "a blue house");  // nothing merged yet
    apply_xy_styles(&r, st, 1);
    apply_xy_styles(&r, sr, 1);  // not a Styles axis: nothing
    EXPECT_EQ(r.prompt, "a blue house, film grain, red tones");
    EXPECT_EQ(r.negative_prompt, "blurry, digital, green");
    r = base;
    r.hr_prompt = "a castle";
    apply_xy_styles(&r, st, 0);
    EXPECT_EQ(r.hr_prompt, "a castle, film grain");
    EXPECT_EQ(r.hr_negative_prompt, "");  // empty: follows the (styled) negative prompt
    try {
        (void)parse_xy_axis("Styles", "Film, Noir", base, db);
        ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "The style \"Noir\" is not in the styles files (styles.csv); use the names they hold.");
    }
}

// The VAE axis: Automatic (the file beside the checkpoint, if any), None (the checkpoint's own) or a
// VAE file by its file name, with or without the extension, as A1111 lists them.
TEST(XYPlot, VaeAxisNamesFiles) {
    GenerateRequest base;
    const std::vector<std::string> vaes = {"/m/VAE/vae-ft-mse.safetensors", "/m/anime.vae.pt"};
    const XYAxis a = parse_xy_axis("VAE", "automatic, NONE, vae-ft-mse, anime.vae.pt, /m/anime.vae.pt", base);
    EXPECT_EQ(a.values[0], "Automatic");
    EXPECT_EQ(a.values[1], "None");
    EXPECT_EQ(xy_vae(a, 0, vaes), std::optional<std::string>(""));
    EXPECT_EQ(xy_vae(a, 1, vaes), std::optional<std::string>("None"));
    EXPECT_EQ(xy_vae(a, 2, vaes), std::optional<std::string>("/m/VAE/vae-ft-mse.safetensors"));
    EXPECT_EQ(xy_vae(a, 3, vaes), std::optional<std::string>("/m/anime.vae.pt"));
    EXPECT_EQ(xy_vae(a, 4, vaes), std::optional<std::string>("/m/anime.vae.pt"));
    GenerateRequest r = base;
    apply_xy_value(&r, a, 2);  // the VAE goes with the model, not the request
    EXPECT_EQ(wire::request_to_json(r), wire::request_to_json(base));
    EXPECT_EQ(xy_vae(parse_xy_axis("Steps", "1", base), 0, vaes), std::nullopt);
    const XYAxis missing = parse_xy_axis("VAE", "kl-f8", base);
    try {
        xy_vae(missing, 0, vaes);
        ADD_FAILURE() << "found";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "The VAE \"kl-f8\" is not among the model folders' VAE files; write Automatic, None or its file name.");
    }
}

// A1111's X/Y/Z plot: the loop order by axis cost (its first/second axis rules, ties included), the
// seed offsets of "Vary seeds for X/Y/Z", and fix_axis_seeds' one random seed per -1 value.
TEST(XYZPlot, CellOrderSeedOffsetsAndFixedSeeds) {
    auto axis = [](const std::string& field, size_t n) {
        XYAxis a;
        a.field = field;
        for (size_t i = 0; i < n; ++i) a.values.push_back(std::to_string(i));
        return a;
    };
    using Cell = std::array<int, 3>;
    // No slow axis: Z outermost, then Y, X innermost (A1111's default).
    auto order = xyz_cell_order(axis("CFG Scale", 2), axis("Steps", 2), axis("Seed", 2));
    ASSERT_EQ(order.size(), 8u);
    EXPECT_EQ(order[0], (Cell{0, 0, 0}));
    EXPECT_EQ(order[1], (Cell{1, 0, 0}));
    EXPECT_EQ(order[2], (Cell{0, 1, 0}));
    EXPECT_EQ(order[4], (Cell{0, 0, 1}));
    // A checkpoint on X: X outermost; Y and Z tie, so Z second and Y innermost.
    order = xyz_cell_order(axis("Checkpoint name", 2), axis("Steps", 2), axis("CFG Scale", 2));
    EXPECT_EQ(order[1], (Cell{0, 1, 0}));
    EXPECT_EQ(order[2], (Cell{0, 0, 1}));
    EXPECT_EQ(order[4], (Cell{1, 0, 0}));
    // FP8 on Z beats a VAE on Y: Z first, then Y (X costs nothing).
    order = xyz_cell_order(axis("Nothing", 1), axis("VAE", 2), axis("FP8 mode", 2));
    EXPECT_EQ(order[1], (Cell{0, 1, 0}));
    EXPECT_EQ(order[2], (Cell{0, 0, 1}));
    // FP8 on X, a VAE on Y: X first, Y second, Z innermost.
    order = xyz_cell_order(axis("FP8 mode", 2), axis("VAE", 2), axis("Steps", 2));
    EXPECT_EQ(order[1], (Cell{0, 0, 1}));
    EXPECT_EQ(order[2], (Cell{0, 1, 0}));
    EXPECT_EQ(order[4], (Cell{1, 0, 0}));
    // Two checkpoint axes tie with each other: no axis is above both, so A1111's default order.
    order = xyz_cell_order(axis("Checkpoint name", 2), axis("Checkpoint name", 2), axis("Steps", 2));
    EXPECT_EQ(order[1], (Cell{1, 0, 0}));
    EXPECT_EQ(order[4], (Cell{0, 0, 1}));

    // Vary seeds: X adds ix, Y adds iy times the X count when X varies (else 1), Z likewise.
    EXPECT_EQ(xyz_seed_offset(2, 1, 1, 3, 2, true, true, true), 2 + 1 * 3 + 1 * 3 * 2);
    EXPECT_EQ(xyz_seed_offset(2, 1, 1, 3, 2, false, true, true), 1 + 1 * 2);
    EXPECT_EQ(xyz_seed_offset(2, 1, 1, 3, 2, false, false, true), 1);
    EXPECT_EQ(xyz_seed_offset(2, 1, 1, 3, 2, false, false, false), 0);

    int64_t next = 100;
    auto draw = [&] { return next++; };
    XYAxis seeds = parse_xy_axis("Seed", "-1, 5, -1", {});
    fix_xy_axis_seeds(&seeds, draw);
    EXPECT_EQ(seeds.values, (std::vector<std::string>{"100", "5", "101"}));
    XYAxis subs = parse_xy_axis("Var. seed", "-1", {});
    fix_xy_axis_seeds(&subs, draw);
    EXPECT_EQ(subs.values, (std::vector<std::string>{"102"}));
    XYAxis steps = parse_xy_axis("Steps", "20, 30", {});
    fix_xy_axis_seeds(&steps, draw);
    EXPECT_EQ(steps.values, (std::vector<std::string>{"20", "30"}));
}
