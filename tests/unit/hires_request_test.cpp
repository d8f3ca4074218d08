// Hires. fix at the request level: A1111's hires size arithmetic, the checks, and the parameters
// text both ways (against the oracle's A1111-written hires texts).
#include <gtest/gtest.h>

#include <tuple>

#include <clocale>

#include "request.h"
#include "status.h"
#include "support/oracle.h"
#include "text/infotext.h"
#include "wire.h"

using namespace sdgimp;

namespace {

GenerateRequest hires(int w, int h, double scale, int rx = 0, int ry = 0) {
    GenerateRequest r;
    r.width = w;
    r.height = h;
    r.enable_hr = true;
    r.hr_scale = scale;
    r.hr_resize_x = rx;
    r.hr_resize_y = ry;
    r.denoising_strength = 0.7;
    return r;
}

std::string error_of(const GenerateRequest& r) {
    try {
        validate(r);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

// Expected values worked by hand from A1111 1.10's calculate_target_resolution.
TEST(HiresRequest, SizeByScale) {
    HiresSize s = hires_size(hires(512, 512, 2));
    EXPECT_EQ(s.upscale_to_x, 1024);
    EXPECT_EQ(s.upscale_to_y, 1024);
    EXPECT_EQ(s.width(), 1024);
    s = hires_size(hires(512, 768, 1.5));
    EXPECT_EQ(s.width(), 768);
    EXPECT_EQ(s.height(), 1152);
    // int(520 * 1.3) = 676: the latents have 676 // 8 = 84 columns, so the image is 672 wide.
    s = hires_size(hires(520, 512, 1.3));
    EXPECT_EQ(s.upscale_to_x, 676);
    EXPECT_EQ(s.width(), 672);
    EXPECT_EQ(s.height(), 664);  // int(512 * 1.3) = 665
}

TEST(HiresRequest, SizeByResize) {
    // One side given: the other in proportion (integer division).
    HiresSize s = hires_size(hires(512, 768, 2, 1024, 0));
    EXPECT_EQ(s.upscale_to_x, 1024);
    EXPECT_EQ(s.upscale_to_y, 1536);
    s = hires_size(hires(512, 768, 2, 0, 1000));
    EXPECT_EQ(s.upscale_to_x, 666);
    EXPECT_EQ(s.upscale_to_y, 1000);
    EXPECT_EQ(s.width(), 664);
    // Both: enlarged to cover, then latent rows or columns cut.
    s = hires_size(hires(512, 768, 2, 1024, 1024));
    EXPECT_EQ(s.upscale_to_x, 1024);
    EXPECT_EQ(s.upscale_to_y, 1536);
    EXPECT_EQ(s.truncate_x, 0);
    EXPECT_EQ(s.truncate_y, 64);
    EXPECT_EQ(s.width(), 1024);
    EXPECT_EQ(s.height(), 1024);
    s = hires_size(hires(768, 512, 2, 1024, 1024));
    EXPECT_EQ(s.upscale_to_x, 1536);
    EXPECT_EQ(s.truncate_x, 64);
    EXPECT_EQ(s.truncate_y, 0);
    s = hires_size(hires(512, 512, 2, 1000, 700));
    EXPECT_EQ(s.upscale_to_x, 1000);
    EXPECT_EQ(s.upscale_to_y, 1000);
    EXPECT_EQ(s.truncate_y, 37);  // (1000 - 700) // 8
    EXPECT_EQ(s.width(), 1000);
    EXPECT_EQ(s.height(), 704);   // (125 - 37) * 8
}

TEST(HiresRequest, Checks) {
    EXPECT_EQ(error_of(hires(512, 512, 2)), "");
    GenerateRequest r = hires(512, 512, 0.5);
    EXPECT_EQ(error_of(r), "Hires upscale must be between 1 and 8.");
    r.enable_hr = false;  // hires fields are not looked at without Hires. fix
    EXPECT_EQ(error_of(r), "");
    r = hires(512, 512, 2);
    r.denoising_strength = 0;
    EXPECT_NE(error_of(r).find("denoising strength above 0"), std::string::npos);
    r = hires(512, 512, 2);
    r.hr_sampler = "Euler b";
    EXPECT_NE(error_of(r).find("Unknown hires sampler \"Euler b\""), std::string::npos);
    r.hr_sampler = "Use same sampler";
    EXPECT_EQ(error_of(r), "");
    r.hr_schedule = "Karras2";
    EXPECT_NE(error_of(r).find("Unknown hires schedule type"), std::string::npos);
    r = hires(4096, 4096, 4);
    EXPECT_NE(error_of(r).find("would be 16384x16384"), std::string::npos);
    r = hires(512, 512, 2, 0, 20000);
    EXPECT_NE(error_of(r).find("Hires resize"), std::string::npos);
    r = hires(512, 512, 2);
    r.hr_second_pass_steps = -1;
    EXPECT_NE(error_of(r).find("Hires steps"), std::string::npos);
}

TEST(HiresRequest, LatentModes) {
    EXPECT_TRUE(is_latent_upscaler("Latent"));
    EXPECT_TRUE(is_latent_upscaler("Latent (nearest-exact)"));
    EXPECT_FALSE(is_latent_upscaler("Lanczos"));
    EXPECT_FALSE(is_latent_upscaler("Latent (bogus)"));
    EXPECT_EQ(hires_upscaler_names().size(), 9u);
}

// Every hires text A1111 wrote in the oracle: pasted, the request says what the text says, and
// written again from the request it is the same text.
TEST(HiresRequest, OracleTextsPasteAndWriteBack) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto data = test::read_json(test::oracle_dir() + "/text/infotext_create.json");
    int checked = 0;
    for (const auto& c : data["cases"]) {
        const auto& s = c["settings"];
        if (!s.value("enable_hr", false)) continue;
        SCOPED_TRACE(c["id"].get<std::string>());
        const std::string text = c["infotext"];
        GenerateRequest r;
        EXPECT_TRUE(apply_parameters(text, &r).empty());
        EXPECT_TRUE(r.enable_hr);
        for (const auto& kv : s["extra_generation_params"]) {
            const std::string key = kv[0];
            const auto& v = kv[1];
            if (key == "Hires upscale") {
                EXPECT_DOUBLE_EQ(r.hr_scale, v.get<double>());
            }
            if (key == "Denoising strength") {
                EXPECT_DOUBLE_EQ(r.denoising_strength, v.get<double>());
            }
            if (key == "Hires steps") {
                EXPECT_EQ(r.hr_second_pass_steps, v.get<int>());
            }
            if (key == "Hires upscaler") {
                EXPECT_EQ(r.hr_upscaler, v.get<std::string>());
            }
            if (key == "Hires sampler") {
                EXPECT_EQ(r.hr_sampler, v.get<std::string>());
            }
            if (key == "Hires schedule type" && !v.is_null()) {
                EXPECT_EQ(r.hr_schedule, v.get<std::string>());
            }
            if (key == "Hires resize") {
                EXPECT_EQ(std::to_string(r.hr_resize_x) + "x" + std::to_string(r.hr_resize_y), v.get<std::string>());
            }
        }
        const std::string hp = s.value("hr_prompt", ""), hn = s.value("hr_negative_prompt", "");
        EXPECT_EQ(r.hr_prompt, hp == s.value("prompt", "") ? "" : hp);
        EXPECT_EQ(r.hr_negative_prompt, hn == s.value("negative_prompt", "") ? "" : hn);
        ModelIdentity id;
        if (s.contains("sd_model_hash") && !s["sd_model_hash"].is_null()) id.hash = s["sd_model_hash"];
        if (s.contains("sd_model_name") && !s["sd_model_name"].is_null()) id.name = s["sd_model_name"];
        text::GenerationInfo g = generation_info(r, id, r.seed, r.subseed, false);
        g.version = data["program_version"];
        EXPECT_EQ(text::create_infotext(g), text);
        ++checked;
    }
    EXPECT_GE(checked, 1) << "the oracle has no hires texts";
}

TEST(HiresRequest, PasteTurnsHiresOnOnlyForHiresTexts) {
    GenerateRequest r = hires(512, 512, 2);
    apply_parameters("a cat\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 512x512", &r);
    EXPECT_FALSE(r.enable_hr);
    // An img2img text has a denoising strength but no hires size: not a hires run.
    apply_parameters("a cat\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 512x512, Denoising strength: 0.4", &r);
    EXPECT_FALSE(r.enable_hr);
    const auto ignored = apply_parameters(
        "a cat\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 512x512, Denoising strength: 0.5, Hires resize: 1024x0, "
        "Hires checkpoint: other [0123456789]", &r);
    EXPECT_TRUE(r.enable_hr);
    EXPECT_EQ(r.hr_resize_x, 1024);
    EXPECT_EQ(r.hr_resize_y, 0);
    EXPECT_EQ(r.hr_upscaler, "Latent");  // A1111's default when the text names none
    EXPECT_EQ(r.hr_checkpoint, "other [0123456789]");
    EXPECT_TRUE(ignored.empty());
    // Written back: the resize, not the scale, and the hires checkpoint the run used after the strength.
    ModelIdentity id;
    id.hr_checkpoint_title = "other [0123456789]";
    const std::string text = text::create_infotext(generation_info(r, id, 1, 2, false));
    EXPECT_NE(text.find("Denoising strength: 0.5, Hires resize: 1024x0, Hires checkpoint: other [0123456789], Hires upscaler: Latent"), std::string::npos) << text;
    // A1111's "same" marker is no hires checkpoint.
    apply_parameters("a cat\nSteps: 20, Seed: 1, Size: 512x512, Denoising strength: 0.5, Hires upscale: 2, Hires checkpoint: Use same checkpoint", &r);
    EXPECT_EQ(r.hr_checkpoint, "");
}

TEST(HiresRequest, HiresKeysGoBeforeNetworkHashes) {
    GenerateRequest r = hires(512, 512, 1.5);
    r.prompt = "a <lora:x:1> cat";
    r.hr_prompt = "a <lora:x:1> cat, sharp";
    r.hr_sampler = "DPM++ 2M";
    r.hr_schedule = "Karras";
    r.hr_second_pass_steps = 12;
    ModelIdentity id;
    id.lora_hashes = "x: 0123456789ab";
    const std::string text = text::create_infotext(generation_info(r, id, 5, 6, false));
    EXPECT_NE(text.find("Denoising strength: 0.7, Hires upscale: 1.5, Hires sampler: DPM++ 2M, "
                        "Hires prompt: \"a <lora:x:1> cat, sharp\", Hires schedule type: Karras, Hires steps: 12, "
                        "Hires upscaler: Latent, Lora hashes: \"x: 0123456789ab\""),
              std::string::npos)
        << text;
    // Not a txt2img run: no hires keys.
    EXPECT_EQ(text::create_infotext(generation_info(r, id, 5, 6, true)).find("Hires"), std::string::npos);
}

TEST(HiresRequest, WireCarriesTheSettingsOutsideTheText) {
    GenerateRequest r;
    EXPECT_FALSE(wire::request_from_json(wire::request_to_json(r)).img2img_color_correction);
    EXPECT_FALSE(wire::request_from_json(wire::request_to_json(r)).enable_quantization);
    r.img2img_color_correction = true;
    EXPECT_TRUE(wire::request_from_json(wire::request_to_json(r)).img2img_color_correction);
    r.enable_quantization = true;
    EXPECT_TRUE(wire::request_from_json(wire::request_to_json(r)).enable_quantization);
    EXPECT_FALSE(wire::request_from_json(wire::request_to_json(r)).vae_whole_image);
    r.vae_whole_image = true;
    EXPECT_TRUE(wire::request_from_json(wire::request_to_json(r)).vae_whole_image);
    // A1111's "LDSR processing steps": 100 unless set, carried, checked.
    EXPECT_EQ(wire::request_from_json(wire::request_to_json(r)).ldsr_steps, 100);
    r.ldsr_steps = 30;
    EXPECT_EQ(wire::request_from_json(wire::request_to_json(r)).ldsr_steps, 30);
    EXPECT_NO_THROW(validate(r));
    r.ldsr_steps = 0;
    try {
        validate(r);
        ADD_FAILURE() << "0 LDSR steps accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("LDSR steps must be between 1 and 1000, not 0."), std::string::npos) << e.what();
    }
    r.ldsr_steps = 100;
    // A1111's Restore faces: the restorer and CodeFormer's weight carried and checked.
    EXPECT_EQ(wire::request_from_json(wire::request_to_json(r)).face_restoration, "");
    r.face_restoration = "CodeFormer";
    r.codeformer_weight = 0.25;
    const GenerateRequest back = wire::request_from_json(wire::request_to_json(r));
    EXPECT_EQ(back.face_restoration, "CodeFormer");
    EXPECT_DOUBLE_EQ(back.codeformer_weight, 0.25);
    EXPECT_NO_THROW(validate(r));
    for (const auto& [name, weight, message] : std::vector<std::tuple<std::string, double, std::string>>{
             {"codeformer", 0.5, "Unknown face restoration \"codeformer\"; use CodeFormer, GFPGAN or none."},
             {"GFPGAN", 1.5, "CodeFormer weight must be between 0 and 1."}}) {
        r.face_restoration = name;
        r.codeformer_weight = weight;
        try {
            validate(r);
            ADD_FAILURE() << name << " accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
        }
    }
}

TEST(HiresRequest, WireRoundTrip) {
    GenerateRequest r = hires(512, 768, 1.25, 0, 1000);
    r.hr_upscaler = "Latent (bicubic antialiased)";
    r.hr_second_pass_steps = 9;
    r.hr_sampler = "Euler";
    r.hr_schedule = "Exponential";
    r.hr_prompt = "p2";
    r.hr_negative_prompt = "n2";
    const GenerateRequest back = wire::request_from_json(wire::request_to_json(r));
    EXPECT_TRUE(back.enable_hr);
    EXPECT_DOUBLE_EQ(back.hr_scale, 1.25);
    EXPECT_EQ(back.hr_resize_x, 0);
    EXPECT_EQ(back.hr_resize_y, 1000);
    EXPECT_EQ(back.hr_upscaler, r.hr_upscaler);
    EXPECT_EQ(back.hr_second_pass_steps, 9);
    EXPECT_EQ(back.hr_sampler, "Euler");
    EXPECT_EQ(back.hr_schedule, "Exponential");
    EXPECT_EQ(back.hr_prompt, "p2");
    EXPECT_EQ(back.hr_negative_prompt, "n2");
}

// The hires pass builds its own sigma list after the first pass has sampled: keys only it records
// (its schedule's settings, the extra noise of its img2img start) follow the first pass's; the wire
// carries the schedule settings.
TEST(HiresRequest, SecondPassScheduleKeysAndWire) {
    GenerateRequest r = hires(512, 512, 2);
    r.sampler = "Euler a";  // "Automatic": the model's own list, no settings recorded in the first pass
    r.hr_schedule = "Beta";
    r.beta_dist_alpha = 0.5;
    r.schedule_sigma_max = 12;
    r.extra_noise = 0.2;
    r.eta_ancestral = 0.8;
    const std::string text = text::create_infotext(generation_info(r, {}, 1, 1, false));
    EXPECT_NE(text.find("Hires upscaler: Latent, Eta: 0.8, Schedule max sigma: 12.0, Beta schedule alpha: 0.5, "
                        "Beta schedule beta: 0.6, Extra noise: 0.2, Version"),
              std::string::npos) << text;
    r.always_discard_next_to_last_sigma = true;
    r.schedule_rho = 4;
    const GenerateRequest back = wire::request_from_json(wire::request_to_json(r));
    EXPECT_EQ(back.schedule_sigma_max, 12);
    EXPECT_EQ(back.beta_dist_alpha, 0.5);
    EXPECT_EQ(back.schedule_rho, 4);
    EXPECT_TRUE(back.always_discard_next_to_last_sigma);
}

// The refiner's keys come last (A1111 adds them when sampling switches), "Hires refiner" only for
// a pass choice other than A1111's default; the wire carries the three fields.
TEST(RefinerRequest, RecordOrderPasteAndWire) {
    GenerateRequest r = hires(512, 512, 2);
    r.sampler = "Euler";
    r.s_churn = 0.5;
    r.refiner_checkpoint = "/m/detail.safetensors";
    r.refiner_switch_at = 0.75;
    ModelIdentity id;
    id.lora_hashes = "x: 0123456789ab";
    // Not switched: nothing recorded.
    EXPECT_EQ(text::create_infotext(generation_info(r, id, 1, 2, false)).find("Refiner"), std::string::npos);
    id.refiner_title = "detail [0123456789]";
    std::string text = text::create_infotext(generation_info(r, id, 1, 2, false));
    EXPECT_NE(text.find("Lora hashes: \"x: 0123456789ab\", Sigma churn: 0.5, Refiner: detail [0123456789], Refiner switch at: 0.75, Version"),
              std::string::npos) << text;
    r.hr_refiner_pass = "both passes";
    text = text::create_infotext(generation_info(r, id, 1, 2, false));
    EXPECT_NE(text.find("Sigma churn: 0.5, Hires refiner: both passes, Refiner: detail [0123456789]"), std::string::npos) << text;
    GenerateRequest pasted;
    EXPECT_EQ(apply_parameters(text, &pasted), std::vector<std::string>{"Lora hashes"});  // a record, not a setting
    EXPECT_EQ(pasted.refiner_checkpoint, "detail [0123456789]");
    EXPECT_DOUBLE_EQ(pasted.refiner_switch_at, 0.75);
    EXPECT_EQ(pasted.hr_refiner_pass, "both passes");
    // img2img has no hires pass to name.
    EXPECT_EQ(text::create_infotext(generation_info(r, id, 1, 2, true)).find("Hires refiner"), std::string::npos);
    const GenerateRequest back = wire::request_from_json(wire::request_to_json(r));
    EXPECT_EQ(back.refiner_checkpoint, r.refiner_checkpoint);
    EXPECT_DOUBLE_EQ(back.refiner_switch_at, 0.75);
    EXPECT_EQ(back.hr_refiner_pass, "both passes");
    // The step rule is noted on every run while it is set, before the guidance skips.
    r.refiner_switch_by_steps = true;
    r.skip_early_cond = 0.25;
    text = text::create_infotext(generation_info(r, id, 1, 2, false));
    EXPECT_NE(text.find("Refiner switch by sampling steps: True, Skip Early CFG: 0.25"), std::string::npos) << text;
    EXPECT_EQ(apply_parameters(text, &pasted), std::vector<std::string>{"Lora hashes"});
    EXPECT_TRUE(pasted.refiner_switch_by_steps);
    EXPECT_TRUE(wire::request_from_json(wire::request_to_json(r)).refiner_switch_by_steps);
    // "None" (A1111's empty choice) is no refiner.
    apply_parameters("a cat\nSteps: 20, Seed: 1, Size: 512x512, Refiner: None", &pasted);
    EXPECT_EQ(pasted.refiner_checkpoint, "");
}

// "Model: <name>" names a checkpoint by its file name without the extension, as A1111 writes it.
TEST(PasteModel, CheckpointByFileName) {
    const std::vector<std::string> paths = {"/m/v1-5-pruned-emaonly.safetensors", "/m/sub/v2-1_768-ema-pruned.ckpt", "/m/v2-1_768.ckpt.bak"};
    EXPECT_EQ(checkpoint_named(paths, "v2-1_768-ema-pruned"), "/m/sub/v2-1_768-ema-pruned.ckpt");
    EXPECT_EQ(checkpoint_named(paths, "v1-5-pruned-emaonly"), "/m/v1-5-pruned-emaonly.safetensors");
    EXPECT_EQ(checkpoint_named(paths, "v1-5-pruned"), "");
    // A1111's short_title ("Hires checkpoint") names the file with its hash after it.
    EXPECT_EQ(checkpoint_named(paths, "v1-5-pruned-emaonly [6ce0161689]"), "/m/v1-5-pruned-emaonly.safetensors");
    EXPECT_EQ(checkpoint_title_name("name [hash]"), "name");
    EXPECT_EQ(checkpoint_title_name("odd [name"), "odd [name");
    EXPECT_EQ(checkpoint_named(paths, "v2-1_768"), "");  // .ckpt.bak is no checkpoint name
    EXPECT_EQ(checkpoint_named(paths, ""), "");
}

// Pasted numbers past any integer become the nearest extreme, which the checks then name (a bare
// cast would be undefined: the fuzzer found a Size of 73 digits).
TEST(PasteModel, HugeNumbersSaturate) {
    EXPECT_EQ(saturated_int(5e72), INT32_MAX);
    EXPECT_EQ(saturated_int(-5e72), INT32_MIN);
    EXPECT_EQ(saturated_int(12.9), 12);
    EXPECT_EQ(saturated_int64(1e30), INT64_MAX);
    EXPECT_EQ(saturated_int64(-3.5), -3);
    GenerateRequest r;
    apply_parameters("a\nSteps: 1e20, Seed: 1e30, Size: 99999999999999999999x0, Denoising strength: 0.5, Hires resize: 99999999999x1", &r);
    EXPECT_EQ(r.steps, INT32_MAX);
    EXPECT_EQ(r.seed, INT64_MAX);
    EXPECT_EQ(r.width, INT32_MAX);
    EXPECT_EQ(r.height, 0);
    EXPECT_EQ(error_of(r), "Steps must be between 1 and 1000, not 2147483647.");
    EXPECT_EQ(hires_size(r).width(), 0);  // no first-pass height: nothing to enlarge
    r.steps = 20;
    r.height = 512;
    r.width = 512;
    r.seed = 1;
    EXPECT_NE(error_of(r).find("Hires resize width and height must be between 0"), std::string::npos) << error_of(r);
}

// A1111 records a run's schedule as get_sigmas resolves it: "Automatic" becomes the sampler's own
// type where it has one, and the second pass's type is written when it resolves to another.
TEST(HiresRequest, RecordedScheduleTypes) {
    EXPECT_EQ(recorded_schedule("DPM++ 2M", "Automatic"), "Karras");
    EXPECT_EQ(recorded_schedule("DPM++ 2M SDE", "Automatic"), "Exponential");
    EXPECT_EQ(recorded_schedule("Euler a", "Automatic"), "Automatic");
    EXPECT_EQ(recorded_schedule("DPM++ 2M", "Uniform"), "Uniform");
    GenerateRequest r;
    r.sampler = "DPM++ 2M";
    auto text = [&] { return text::create_infotext(generation_info(r, {}, 1, 2, false)); };
    EXPECT_NE(text().find("Sampler: DPM++ 2M, Schedule type: Karras,"), std::string::npos) << text();
    r = hires(512, 512, 2);
    r.hr_sampler = "DPM++ 2M";  // Euler a's model schedule, then DPM++ 2M's own Karras
    EXPECT_NE(text().find("Hires sampler: DPM++ 2M, Hires schedule type: Karras,"), std::string::npos) << text();
    r.sampler = "DPM++ 2M";
    r.hr_sampler = "";
    r.hr_schedule = "Karras";  // what "Automatic" already was: not written
    EXPECT_EQ(text().find("Hires schedule type"), std::string::npos) << text();
    r.hr_sampler = "DDIM";  // timestep samplers record no schedule
    r.hr_schedule = "Exponential";
    EXPECT_EQ(text().find("Hires schedule type"), std::string::npos) << text();
}
