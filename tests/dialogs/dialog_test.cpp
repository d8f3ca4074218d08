// The GTK 3 dialogs under Xvfb: construction of every dialog, fields → request, pasting the two
// parameters texts of the original workflow, a real generation on a tiny model (progress to n/n,
// preview updates), cancel mid-run, Ctrl+Enter, and screenshots that must not be blank.
#include <gtest/gtest.h>

#include <chrono>
#include <clocale>
#include <cstdlib>
#include <unistd.h>

#include "client/engine_client.h"
#include "form_dialog.h"
#include "generate_dialog.h"
#include "tool_forms.h"
#include "widgets.h"
#include "io/png_file.h"
#include "model_summary.h"
#include "support/oracle.h"
#include "support/vocab.h"

using namespace sdgimp;
using dialogs::GenerateDialog;

namespace {

std::string out_dir() {
    const char* e = std::getenv("DIALOG_SCREENSHOTS");
    std::string d = e && *e ? e : "/tmp/gimp-diffusion-dialogs";
    g_mkdir_with_parents(d.c_str(), 0755);
    return d;
}

void pump_until(const std::function<bool()>& done, double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (!done() && std::chrono::steady_clock::now() < end) {
        while (gtk_events_pending()) gtk_main_iteration_do(FALSE);
        g_usleep(5000);
    }
    while (gtk_events_pending()) gtk_main_iteration_do(FALSE);
}

// Not blank: the screenshot has many distinct grey levels (text, frames, widgets).
void expect_not_blank(const std::string& path, int min_height = 300) {
    const Image img = io::read_png(path).image;
    ASSERT_GT(img.width, 300);
    ASSERT_GT(img.height, min_height);
    std::vector<int> seen(256, 0);
    for (size_t i = 0; i < img.pixels.size(); i += static_cast<size_t>(img.channels)) seen[img.pixels[i]] = 1;
    int levels = 0;
    for (int v : seen) levels += v;
    EXPECT_GT(levels, 20) << path;
}

struct Fixture {
    std::string model;
    client::EngineClient* client = nullptr;
    int results = 0;
    dialogs::DialogHooks hooks() {
        dialogs::DialogHooks h;
        h.make_request = [this](const GenerateRequest& r, const std::string& m, std::string* err) -> std::optional<wire::Message> {
            if (m.empty()) {
                *err = "Choose a checkpoint first.";
                return std::nullopt;
            }
            wire::Message msg;
            msg.header = {{"op", "txt2img"}, {"request", wire::request_to_json(r)}, {"model", {{"path", m}, {"vocab", test::vocab_path()}}}};
            return msg;
        };
        h.call = [this](const wire::Message& req, const std::function<void(const wire::Message&)>& ev,
                        const std::function<bool()>& cancelled, wire::Message* res) { return client->call(req, ev, cancelled, res); };
        h.on_result = [this](const wire::Message&, const GenerateRequest&, const std::string&) { ++results; };
        return h;
    }
};

}  // namespace

class Dialogs : public ::testing::Test {
protected:
    static void SetUpTestSuite() { ASSERT_TRUE(dialogs::init_gtk()) << "no X display: run under xvfb-run"; }
};

TEST_F(Dialogs, EveryDialogBuildsAndDescribesItsRequest) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    Fixture fx;
    for (auto mode : {dialogs::Mode::kTxt2Img, dialogs::Mode::kImg2Img, dialogs::Mode::kInpaint}) {
        dialogs::DialogConfig cfg;
        cfg.mode = mode;
        cfg.model = models.front().checkpoints.front();
        cfg.models = {cfg.model};
        cfg.vocab = test::vocab_path();
        cfg.initial.prompt = "a lighthouse at dusk, (stormy sea:1.2)";
        cfg.initial.negative_prompt = "blurry";
        cfg.loras = {"detail-a", "style-b"};
        cfg.hypernetworks = {"anime"};
        cfg.styles = {{"Film", "{prompt}, film grain", "digital"}, {"Sharp", "  sharp focus ", ""}};
        GenerateDialog d(cfg, fx.hooks());
        pump_until([] { return false; }, 0.3);
        GenerateRequest r = d.request();
        EXPECT_EQ(r.prompt, cfg.initial.prompt);
        EXPECT_EQ(d.token_counter(false), "7/75");  // a lighthouse at dusk , stormy sea
        EXPECT_EQ(d.model(), cfg.model);
        gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("steps")), 33);
        gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("sampler")), "DPM++ 2M");
        gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("schedule")), "Karras");
        gtk_entry_set_text(GTK_ENTRY(d.widget("seed")), "3331645590");
        gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("width")), 768);
        // "Add to prompt" appends the chosen LoRA's tag.
        gtk_combo_box_set_active(GTK_COMBO_BOX(d.widget("lora")), 1);
        gtk_button_clicked(GTK_BUTTON(d.widget("add_lora")));
        EXPECT_EQ(d.request().prompt, cfg.initial.prompt + " <lora:style-b:1>");
        gtk_button_clicked(GTK_BUTTON(d.widget("add_hypernet")));
        EXPECT_EQ(d.request().prompt, cfg.initial.prompt + " <lora:style-b:1> <hypernet:anime:1>");
        // "Apply to prompts" merges a style as A1111 does: {prompt} replaced, else ", style" appended.
        gtk_text_buffer_set_text(gtk_text_view_get_buffer(GTK_TEXT_VIEW(d.widget("prompt"))), cfg.initial.prompt.c_str(), -1);
        gtk_button_clicked(GTK_BUTTON(d.widget("apply_style")));
        EXPECT_EQ(d.request().prompt, cfg.initial.prompt + ", film grain");
        EXPECT_EQ(d.request().negative_prompt, "blurry, digital");
        gtk_combo_box_set_active(GTK_COMBO_BOX(d.widget("style")), 1);
        gtk_button_clicked(GTK_BUTTON(d.widget("apply_style")));
        EXPECT_EQ(d.request().prompt, cfg.initial.prompt + ", film grain, sharp focus");
        EXPECT_EQ(d.request().negative_prompt, "blurry, digital");
        if (GtkWidget* hp = d.widget("hr_prompt")) {  // A1111 styles a hires prompt too; an empty one follows the prompt
            gtk_text_buffer_set_text(gtk_text_view_get_buffer(GTK_TEXT_VIEW(hp)), "a castle", -1);
            gtk_combo_box_set_active(GTK_COMBO_BOX(d.widget("style")), 0);
            gtk_button_clicked(GTK_BUTTON(d.widget("apply_style")));
            GtkTextIter s0, e0;
            GtkTextBuffer* hb = gtk_text_view_get_buffer(GTK_TEXT_VIEW(hp));
            gtk_text_buffer_get_bounds(hb, &s0, &e0);
            gchar* hr_text = gtk_text_buffer_get_text(hb, &s0, &e0, FALSE);
            EXPECT_STREQ(hr_text, "a castle, film grain");
            g_free(hr_text);
            GtkTextBuffer* hnb = gtk_text_view_get_buffer(GTK_TEXT_VIEW(d.widget("hr_negative_prompt")));
            EXPECT_EQ(gtk_text_buffer_get_char_count(hnb), 0);
            gtk_text_buffer_set_text(hb, "", -1);
        }
        gtk_text_buffer_set_text(gtk_text_view_get_buffer(GTK_TEXT_VIEW(d.widget("negative_prompt"))), cfg.initial.negative_prompt.c_str(), -1);
        gtk_text_buffer_set_text(gtk_text_view_get_buffer(GTK_TEXT_VIEW(d.widget("prompt"))), cfg.initial.prompt.c_str(), -1);
        EXPECT_FALSE(d.request().tiling);
        gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget("tiling")), TRUE);
        r = d.request();
        EXPECT_TRUE(r.tiling);
        EXPECT_EQ(r.steps, 33);
        EXPECT_EQ(r.sampler, "DPM++ 2M");
        EXPECT_EQ(r.schedule, "Karras");
        EXPECT_EQ(r.seed, 3331645590LL);
        EXPECT_EQ(r.width, 768);
        EXPECT_EQ(d.widget("denoising_strength") != nullptr, mode != dialogs::Mode::kTxt2Img);
        // A1111's colour correction setting beside the img2img options; a paste keeps it.
        EXPECT_EQ(d.widget("color_correction") != nullptr, mode != dialogs::Mode::kTxt2Img);
        if (mode != dialogs::Mode::kTxt2Img) {
            EXPECT_FALSE(d.request().img2img_color_correction);
            gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget("color_correction")), TRUE);
            EXPECT_TRUE(d.request().img2img_color_correction);
            d.paste_parameters("stones\nSteps: 12, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 512x512");
            EXPECT_TRUE(d.request().img2img_color_correction);
            EXPECT_EQ(d.request().steps, 12);
            // A1111's background colour for transparent layers: white by default, carried both ways.
            EXPECT_EQ(d.request().img2img_background_color, "#ffffff");
            GenerateRequest colored = d.request();
            colored.img2img_background_color = "#204080";
            d.set_request(colored);
            EXPECT_EQ(d.request().img2img_background_color, "#204080");
            // A1111's exact img2img steps setting, likewise.
            EXPECT_FALSE(d.request().img2img_fix_steps);
            gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget("img2img_fix_steps")), TRUE);
            EXPECT_TRUE(d.request().img2img_fix_steps);
            d.set_request(r);
        }
        // Image to Image's "Resize to width x height" and A1111's resize modes (not Inpaint's).
        EXPECT_EQ(d.widget("resize_init_image") != nullptr, mode == dialogs::Mode::kImg2Img);
        if (mode == dialogs::Mode::kImg2Img) {
            EXPECT_FALSE(d.request().resize_init_image);
            EXPECT_EQ(d.request().resize_mode, 0);
            gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget("resize_init_image")), TRUE);
            gtk_combo_box_set_active(GTK_COMBO_BOX(d.widget("resize_mode")), 2);
            EXPECT_TRUE(d.request().resize_init_image);
            EXPECT_EQ(d.request().resize_mode, 2);
            EXPECT_EQ(d.request().img2img_upscaler, "None");
            EXPECT_TRUE(gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("img2img_upscaler")), "Nearest"));
            EXPECT_EQ(d.request().img2img_upscaler, "Nearest");
            GenerateRequest latent = d.request();
            latent.resize_mode = 3;
            d.set_request(latent);
            EXPECT_EQ(dialogs::combo_id(d.widget("resize_mode")), "Just resize (latent upscale)");
            EXPECT_EQ(dialogs::combo_id(d.widget("img2img_upscaler")), "Nearest");
            d.set_request(r);
            EXPECT_FALSE(d.request().resize_init_image);
        }
        EXPECT_EQ(d.widget("masked_content") != nullptr, mode == dialogs::Mode::kInpaint);
        if (mode == dialogs::Mode::kInpaint) {
            gtk_combo_box_set_active(GTK_COMBO_BOX(d.widget("masked_content")), 2);
            gtk_combo_box_set_active(GTK_COMBO_BOX(d.widget("inpaint_area")), 1);
            EXPECT_EQ(d.request().masked_content, 2);
            EXPECT_TRUE(d.request().inpaint_full_res);
        }
        gtk_entry_set_text(GTK_ENTRY(d.widget("seed")), "abc");
        d.generate();
        EXPECT_NE(d.status_text().find("Seed must be -1"), std::string::npos) << d.status_text();
        EXPECT_FALSE(d.busy());
        gtk_entry_set_text(GTK_ENTRY(d.widget("seed")), "-1");
        pump_until([] { return false; }, 0.2);
        const char* names[] = {"txt2img", "img2img", "inpaint"};
        const std::string shot = out_dir() + "/dialog-" + names[static_cast<int>(mode)] + ".png";
        ASSERT_TRUE(dialogs::save_window_png(d.window(), shot));
        expect_not_blank(shot);
    }
}

// Inpaint's Soft inpainting fields: off by default with A1111's defaults, a pasted A1111 text with
// them fills and opens the section, and the request carries every field back.
TEST_F(Dialogs, SoftInpaintingFieldsFollowThePastedText) {
    Fixture fx;
    dialogs::DialogConfig cfg;
    cfg.mode = dialogs::Mode::kInpaint;
    cfg.vocab = test::vocab_path();
    GenerateDialog d(cfg, fx.hooks());
    ASSERT_NE(d.widget("soft_inpainting"), nullptr);
    GenerateRequest r = d.request();
    EXPECT_FALSE(r.soft_inpainting);
    EXPECT_DOUBLE_EQ(r.soft_preservation_strength, 0.5);
    EXPECT_DOUBLE_EQ(r.soft_transition_contrast, 4);
    EXPECT_FALSE(gtk_expander_get_expanded(GTK_EXPANDER(d.widget("soft"))));
    d.paste_parameters("a door\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x512, Denoising strength: 0.75, "
                       "Mask blur: 16, Mask mode: Inpaint not masked, Soft inpainting enabled: True, Soft inpainting schedule bias: 1.5, "
                       "Soft inpainting preservation strength: 0.75, Soft inpainting transition contrast boost: 8, "
                       "Soft inpainting mask influence: 0.25, Soft inpainting difference threshold: 1.25, "
                       "Soft inpainting difference contrast: 3");
    EXPECT_TRUE(gtk_expander_get_expanded(GTK_EXPANDER(d.widget("soft"))));
    r = d.request();
    EXPECT_TRUE(r.soft_inpainting);
    EXPECT_EQ(r.mask_blur, 16);
    EXPECT_TRUE(r.inpaint_not_masked);
    EXPECT_EQ(gtk_combo_box_get_active(GTK_COMBO_BOX(d.widget("mask_mode"))), 1);
    EXPECT_DOUBLE_EQ(r.soft_schedule_bias, 1.5);
    EXPECT_DOUBLE_EQ(r.soft_preservation_strength, 0.75);
    EXPECT_DOUBLE_EQ(r.soft_transition_contrast, 8);
    EXPECT_DOUBLE_EQ(r.soft_mask_influence, 0.25);
    EXPECT_DOUBLE_EQ(r.soft_difference_threshold, 1.25);
    EXPECT_DOUBLE_EQ(r.soft_difference_contrast, 3);
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget("soft_inpainting")), FALSE);
    EXPECT_FALSE(d.request().soft_inpainting);
    // Image to Image has no such section.
    cfg.mode = dialogs::Mode::kImg2Img;
    GenerateDialog i2i(cfg, fx.hooks());
    EXPECT_EQ(i2i.widget("soft_inpainting"), nullptr);
}

// A1111's Settings-page values (RNG, ENSD, emphasis, the sampler and schedule parameters) have
// fields of their own: a pasted text fills them and opens the section, the request carries them.
TEST_F(Dialogs, SamplerParametersFollowThePastedText) {
    Fixture fx;
    dialogs::DialogConfig cfg;
    cfg.mode = dialogs::Mode::kTxt2Img;
    cfg.vocab = test::vocab_path();
    GenerateDialog d(cfg, fx.hooks());
    ASSERT_NE(d.widget("sampler_parameters"), nullptr);
    EXPECT_FALSE(gtk_expander_get_expanded(GTK_EXPANDER(d.widget("sampler_parameters"))));
    GenerateRequest r = d.request();
    const GenerateRequest defaults;
    EXPECT_EQ(r.rng, "GPU");
    EXPECT_EQ(r.noise_schedule, "Default");
    EXPECT_DOUBLE_EQ(r.eta_ancestral, defaults.eta_ancestral);
    EXPECT_DOUBLE_EQ(r.s_noise, defaults.s_noise);
    EXPECT_DOUBLE_EQ(r.beta_dist_alpha, defaults.beta_dist_alpha);
    d.paste_parameters("a lighthouse\nSteps: 20, Sampler: Euler, Schedule type: Karras, CFG scale: 7, Seed: 5, Size: 512x512, "
                       "ENSD: 31337, RNG: CPU, Emphasis: No norm, Noise Schedule: Zero Terminal SNR, Discard penultimate sigma: True, "
                       "Schedule min sigma: 0.1, Schedule max sigma: 10.0, Schedule rho: 5.0, SGM noise multiplier: True, "
                       "Sigma churn: 0.5, Sigma tmin: 0.25, Sigma tmax: 8.0, Sigma noise: 1.003, Skip Early CFG: 0.2, NGMS: 1.5, "
                       "Token merging ratio: 0.3, Pad conds: True, NGMS all steps: True, Hypertile U-Net: True, "
                       "Hypertile U-Net swap size: 5, VAE Decoder: TAESD");
    EXPECT_TRUE(gtk_expander_get_expanded(GTK_EXPANDER(d.widget("sampler_parameters"))));
    r = d.request();
    EXPECT_EQ(r.rng, "CPU");
    EXPECT_EQ(r.eta_noise_seed_delta, 31337);
    EXPECT_EQ(r.emphasis, "No norm");
    EXPECT_EQ(r.noise_schedule, "Zero Terminal SNR");
    EXPECT_TRUE(r.always_discard_next_to_last_sigma);
    EXPECT_TRUE(r.sgm_noise_multiplier);
    EXPECT_DOUBLE_EQ(r.schedule_sigma_min, 0.1);
    EXPECT_DOUBLE_EQ(r.schedule_sigma_max, 10);
    EXPECT_DOUBLE_EQ(r.schedule_rho, 5);
    EXPECT_DOUBLE_EQ(r.s_churn, 0.5);
    EXPECT_DOUBLE_EQ(r.s_tmin, 0.25);
    EXPECT_DOUBLE_EQ(r.s_tmax, 8);
    EXPECT_DOUBLE_EQ(r.s_noise, 1.003);
    EXPECT_DOUBLE_EQ(r.skip_early_cond, 0.2);
    EXPECT_DOUBLE_EQ(r.s_min_uncond, 1.5);
    EXPECT_TRUE(r.pad_cond_uncond);
    EXPECT_TRUE(r.s_min_uncond_all);
    EXPECT_DOUBLE_EQ(r.token_merging_ratio, 0.3);
    EXPECT_TRUE(r.hypertile_unet);
    EXPECT_EQ(r.hypertile_unet_swap_size, 5);
    EXPECT_FALSE(r.hypertile_vae);
    EXPECT_EQ(r.vae_decode_method, "TAESD");
    EXPECT_EQ(r.vae_encode_method, "Full");
    EXPECT_EQ(dialogs::combo_id(d.widget("vae_decode_method")), "TAESD");
    EXPECT_EQ(dialogs::combo_id(d.widget("rng")), "CPU");
    pump_until([] { return false; }, 0.3);
    ASSERT_TRUE(dialogs::save_window_png(d.window(), out_dir() + "/dialog-sampler-parameters.png"));
    expect_not_blank(out_dir() + "/dialog-sampler-parameters.png");
    // Edited in the dialog, sent with the request.
    gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("beta_dist_alpha")), 0.4);
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget("discard_penultimate_sigma")), FALSE);
    r = d.request();
    EXPECT_DOUBLE_EQ(r.beta_dist_alpha, 0.4);
    EXPECT_FALSE(r.always_discard_next_to_last_sigma);
    // A1111's quantization setting is not in its texts: a paste leaves it as it is.
    EXPECT_FALSE(r.enable_quantization);
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget("enable_quantization")), TRUE);
    EXPECT_TRUE(d.request().enable_quantization);
    d.paste_parameters("a lighthouse\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 512x512");
    EXPECT_TRUE(d.request().enable_quantization);
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget("enable_quantization")), FALSE);
    // So is decoding large images whole.
    EXPECT_FALSE(d.request().vae_whole_image);
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget("vae_whole_image")), TRUE);
    d.paste_parameters("a lighthouse\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 512x512");
    EXPECT_TRUE(d.request().vae_whole_image);
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget("vae_whole_image")), FALSE);
    // And the LDSR upscaler's steps.
    EXPECT_EQ(d.request().ldsr_steps, 100);
    gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("ldsr_steps")), 40);
    d.paste_parameters("a lighthouse\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 512x512");
    EXPECT_EQ(d.request().ldsr_steps, 40);
    gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("ldsr_steps")), 100);
    // A1111's Restore faces: the dialog's choice goes with the request; a pasted text turns it on by
    // its "Face restoration" key and off without it; the CodeFormer weight (not in texts) stays.
    EXPECT_EQ(d.request().face_restoration, "");
    EXPECT_TRUE(gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("face_restoration")), "GFPGAN"));
    gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("codeformer_weight")), 0.8);
    EXPECT_EQ(d.request().face_restoration, "GFPGAN");
    d.paste_parameters("a lighthouse\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Face restoration: CodeFormer, Size: 512x512");
    EXPECT_EQ(dialogs::combo_id(d.widget("face_restoration")), "CodeFormer");
    EXPECT_EQ(d.request().face_restoration, "CodeFormer");
    EXPECT_DOUBLE_EQ(d.request().codeformer_weight, 0.8);
    gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("codeformer_weight")), 0.5);
    // A text without them puts the defaults back (A1111 records each that is not its default).
    d.paste_parameters("a lighthouse\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 512x512");
    r = d.request();
    EXPECT_EQ(r.noise_schedule, "Default");
    EXPECT_FALSE(r.old_prompt_editing_timelines);
    EXPECT_DOUBLE_EQ(r.schedule_rho, 0);
    EXPECT_DOUBLE_EQ(r.token_merging_ratio, 0);
    EXPECT_FALSE(r.hypertile_unet);
    EXPECT_EQ(r.hypertile_unet_swap_size, 3);
    EXPECT_EQ(r.vae_decode_method, "Full");
    EXPECT_EQ(r.face_restoration, "");
    EXPECT_EQ(dialogs::combo_id(d.widget("face_restoration")), "None");
    // A text of a version before 1.6 with prompt editing: the old timelines, shown.
    d.paste_parameters("[a:b:1.5]\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 512x512, Version: v1.5.2");
    EXPECT_TRUE(gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(d.widget("old_prompt_editing"))));
    EXPECT_TRUE(gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(d.widget("downcast_alphas"))));
    EXPECT_TRUE(d.request().old_prompt_editing_timelines);
    EXPECT_DOUBLE_EQ(r.beta_dist_alpha, 0.6);
    // A text made under A1111's FP8 weight: both settings shown and sent; a text without them turns them off.
    d.paste_parameters("a lighthouse\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 512x512, FP8 weight: Enable, "
                       "Cache FP16 weight for LoRA: True");
    EXPECT_EQ(dialogs::combo_id(d.widget("fp8_weight")), "Enable");
    EXPECT_TRUE(gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(d.widget("cache_fp16_weight"))));
    EXPECT_TRUE(gtk_expander_get_expanded(GTK_EXPANDER(d.widget("sampler_parameters"))));
    r = d.request();
    EXPECT_EQ(r.fp8_weight, "Enable");
    EXPECT_TRUE(r.cache_fp16_weight);
    d.paste_parameters("a lighthouse\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 512x512");
    r = d.request();
    EXPECT_EQ(r.fp8_weight, "Disable");
    EXPECT_FALSE(r.cache_fp16_weight);
}

// Text to Image's Hires. fix fields: a pasted A1111 hires text fills them and opens the section,
// the size label follows A1111's arithmetic, and the request carries every field back.
TEST_F(Dialogs, HiresFixFieldsFollowThePastedText) {
    Fixture fx;
    dialogs::DialogConfig cfg;
    cfg.vocab = test::vocab_path();
    cfg.upscalers = {"4x-UltraSharp"};
    cfg.models = {"/models/base.safetensors", "/models/detail.ckpt"};
    GenerateDialog d(cfg, fx.hooks());
    ASSERT_NE(d.widget("enable_hr"), nullptr);
    EXPECT_EQ(d.request().hr_checkpoint, "");  // "Use same checkpoint"
    EXPECT_TRUE(gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("hr_upscaler")), "4x-UltraSharp"));  // offered
    EXPECT_EQ(d.request().hr_upscaler, "4x-UltraSharp");
    EXPECT_FALSE(d.request().enable_hr);
    EXPECT_EQ(d.hires_size_text(), "");
    d.paste_parameters("a forest\nNegative prompt: ugly\nSteps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.5, "
                       "Seed: 31337, Size: 512x768, Denoising strength: 0.45, Hires resize: 1024x1024, Hires sampler: Euler, "
                       "Hires prompt: \"a forest, sharp\", Hires schedule type: Exponential, Hires steps: 15, "
                       "Hires upscaler: Latent (bicubic antialiased), Hires checkpoint: detail [0123456789]");
    EXPECT_TRUE(gtk_expander_get_expanded(GTK_EXPANDER(d.widget("hires"))));
    GenerateRequest r = d.request();
    EXPECT_EQ(r.hr_checkpoint, "/models/detail.ckpt");  // A1111's title found among the picker's files
    EXPECT_TRUE(r.enable_hr);
    EXPECT_DOUBLE_EQ(r.denoising_strength, 0.45);
    EXPECT_EQ(r.hr_resize_x, 1024);
    EXPECT_EQ(r.hr_resize_y, 1024);
    EXPECT_EQ(r.hr_sampler, "Euler");
    EXPECT_EQ(r.hr_schedule, "Exponential");
    EXPECT_EQ(r.hr_second_pass_steps, 15);
    EXPECT_EQ(r.hr_upscaler, "Latent (bicubic antialiased)");
    EXPECT_EQ(r.hr_prompt, "a forest, sharp");
    EXPECT_EQ(r.hr_negative_prompt, "");
    // 512x768 covering 1024x1024: 1024x1536, then cut to 1024x1024.
    EXPECT_EQ(d.hires_size_text(), "512x768 → 1024x1024");
    pump_until([] { return false; }, 0.3);
    ASSERT_TRUE(dialogs::save_window_png(d.window(), out_dir() + "/dialog-hires.png"));
    expect_not_blank(out_dir() + "/dialog-hires.png");
    gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("hr_resize_x")), 0);
    gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("hr_resize_y")), 0);
    gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("hr_scale")), 1.5);
    EXPECT_EQ(d.hires_size_text(), "512x768 → 768x1152");
    gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("hr_sampler")), "Use same sampler");
    gtk_entry_set_text(GTK_ENTRY(gtk_bin_get_child(GTK_BIN(d.widget("hr_upscaler")))), "/models/4x-UltraSharp.pth");
    gtk_entry_set_text(GTK_ENTRY(gtk_bin_get_child(GTK_BIN(d.widget("hr_checkpoint")))), "Use same checkpoint");
    r = d.request();
    EXPECT_EQ(r.hr_checkpoint, "");
    EXPECT_EQ(r.hr_sampler, "");
    EXPECT_DOUBLE_EQ(r.hr_scale, 1.5);
    EXPECT_EQ(r.hr_upscaler, "/models/4x-UltraSharp.pth");
    // What the text carries without a field of its own goes with the request too.
    d.paste_parameters("a cat\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 512x512, Clip skip: 2, ENSD: 31337, RNG: CPU, "
                       "Eta: 0.5, Emphasis: No norm, Denoising strength: 0.5, Hires upscale: 1.5");
    r = d.request();
    EXPECT_EQ(r.clip_skip, 2);
    EXPECT_EQ(r.eta_noise_seed_delta, 31337);
    EXPECT_EQ(r.rng, "CPU");
    EXPECT_DOUBLE_EQ(r.eta_ancestral, 0.5);
    EXPECT_EQ(r.emphasis, "No norm");
    EXPECT_TRUE(gtk_expander_get_expanded(GTK_EXPANDER(d.widget("extra"))));  // Clip skip is there
    gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("clip_skip")), 1);
    EXPECT_EQ(d.request().clip_skip, 1);
    // A text without hires turns it off again.
    d.paste_parameters("a cat\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 512x512");
    EXPECT_FALSE(d.request().enable_hr);
    EXPECT_EQ(d.hires_size_text(), "");
    // Image to Image has no hires section.
    dialogs::DialogConfig i2i = cfg;
    i2i.mode = dialogs::Mode::kImg2Img;
    GenerateDialog d2(i2i, fx.hooks());
    EXPECT_EQ(d2.widget("enable_hr"), nullptr);
}

// The Refiner section in every generating dialog: a pasted A1111 refiner text picks the file among
// the picker's and opens the section; "None" is no refiner; the hires pass choice is Text to Image's.
TEST_F(Dialogs, RefinerFieldsFollowThePastedText) {
    Fixture fx;
    dialogs::DialogConfig cfg;
    cfg.vocab = test::vocab_path();
    cfg.models = {"/models/base.safetensors", "/models/detail.ckpt"};
    GenerateDialog d(cfg, fx.hooks());
    ASSERT_NE(d.widget("refiner_checkpoint"), nullptr);
    EXPECT_EQ(d.request().refiner_checkpoint, "");
    EXPECT_DOUBLE_EQ(d.request().refiner_switch_at, 0.8);
    EXPECT_FALSE(gtk_expander_get_expanded(GTK_EXPANDER(d.widget("refiner"))));
    d.paste_parameters("a forest\nSteps: 30, Sampler: Euler, CFG scale: 7, Seed: 3, Size: 512x512, Denoising strength: 0.5, "
                       "Hires upscale: 2, Hires upscaler: Latent, Hires refiner: first pass, Refiner: detail [0123456789], "
                       "Refiner switch at: 0.65");
    EXPECT_TRUE(gtk_expander_get_expanded(GTK_EXPANDER(d.widget("refiner"))));
    GenerateRequest r = d.request();
    EXPECT_EQ(r.refiner_checkpoint, "/models/detail.ckpt");
    EXPECT_DOUBLE_EQ(r.refiner_switch_at, 0.65);
    EXPECT_EQ(r.hr_refiner_pass, "first pass");
    gtk_entry_set_text(GTK_ENTRY(gtk_bin_get_child(GTK_BIN(d.widget("refiner_checkpoint")))), "None");
    EXPECT_EQ(d.request().refiner_checkpoint, "");
    d.paste_parameters("a cat\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 512x512");
    EXPECT_EQ(d.request().refiner_checkpoint, "");
    for (auto mode : {dialogs::Mode::kImg2Img, dialogs::Mode::kInpaint}) {
        dialogs::DialogConfig c = cfg;
        c.mode = mode;
        GenerateDialog other(c, fx.hooks());
        ASSERT_NE(other.widget("refiner_checkpoint"), nullptr);
        EXPECT_EQ(other.widget("hr_refiner_pass"), nullptr);
        gtk_entry_set_text(GTK_ENTRY(gtk_bin_get_child(GTK_BIN(other.widget("refiner_checkpoint")))), "/models/detail.ckpt");
        gtk_spin_button_set_value(GTK_SPIN_BUTTON(other.widget("refiner_switch_at")), 0.5);
        EXPECT_EQ(other.request().refiner_checkpoint, "/models/detail.ckpt");
        EXPECT_DOUBLE_EQ(other.request().refiner_switch_at, 0.5);
    }
}

// The token counters count an embedding's name as its vectors, as A1111's counter does.
TEST_F(Dialogs, CountersCountEmbeddingVectors) {
    Fixture fx;
    dialogs::DialogConfig cfg;
    cfg.vocab = test::vocab_path();
    cfg.initial.negative_prompt = "EasyNegative, blurry";
    GenerateDialog plain(cfg, fx.hooks());
    const std::string without = plain.token_counter(true);
    cfg.embeddings = {{"EasyNegative", 8}, {"style", 4}};
    GenerateDialog d(cfg, fx.hooks());
    EXPECT_EQ(d.token_counter(true), "10/75");  // 8 vectors, the comma, "blurry"
    EXPECT_NE(without, "10/75");
    gtk_text_buffer_set_text(gtk_text_view_get_buffer(GTK_TEXT_VIEW(d.widget("prompt"))), "a cat, style", -1);
    EXPECT_EQ(d.token_counter(false), "7/75");  // a cat , + 4 vectors
}

// A pasted "Model: <name>" picks that checkpoint when the picker lists it; another is named in the status.
TEST_F(Dialogs, PastedModelNamePicksTheCheckpoint) {
    std::vector<std::string> all;
    for (const auto& m : test::oracle_models())
        for (const auto& ck : m.checkpoints) all.push_back(ck);
    ASSERT_GE(all.size(), 2u);
    Fixture fx;
    dialogs::DialogConfig cfg;
    cfg.vocab = test::vocab_path();
    cfg.model = all[0];
    cfg.models = all;
    GenerateDialog d(cfg, fx.hooks());
    const std::string file = all[1].substr(all[1].find_last_of('/') + 1);
    const std::string stem = file.substr(0, file.find_last_of('.'));
    d.paste_parameters("a cat\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 64x64, Model hash: 0123456789, Model: " + stem);
    EXPECT_EQ(d.model(), all[1]);
    EXPECT_NE(d.status_text().find("Checkpoint: " + stem + "."), std::string::npos) << d.status_text();
    d.paste_parameters("a cat\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 64x64, Model: not-here");
    EXPECT_EQ(d.model(), all[1]);
    EXPECT_NE(d.status_text().find("The checkpoint \"not-here\" is not among the model folders' files"), std::string::npos)
        << d.status_text();
}

TEST_F(Dialogs, ModelPickerShowsTheFamilyAndFollowsItsSize) {
    std::string v_model;
    for (const auto& m : test::oracle_models())
        for (const auto& ck : m.checkpoints)
            if (v_model.empty() && summarize_model(ck).kind == "sd2-v") v_model = ck;
    ASSERT_FALSE(v_model.empty()) << "the oracle has an SD 2.x v-prediction checkpoint";
    Fixture fx;
    auto hooks = fx.hooks();
    hooks.describe_model = [](const std::string& m, int* size) {
        const auto s = summarize_model(m);
        *size = s.default_size;
        return s.kind + ", hash " + s.old_hash;
    };
    dialogs::DialogConfig cfg;
    cfg.model = v_model;
    cfg.models = {v_model};
    cfg.vocab = test::vocab_path();
    GenerateDialog d(cfg, hooks);
    EXPECT_EQ(d.model_info().rfind("sd2-v, hash ", 0), 0u) << d.model_info();
    EXPECT_EQ(d.request().width, 768);  // SD 2.x v-prediction models default to 768
    EXPECT_EQ(d.request().height, 768);
}

TEST_F(Dialogs, PastingTheWorkflowParametersFillsTheFields) {
    const auto data = test::read_json(test::oracle_dir() + "/text/infotext_parse.json");
    Fixture fx;
    dialogs::DialogConfig cfg;
    cfg.vocab = test::vocab_path();
    GenerateDialog d(cfg, fx.hooks());
    int pasted = 0;
    for (const auto& c : data["cases"]) {
        const std::string name = c["name"];
        if (name.rfind("blog_infotext_", 0) != 0) continue;
        SCOPED_TRACE(name);
        d.paste_parameters(c["infotext"]);
        const GenerateRequest r = d.request();
        const auto& p = c["parsed"];
        EXPECT_EQ(r.prompt, p["Prompt"].get<std::string>());
        EXPECT_EQ(r.negative_prompt, p["Negative prompt"].get<std::string>());
        EXPECT_EQ(r.steps, std::stoi(p["Steps"].get<std::string>()));
        EXPECT_EQ(r.sampler, p["Sampler"].get<std::string>());
        EXPECT_EQ(r.cfg_scale, std::stod(p["CFG scale"].get<std::string>()));
        EXPECT_EQ(r.seed, std::stoll(p["Seed"].get<std::string>()));
        EXPECT_EQ(r.width, std::stoi(p["Size-1"].get<std::string>()));
        EXPECT_EQ(r.height, std::stoi(p["Size-2"].get<std::string>()));
        if (p.contains("Variation seed")) {
            EXPECT_EQ(r.subseed, std::stoll(p["Variation seed"].get<std::string>()));
            EXPECT_EQ(r.subseed_strength, std::stod(p["Variation seed strength"].get<std::string>()));
            EXPECT_TRUE(gtk_expander_get_expanded(GTK_EXPANDER(d.widget("extra"))));
        }
        ++pasted;
    }
    EXPECT_EQ(pasted, 2);
    gtk_expander_set_expanded(GTK_EXPANDER(d.widget("paste")), TRUE);
    pump_until([] { return false; }, 0.3);
    ASSERT_TRUE(dialogs::save_window_png(d.window(), out_dir() + "/dialog-pasted.png"));
    expect_not_blank(out_dir() + "/dialog-pasted.png");
}

TEST_F(Dialogs, GenerateShowsProgressAndPreviewAndCancelStopsIt) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    client::ClientConfig cc;
    cc.engine_path = std::getenv("GIMP_DIFFUSION_CLI") ? std::getenv("GIMP_DIFFUSION_CLI") : "gimp-diffusion-cli";
    cc.socket_path = "/tmp/gd-dialog-" + std::to_string(getpid()) + ".sock";
    cc.parent_pid = getpid();
    client::EngineClient client(cc);
    Fixture fx;
    fx.client = &client;
    dialogs::DialogConfig cfg;
    cfg.model = models.front().checkpoints.front();
    cfg.models = {cfg.model};
    cfg.vocab = test::vocab_path();
    cfg.initial.prompt = "a red bicycle";
    cfg.initial.width = cfg.initial.height = 64;
    cfg.initial.steps = 6;
    cfg.initial.seed = 5;
    GenerateDialog d(cfg, fx.hooks());
    d.generate();
    EXPECT_TRUE(d.busy());
    pump_until([&] { return !d.busy(); }, 120);
    ASSERT_FALSE(d.busy());
    EXPECT_EQ(fx.results, 1) << d.status_text();
    EXPECT_EQ(d.progress_done(), 6);
    EXPECT_EQ(d.progress_total(), 6);
    EXPECT_GE(d.previews_shown(), 2);
    EXPECT_EQ(d.last_seed(), 5);
    EXPECT_TRUE(gtk_widget_get_sensitive(d.widget("generate")));
    EXPECT_FALSE(gtk_widget_get_sensitive(d.widget("cancel")));
    pump_until([] { return false; }, 0.3);  // let the window lay out and draw a frame
    ASSERT_TRUE(dialogs::save_window_png(d.window(), out_dir() + "/dialog-after-generate.png"));
    expect_not_blank(out_dir() + "/dialog-after-generate.png");

    // Ctrl+Enter generates again (the dialog stayed open).
    gtk_accel_groups_activate(G_OBJECT(d.window()), GDK_KEY_Return, GDK_CONTROL_MASK);
    EXPECT_TRUE(d.busy());
    pump_until([&] { return !d.busy(); }, 120);
    EXPECT_EQ(fx.results, 2);

    // Cancel mid-run: stops within a step, nothing is delivered.
    gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("steps")), 60);
    d.generate();
    pump_until([&] { return d.progress_done() >= 2; }, 120);
    d.cancel();
    pump_until([&] { return !d.busy(); }, 60);
    EXPECT_FALSE(d.busy());
    EXPECT_EQ(fx.results, 2);
    EXPECT_LT(d.progress_done(), 10);
    EXPECT_NE(d.status_text().find("Cancelled"), std::string::npos) << d.status_text();

    wire::Message bye, res;
    bye.header = {{"op", "shutdown"}};
    client.call(bye, {}, {}, &res);
}

// "Interrogate DeepBooru" (Image to Image, Inpaint): the source picture goes to the engine with
// A1111's default settings and the model folders; the tags replace the prompt; problems are one
// sentence in the status line and leave the prompt alone. Text to Image has no such button.
TEST_F(Dialogs, InterrogateDeepBooruReplacesThePrompt) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    Fixture fx;
    dialogs::DialogConfig cfg;
    cfg.model = models.front().checkpoints.front();
    cfg.models = {cfg.model};
    cfg.vocab = test::vocab_path();
    cfg.initial.prompt = "a lighthouse";
    cfg.deepbooru_dirs = {"/models/DeepDanbooru"};
    cfg.deepbooru_options.threshold = 0.35;
    cfg.deepbooru_options.include_ranks = true;
    dialogs::DialogHooks hooks = fx.hooks();
    bool picture_ok = true;
    hooks.source_image = [&](std::string* err) -> std::optional<Image> {
        if (!picture_ok) {
            *err = "Select a normal layer to interrogate.";
            return std::nullopt;
        }
        Image img{40, 30, 4, std::vector<uint8_t>(40 * 30 * 4, 90)};
        return img;
    };
    wire::Message seen;
    Status answer;
    hooks.call = [&](const wire::Message& req, const std::function<void(const wire::Message&)>&, const std::function<bool()>&,
                     wire::Message* res) {
        seen = req;
        res->header = {{"event", "result"}, {"tags", "grey stone, pebbles"}};
        return answer;
    };
    {
        GenerateDialog t2i(cfg, hooks);
        EXPECT_EQ(t2i.widget("interrogate_deepbooru"), nullptr);
    }
    for (auto mode : {dialogs::Mode::kImg2Img, dialogs::Mode::kInpaint}) {
        cfg.mode = mode;
        GenerateDialog d(cfg, hooks);
        ASSERT_NE(d.widget("interrogate_deepbooru"), nullptr);
        gtk_button_clicked(GTK_BUTTON(d.widget("interrogate_deepbooru")));
        pump_until([&] { return !d.busy(); }, 30);
        EXPECT_EQ(d.request().prompt, "grey stone, pebbles");
        EXPECT_EQ(seen.header.value("op", ""), "interrogate-deepbooru");
        EXPECT_EQ(seen.header["model_dirs"], nlohmann::json({"/models/DeepDanbooru"}));
        EXPECT_EQ(seen.header.value("threshold", 0.0), 0.35);
        EXPECT_EQ(seen.header.value("include_ranks", false), true);
        EXPECT_EQ(seen.header.value("sort_alpha", false), true);
        const Image sent = wire::image_from(seen.header["image"], seen);
        EXPECT_EQ(sent.width, 40);
        EXPECT_EQ(sent.height, 30);
        EXPECT_EQ(d.status_text(), "The prompt is now the layer's DeepBooru tags.");
        // The engine's refusal is shown and the prompt kept.
        d.set_request(cfg.initial);
        answer = Status::failure(ErrorCode::kModelNotFound, "DeepBooru was not found: put model-resnet_custom_v3.pt in /models/DeepDanbooru.");
        d.interrogate_deepbooru();
        pump_until([&] { return !d.busy(); }, 30);
        EXPECT_EQ(d.status_text(), answer.message);
        EXPECT_EQ(d.request().prompt, "a lighthouse");
        answer = Status::success();
        picture_ok = false;
        d.interrogate_deepbooru();
        EXPECT_FALSE(d.busy());
        EXPECT_EQ(d.status_text(), "Select a normal layer to interrogate.");
        picture_ok = true;
    }
}

// The tool dialogs (Upscale, SD Upscale, Remove Object, X/Y Plot, Loopback, Load Model, ...): every form builds from
// its procedure, shows A1111's fields with the given values, hands edited values back, keeps the
// dialog open with one sentence for bad values, and describes the chosen checkpoint.
TEST_F(Dialogs, ToolDialogsBuildEditAndCheckTheirValues) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    const std::string ckpt = models.front().checkpoints.front();
    dialogs::ToolContext ctx{{ckpt}, "/nonexistent/big-lama.pt", {"Automatic", "None"}, {}};
    const std::vector<std::pair<std::string, std::vector<std::string>>> expected = {
        {"plug-in-diffusion-upscale", {"upscaler", "scale", "new_image", "ldsr_steps"}},
        {"plug-in-diffusion-extras-upscale", {"upscaler_1", "upscaler_2", "upscaler_2_visibility", "resize_mode", "scale",
                                              "max_side_length", "width", "height", "crop", "ldsr_steps", "gfpgan_visibility",
                                              "codeformer_visibility", "codeformer_weight"}},
        {"plug-in-diffusion-remove-object", {"method"}},
        {"plug-in-diffusion-restore-faces", {"restorer", "visibility", "codeformer_weight"}},
        {"plug-in-diffusion-export-png", {"filename"}},
        {"plug-in-diffusion-paste-parameters", {"parameters"}},
        {"plug-in-diffusion-interrogate-deepbooru", {"threshold", "sort_alpha", "use_spaces", "escape", "include_ranks", "filter_tags"}},
        {"plug-in-diffusion-sd-upscale", {"prompt", "negative_prompt", "steps", "sampler", "schedule", "cfg_scale", "seed",
                                          "denoising_strength", "upscaler", "scale", "tile", "overlap", "model"}},
        {"plug-in-diffusion-xy-plot", {"prompt", "negative_prompt", "steps", "sampler", "schedule", "cfg_scale", "seed", "width",
                                       "height", "x_type", "x_values", "y_type", "y_values", "source", "denoising_strength",
                                       "model"}},
        {"plug-in-diffusion-xyz-plot", {"prompt", "negative_prompt", "steps", "sampler", "schedule", "cfg_scale", "seed", "width",
                                        "height", "x_type", "x_values", "y_type", "y_values", "z_type", "z_values", "vary_seeds_x",
                                        "vary_seeds_y", "vary_seeds_z", "keep_minus_one", "margin", "source", "denoising_strength",
                                        "model"}},
        {"plug-in-diffusion-prompt-matrix", {"prompt", "negative_prompt", "steps", "sampler", "schedule", "cfg_scale", "seed", "width",
                                             "height", "prompt_type", "put_at_start", "different_seeds", "joining", "margin", "source",
                                             "denoising_strength", "model"}},
        {"plug-in-diffusion-prompts-from-file", {"prompt", "negative_prompt", "steps", "sampler", "schedule", "cfg_scale", "seed",
                                                 "width", "height", "batch_size", "batch_count", "prompts", "file", "iterate_seed",
                                                 "same_seed", "position", "source", "denoising_strength", "model"}},
        {"plug-in-diffusion-loopback", {"prompt", "negative_prompt", "steps", "sampler", "schedule", "cfg_scale", "seed",
                                        "denoising_strength", "loops", "final_denoising_strength", "denoising_curve", "batch_count",
                                        "model", "append_interrogation"}},
        {"plug-in-diffusion-outpaint", {"prompt", "negative_prompt", "steps", "sampler", "schedule", "cfg_scale", "seed",
                                        "denoising_strength", "pixels", "outpaint_mask_blur", "masked_content", "left", "right", "up",
                                        "down", "width", "height", "model"}},
        {"plug-in-diffusion-outpaint-mk2", {"prompt", "negative_prompt", "steps", "sampler", "schedule", "cfg_scale", "seed",
                                            "denoising_strength", "pixels", "outpaint_mask_blur", "left", "right", "up", "down",
                                            "noise_q", "color_variation", "width", "height", "batch_size", "batch_count", "model"}},
        {"plug-in-diffusion-load-model", {"model", "prediction", "vae"}},
        {"plug-in-diffusion-merge-checkpoints", {"primary", "secondary", "tertiary", "method", "multiplier", "save_as_half",
                                                 "custom_name", "bake_in_vae", "discard_weights", "config_source",
                                                 "checkpoint_format"}},
    };
    for (const auto& [proc, keys] : expected) {
        SCOPED_TRACE(proc);
        auto form = dialogs::tool_form(proc, ctx);
        ASSERT_TRUE(form.has_value());
        ASSERT_EQ(form->config.fields.size(), keys.size());
        ASSERT_EQ(form->indices.size(), keys.size());
        for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(form->config.fields[i].key, keys[i]);
        // Initial values as the plug-in passes them (A1111 defaults / the last request).
        for (auto& f : form->config.fields) {
            if (f.key == "seed") f.value = "-1";
            if (f.key == "steps") f.value = "20";
            if (f.key == "sampler") f.value = "Euler a";
            if (f.key == "schedule") f.value = "Automatic";
            if (f.key == "upscaler") f.value = "ESRGAN thick";
            if (f.key == "scale") f.value = "2.00";
            if (f.key == "method") f.value = "Auto";
            if (f.key == "x_values") f.value = "5, 7, 9";
            if (f.key == "y_values") f.value = "20, 30";
            if (f.key == "x_type") f.value = "CFG Scale";
            if (f.key == "y_type") f.value = "Steps";
            if (f.key == "tile") f.value = "512";
            if (f.key == "width" || f.key == "height") f.value = "512";
            if (f.key == "prompt_type") f.value = "positive";
            if (f.key == "joining") f.value = "comma";
            if (f.key == "put_at_start" || f.key == "different_seeds" || f.key == "margin") f.value = "0";
            if (f.key == "iterate_seed" || f.key == "same_seed") f.value = "0";
            if (f.key == "batch_size" || f.key == "batch_count") f.value = "1";
            if (f.key == "position") f.value = "start";
            if (f.key == "source") f.value = "txt2img";
            if (f.key == "denoising_strength") f.value = "0.75";
            if (f.key == "loops") f.value = "4";
            if (f.key == "final_denoising_strength") f.value = "0.50";
            if (f.key == "denoising_curve") f.value = "Linear";
            if (f.key == "append_interrogation") f.value = "None";
            if (f.key == "threshold") f.value = "0.50";
            if (f.key == "filename") f.value = "/home/artist/a steam engine (3331645590).png";
            if (f.key == "sort_alpha" || f.key == "use_spaces" || f.key == "escape") f.value = "1";
            if (f.key == "include_ranks") f.value = "0";
            if (f.key == "pixels") f.value = "128";
            if (f.key == "outpaint_mask_blur") f.value = "4";
            if (f.key == "masked_content") f.value = "fill";
            if (f.key == "left" || f.key == "right" || f.key == "up" || f.key == "down") f.value = "1";
            if (f.key == "noise_q") f.value = "1.00";
            if (f.key == "z_type") f.value = "Nothing";
            if (f.key == "vary_seeds_x" || f.key == "vary_seeds_y" || f.key == "vary_seeds_z" || f.key == "keep_minus_one") f.value = "0";
            if (f.key == "color_variation") f.value = "0.05";
            if (f.key == "visibility") f.value = "1.0";
            if (f.key == "codeformer_weight") f.value = "0.5";
            if (f.key == "gfpgan_visibility" || f.key == "codeformer_visibility") f.value = "0";
            if (f.key == "restorer") f.value = "CodeFormer";
        }
        dialogs::FormDialog d(form->config);
        gtk_widget_show_all(d.window());
        pump_until([] { return false; }, 0.3);
        auto v = d.values();
        for (const auto& k : keys) EXPECT_TRUE(v.count(k)) << k;
        if (v.count("sampler")) {
            EXPECT_EQ(v["sampler"], "Euler a");
        }
        if (v.count("scale")) {
            EXPECT_EQ(v["scale"], "2.00");
        }
        // Edit values as a user would, and read them back.
        if (proc == "plug-in-diffusion-upscale") {
            d.set_value("upscaler", "/models/4x_RealESRGAN.pth");  // free text: a user's ESRGAN file
            gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("scale")), 4);
            gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget("new_image")), TRUE);
            gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("ldsr_steps")), 30);
            v = d.values();
            EXPECT_EQ(v["ldsr_steps"], "30");
            EXPECT_EQ(v["upscaler"], "/models/4x_RealESRGAN.pth");
            EXPECT_EQ(v["scale"], "4.00");
            EXPECT_EQ(v["new_image"], "1");
            EXPECT_TRUE(d.accept());
        } else if (proc == "plug-in-diffusion-extras-upscale") {
            // A1111's Extras fields: two upscalers (the second's "None" offered), visibility, the resize tabs.
            d.set_value("upscaler_1", "4x-UltraSharp");
            EXPECT_TRUE(gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("upscaler_2")), "None"));
            EXPECT_TRUE(gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("upscaler_2")), "Lanczos"));
            gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("upscaler_2_visibility")), 0.35);
            EXPECT_TRUE(gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("resize_mode")), "Scale to"));
            gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("width")), 1000);
            gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget("crop")), FALSE);
            EXPECT_EQ(d.values()["gfpgan_visibility"], "0.000");  // A1111's faces sections start off
            gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("codeformer_visibility")), 0.6);
            v = d.values();
            EXPECT_EQ(v["codeformer_visibility"], "0.600");
            EXPECT_EQ(v["codeformer_weight"], "0.500");
            EXPECT_EQ(v["upscaler_1"], "4x-UltraSharp");
            EXPECT_EQ(v["upscaler_2"], "Lanczos");
            EXPECT_EQ(v["upscaler_2_visibility"], "0.350");
            EXPECT_EQ(v["resize_mode"], "Scale to");
            EXPECT_EQ(v["width"], "1000");
            EXPECT_EQ(v["crop"], "0");
            EXPECT_TRUE(d.accept());
        } else if (proc == "plug-in-diffusion-paste-parameters") {
            EXPECT_EQ(d.info_text(), "No text yet.");
            EXPECT_FALSE(d.accept());
            EXPECT_EQ(d.error_text(), "Paste an A1111 parameters text, or select a layer or open an image that carries one.");
            d.set_value("parameters", "a boat\nNegative prompt: fog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x768");
            pump_until([] { return false; }, 0.1);
            EXPECT_EQ(d.info_text(), "Steps 20, Euler a, seed 42, 512x768.") << d.info_text();
            d.set_value("parameters", "just a prompt");
            pump_until([] { return false; }, 0.1);
            EXPECT_EQ(d.info_text(), "No settings line (\"Steps: ...\"): only the prompts would be pasted.");
            EXPECT_TRUE(d.accept()) << d.error_text();
        } else if (proc == "plug-in-diffusion-export-png") {
            EXPECT_EQ(v["filename"], "/home/artist/a steam engine (3331645590).png");
            d.set_value("filename", "/home/artist/out.jpg");
            EXPECT_FALSE(d.accept());
            EXPECT_EQ(d.error_text(), "Give a file name ending in .png.");
            d.set_value("filename", "/home/artist/out.PNG");
            EXPECT_TRUE(d.accept()) << d.error_text();
        } else if (proc == "plug-in-diffusion-interrogate-deepbooru") {
            EXPECT_EQ(v["threshold"], "0.50");
            EXPECT_EQ(v["sort_alpha"], "1");
            EXPECT_EQ(v["include_ranks"], "0");
            EXPECT_EQ(v["filter_tags"], "");
            gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("threshold")), 0.35);
            gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget("include_ranks")), TRUE);
            d.set_value("filter_tags", "solo, long hair");
            v = d.values();
            EXPECT_EQ(v["threshold"], "0.35");
            EXPECT_EQ(v["include_ranks"], "1");
            EXPECT_EQ(v["filter_tags"], "solo, long hair");
            EXPECT_TRUE(d.accept()) << d.error_text();
        } else if (proc == "plug-in-diffusion-restore-faces") {
            EXPECT_EQ(v["visibility"], "1.000");
            EXPECT_EQ(v["restorer"], "CodeFormer");
            EXPECT_EQ(v["codeformer_weight"], "0.500");
            gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("visibility")), 0);
            EXPECT_FALSE(d.accept());
            EXPECT_EQ(d.error_text(), "Set the visibility above 0; at 0 nothing would change.");
            gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("visibility")), 0.4);
            EXPECT_TRUE(gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("restorer")), "GFPGAN"));
            gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("codeformer_weight")), 0.8);
            v = d.values();
            EXPECT_EQ(v["visibility"], "0.400");
            EXPECT_EQ(v["restorer"], "GFPGAN");
            EXPECT_EQ(v["codeformer_weight"], "0.800");
            EXPECT_TRUE(d.accept());
        } else if (proc == "plug-in-diffusion-remove-object") {
            EXPECT_NE(d.info_text().find("PatchMatch"), std::string::npos) << d.info_text();  // Auto without LaMa
            gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("method")), "LaMa");
            EXPECT_FALSE(d.accept());
            EXPECT_NE(d.error_text().find("big-lama.pt"), std::string::npos) << d.error_text();
            gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("method")), "PatchMatch");
            EXPECT_TRUE(d.accept());
        } else if (proc == "plug-in-diffusion-prompts-from-file") {
            EXPECT_FALSE(d.accept());
            EXPECT_NE(d.error_text().find("Give one prompt (or --options) per line"), std::string::npos) << d.error_text();
            d.set_value("prompts", "a red house\n\n--prompt \"a blue car\" --steps 3");
            d.set_value("model", ckpt);
            pump_until([] { return false; }, 0.1);
            EXPECT_EQ(d.info_text().rfind("2 line(s); " + summarize_model(ckpt).kind, 0), 0u) << d.info_text();
            d.set_value("file", "/nonexistent/prompts.txt");
            EXPECT_FALSE(d.accept());
            EXPECT_NE(d.error_text().find("The file /nonexistent/prompts.txt cannot be read"), std::string::npos) << d.error_text();
            d.set_value("file", "");
            gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget("iterate_seed")), TRUE);
            EXPECT_EQ(d.values()["iterate_seed"], "1");
            // Run from A1111's img2img tab: the source and its strength go back to the procedure.
            EXPECT_EQ(d.values()["source"], "txt2img");
            gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("source")), "img2img");
            gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("denoising_strength")), 0.3);
            EXPECT_EQ(d.values()["source"], "img2img");
            EXPECT_EQ(d.values()["denoising_strength"], "0.30");
            const auto pff = dialogs::tool_form(proc, ctx);
            EXPECT_EQ(pff->indices[pff->indices.size() - 3], 20);  // the PDB's source and strength follow the model
            EXPECT_EQ(pff->indices[pff->indices.size() - 2], 21);
            EXPECT_TRUE(d.accept()) << d.error_text();
        } else if (proc == "plug-in-diffusion-prompt-matrix") {
            d.set_value("prompt", "a steam engine");
            EXPECT_FALSE(d.accept());
            EXPECT_NE(d.error_text().find("Separate the parts to combine with '|'"), std::string::npos) << d.error_text();
            d.set_value("prompt", "a steam engine|at dusk|in the snow");
            d.set_value("model", ckpt);
            pump_until([] { return false; }, 0.1);
            EXPECT_EQ(d.info_text().rfind("4 images; " + summarize_model(ckpt).kind, 0), 0u) << d.info_text();
            d.set_value("seed", "twelve");
            EXPECT_FALSE(d.accept());
            EXPECT_NE(d.error_text().find("Seed must be -1"), std::string::npos) << d.error_text();
            d.set_value("seed", "-1");
            gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget("different_seeds")), TRUE);
            gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("prompt_type")), "negative");
            v = d.values();
            EXPECT_EQ(v["different_seeds"], "1");
            EXPECT_EQ(v["joining"], "comma");
            EXPECT_FALSE(d.accept());  // the negative prompt holds no '|'
            d.set_value("negative_prompt", "blurry|dark");
            EXPECT_TRUE(d.accept()) << d.error_text();
        } else if (proc == "plug-in-diffusion-loopback") {
            d.set_value("model", ckpt);
            pump_until([] { return false; }, 0.1);
            EXPECT_EQ(d.info_text().rfind("4 img2img run(s), 4 image(s); " + summarize_model(ckpt).kind, 0), 0u) << d.info_text();
            gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("batch_count")), 3);
            gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("denoising_curve")), "Lazy");
            gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("final_denoising_strength")), 0.2);
            pump_until([] { return false; }, 0.1);
            EXPECT_EQ(d.info_text().rfind("12 img2img run(s), 3 image(s); ", 0), 0u) << d.info_text();
            v = d.values();
            EXPECT_EQ(v["denoising_curve"], "Lazy");
            EXPECT_EQ(v["final_denoising_strength"], "0.20");
            EXPECT_EQ(v["append_interrogation"], "None");
            gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("append_interrogation")), "DeepBooru");
            EXPECT_EQ(d.values()["append_interrogation"], "DeepBooru");
            d.set_value("seed", "twelve");
            EXPECT_FALSE(d.accept());
            EXPECT_NE(d.error_text().find("Seed must be -1"), std::string::npos) << d.error_text();
            d.set_value("seed", "-1");
            EXPECT_TRUE(d.accept()) << d.error_text();
        } else if (proc == "plug-in-diffusion-outpaint") {
            EXPECT_EQ(v["masked_content"], "fill");
            EXPECT_EQ(v["left"], "1");
            for (const char* side : {"left", "right", "up", "down"})
                gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget(side)), FALSE);
            EXPECT_FALSE(d.accept());
            EXPECT_NE(d.error_text().find("at least one outpainting direction"), std::string::npos) << d.error_text();
            gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget("up")), TRUE);
            gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("height")), 128);
            EXPECT_FALSE(d.accept());  // 128 pixels need tiles taller than 128
            EXPECT_NE(d.error_text().find("smaller than the tile width and height"), std::string::npos) << d.error_text();
            gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("pixels")), 64);
            gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("masked_content")), "latent noise");
            v = d.values();
            EXPECT_EQ(v["up"], "1");
            EXPECT_EQ(v["down"], "0");
            EXPECT_EQ(v["pixels"], "64");
            EXPECT_EQ(v["masked_content"], "latent noise");
            EXPECT_TRUE(d.accept()) << d.error_text();
        } else if (proc == "plug-in-diffusion-xyz-plot") {
            EXPECT_EQ(v["z_type"], "Nothing");
            EXPECT_TRUE(d.accept()) << d.error_text();  // Nothing along Z needs no values
            gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("z_type")), "Seed");
            EXPECT_FALSE(d.accept());
            EXPECT_NE(d.error_text().find("Give the X, Y and Z values"), std::string::npos) << d.error_text();
            d.set_value("z_values", "1, 2");
            gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget("vary_seeds_y")), TRUE);
            v = d.values();
            EXPECT_EQ(v["z_type"], "Seed");
            EXPECT_EQ(v["vary_seeds_y"], "1");
            EXPECT_EQ(v["keep_minus_one"], "0");
            EXPECT_TRUE(d.accept()) << d.error_text();
        } else if (proc == "plug-in-diffusion-outpaint-mk2") {
            EXPECT_EQ(v["noise_q"], "1.00");
            EXPECT_EQ(v["color_variation"], "0.05");
            for (const char* side : {"left", "right", "up", "down"})
                gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget(side)), FALSE);
            EXPECT_FALSE(d.accept());
            EXPECT_NE(d.error_text().find("at least one outpainting direction"), std::string::npos) << d.error_text();
            gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(d.widget("down")), TRUE);
            gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("noise_q")), 2.5);
            gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("batch_size")), 3);
            EXPECT_EQ(v["batch_count"], "1");
            gtk_spin_button_set_value(GTK_SPIN_BUTTON(d.widget("batch_count")), 2);
            v = d.values();
            EXPECT_EQ(v["noise_q"], "2.50");
            EXPECT_EQ(v["batch_size"], "3");
            EXPECT_EQ(v["batch_count"], "2");
            EXPECT_EQ(v["down"], "1");
            EXPECT_TRUE(d.accept()) << d.error_text();
        } else if (proc == "plug-in-diffusion-merge-checkpoints") {
            // A1111's merger: the method's formula shown, the models it needs asked for.
            EXPECT_TRUE(gtk_combo_box_set_active_id(GTK_COMBO_BOX(d.widget("method")), "Add difference"));
            pump_until([] { return false; }, 0.1);
            EXPECT_NE(d.info_text().find("A + M (B - C)"), std::string::npos) << d.info_text();
            d.set_value("primary", ckpt);
            d.set_value("secondary", ckpt);
            EXPECT_FALSE(d.accept());
            EXPECT_NE(d.error_text().find("needs a tertiary model (C)"), std::string::npos) << d.error_text();
            d.set_value("tertiary", ckpt);
            d.set_value("discard_weights", "^model_ema");
            v = d.values();
            EXPECT_EQ(v["checkpoint_format"], "safetensors");  // A1111's default
            d.set_value("checkpoint_format", "ckpt");
            v = d.values();
            EXPECT_EQ(v["checkpoint_format"], "ckpt");
            EXPECT_EQ(v["method"], "Add difference");
            EXPECT_EQ(v["discard_weights"], "^model_ema");
            EXPECT_TRUE(d.accept());
        } else if (proc == "plug-in-diffusion-load-model") {
            d.set_value("model", ckpt);
            pump_until([] { return false; }, 0.1);
            EXPECT_NE(d.info_text().find(summarize_model(ckpt).old_hash), std::string::npos) << d.info_text();
            d.set_value("model", "/nonexistent/model.safetensors");
            EXPECT_FALSE(d.accept());
            EXPECT_NE(d.error_text().find("cannot be read"), std::string::npos) << d.error_text();
            d.set_value("model", ckpt);
            d.set_value("vae", "/nonexistent/vae-ft-mse.safetensors");
            EXPECT_FALSE(d.accept());
            EXPECT_NE(d.error_text().find("The VAE file /nonexistent/vae-ft-mse.safetensors cannot be read"), std::string::npos)
                << d.error_text();
            d.set_value("vae", "None");
            EXPECT_EQ(d.values()["vae"], "None");
            EXPECT_TRUE(d.accept());
        } else {
            d.set_value("prompt", "a steam engine leaving the trainstation");
            d.set_value("seed", "3331645590");
            d.set_value("model", ckpt);
            v = d.values();
            EXPECT_EQ(v["prompt"], "a steam engine leaving the trainstation");
            EXPECT_EQ(v["seed"], "3331645590");
            EXPECT_NE(d.info_text().find(summarize_model(ckpt).kind), std::string::npos) << d.info_text();
            d.set_value("seed", "twelve");
            EXPECT_FALSE(d.accept());
            EXPECT_NE(d.error_text().find("Seed must be -1"), std::string::npos) << d.error_text();
            d.set_value("seed", "-1");
            if (proc == "plug-in-diffusion-xy-plot") {
                d.set_value("x_values", "");
                EXPECT_FALSE(d.accept());
                const std::string x_type = d.values()["x_type"];
                d.set_value("x_type", "Nothing");  // A1111's Nothing axis takes no values
                EXPECT_TRUE(d.accept()) << d.error_text();
                d.set_value("x_type", x_type);
                d.set_value("x_values", "5, 7, 9");
            }
            EXPECT_TRUE(d.accept());
        }
        gtk_widget_show_all(d.window());
        pump_until([] { return false; }, 0.2);
        const std::string shot = out_dir() + "/dialog-" + proc.substr(std::string("plug-in-diffusion-").size()) + ".png";
        ASSERT_TRUE(dialogs::save_window_png(d.window(), shot));
        expect_not_blank(shot, 100);  // the tool dialogs are shorter than the generation dialogs
    }
    // Upscaler files of the model folders are offered by their A1111 names after the built-in ones.
    {
        dialogs::ToolContext with_files = ctx;
        with_files.upscalers = {"4x-UltraSharp", "R-ESRGAN 4x+"};
        const auto up = dialogs::tool_form("plug-in-diffusion-upscale", with_files);
        ASSERT_TRUE(up.has_value());
        const auto& options = up->config.fields[0].options;
        ASSERT_GE(options.size(), 2u);
        EXPECT_EQ(options[options.size() - 2], "4x-UltraSharp");
        EXPECT_EQ(options.back(), "R-ESRGAN 4x+");
    }
    EXPECT_FALSE(dialogs::tool_form("plug-in-diffusion-txt2img", ctx).has_value());
}
