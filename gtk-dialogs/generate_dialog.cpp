#include "generate_dialog.h"

#include <algorithm>

#include <gdk/gdkkeysyms.h>
#include <gdk/gdkx.h>
#undef Status  // Xlib defines Status as a macro; ours is sdgimp::Status

#include <cairo.h>
#include <cmath>
#include <cstdio>
#include <map>

#include "status.h"
#include "text/clip_tokenizer.h"
#include "text/infotext.h"
#include "text/prompt_chunks.h"
#include "widgets.h"

namespace sdgimp::dialogs {

struct GenerateDialog::Widgets {
    std::map<std::string, GtkWidget*> by_name;
    GtkWidget *prompt_counter = nullptr, *negative_counter = nullptr, *preview = nullptr, *progress = nullptr,
              *status = nullptr, *generate = nullptr, *cancel = nullptr, *paste_view = nullptr, *model_info = nullptr,
              *hires_size = nullptr;
};

namespace {

const char* kTitles[] = {"Text to Image", "Image to Image", "Inpaint Selection"};

}  // namespace

bool init_gtk() {
    gdk_set_allowed_backends("x11");
    return gtk_init_check(nullptr, nullptr);
}

GenerateDialog::GenerateDialog(DialogConfig cfg, DialogHooks hooks)
    : cfg_(std::move(cfg)), hooks_(std::move(hooks)), w_(std::make_unique<Widgets>()) {
    try {
        const std::string vocab = cfg_.vocab.empty() ? text::find_vocab(cfg_.model.empty() ? "./none" : cfg_.model) : cfg_.vocab;
        tok_ = std::make_unique<text::ClipTokenizer>(vocab);
        for (const auto& [name, vectors] : cfg_.embeddings) {
            text::EmbeddingWord w;
            w.ids = tok_->encode(name, text::TokenizerFlavor::kOpenCLIP);
            w.vectors = vectors;
            w.index = static_cast<int>(embedding_words_.size());
            if (!w.ids.empty() && vectors > 0) embedding_words_.push_back(std::move(w));
        }
    } catch (const Error&) {
        tok_.reset();  // no vocabulary: the counters say so, everything else works
    }
    build();
    set_request(cfg_.initial);
    // The picker is set once: a later paste keeps the user's choice unless its text names another.
    if (!cfg_.model.empty()) set_combo(widget("model"), cfg_.model);
}

GenerateDialog::~GenerateDialog() {
    job_.reset();
    if (window_) gtk_widget_destroy(window_);
}

GtkWidget* GenerateDialog::widget(const std::string& name) const {
    auto it = w_->by_name.find(name);
    return it == w_->by_name.end() ? nullptr : it->second;
}

void GenerateDialog::build() {
    auto& W = w_->by_name;
    window_ = gtk_window_new(GTK_WINDOW_TOPLEVEL);
    gtk_window_set_title(GTK_WINDOW(window_), (std::string("Diffusion — ") + kTitles[static_cast<int>(cfg_.mode)]).c_str());
    gtk_window_set_type_hint(GTK_WINDOW(window_), GDK_WINDOW_TYPE_HINT_DIALOG);
    gtk_window_set_default_size(GTK_WINDOW(window_), 820, 640);
    g_signal_connect(window_, "delete-event", G_CALLBACK(+[](GtkWidget*, GdkEvent*, gpointer self) -> gboolean {
        auto* d = static_cast<GenerateDialog*>(self);
        d->cancel();
        if (d->hooks_.save) d->hooks_.save(d->request(), d->model());
        if (d->running_loop_) gtk_main_quit();
        gtk_widget_hide(d->window_);
        return TRUE;
    }), this);

    GtkWidget* outer = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 12);
    gtk_container_set_border_width(GTK_CONTAINER(outer), 12);
    gtk_container_add(GTK_CONTAINER(window_), outer);
    GtkWidget* left = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
    gtk_widget_set_hexpand(left, TRUE);
    gtk_box_pack_start(GTK_BOX(outer), left, TRUE, TRUE, 0);

    // Model picker.
    GtkWidget* model_row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    gtk_box_pack_start(GTK_BOX(model_row), gtk_label_new("Checkpoint"), FALSE, FALSE, 0);
    W["model"] = combo(cfg_.models);
    gtk_box_pack_start(GTK_BOX(model_row), W["model"], TRUE, TRUE, 0);
    GtkWidget* browse = gtk_button_new_with_label("Browse…");
    g_signal_connect(browse, "clicked", G_CALLBACK(+[](GtkButton*, gpointer self) {
        auto* d = static_cast<GenerateDialog*>(self);
        GtkWidget* fc = gtk_file_chooser_dialog_new("Choose a Stable Diffusion checkpoint", GTK_WINDOW(d->window_),
                                                    GTK_FILE_CHOOSER_ACTION_OPEN, "_Cancel", GTK_RESPONSE_CANCEL,
                                                    "_Open", GTK_RESPONSE_ACCEPT, nullptr);
        GtkFileFilter* f = gtk_file_filter_new();
        gtk_file_filter_set_name(f, "Checkpoints (*.safetensors, *.ckpt)");
        gtk_file_filter_add_pattern(f, "*.safetensors");
        gtk_file_filter_add_pattern(f, "*.ckpt");
        gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(fc), f);
        if (gtk_dialog_run(GTK_DIALOG(fc)) == GTK_RESPONSE_ACCEPT) {
            gchar* path = gtk_file_chooser_get_filename(GTK_FILE_CHOOSER(fc));
            set_combo(d->w_->by_name["model"], path);
            g_free(path);
        }
        gtk_widget_destroy(fc);
    }), this);
    gtk_box_pack_start(GTK_BOX(model_row), browse, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(left), model_row, FALSE, FALSE, 0);
    w_->model_info = gtk_label_new("");
    gtk_widget_set_halign(w_->model_info, GTK_ALIGN_START);
    g_signal_connect(W["model"], "changed", G_CALLBACK(+[](GtkComboBox*, gpointer self) { static_cast<GenerateDialog*>(self)->model_changed(); }), this);
    gtk_box_pack_start(GTK_BOX(left), w_->model_info, FALSE, FALSE, 0);

    // Prompts with A1111's token counters.
    for (const char* which : {"prompt", "negative_prompt"}) {
        const bool neg = std::string(which) == "negative_prompt";
        GtkWidget* head = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
        gtk_box_pack_start(GTK_BOX(head), gtk_label_new(neg ? "Negative prompt" : "Prompt"), FALSE, FALSE, 0);
        GtkWidget* counter = gtk_label_new("0/75");
        gtk_box_pack_end(GTK_BOX(head), counter, FALSE, FALSE, 0);
        if (!neg && cfg_.mode != Mode::kTxt2Img && hooks_.source_image) {
            W["interrogate_deepbooru"] = gtk_button_new_with_label("Interrogate DeepBooru");
            gtk_widget_set_tooltip_text(W["interrogate_deepbooru"],
                                        "Replaces the prompt with the layer's DeepDanbooru tags (A1111's button; model-resnet_custom_v3.pt in a "
                                        "DeepDanbooru folder of the model folders)");
            g_signal_connect(W["interrogate_deepbooru"], "clicked",
                             G_CALLBACK(+[](GtkButton*, gpointer self) { static_cast<GenerateDialog*>(self)->interrogate_deepbooru(); }), this);
            gtk_box_pack_end(GTK_BOX(head), W["interrogate_deepbooru"], FALSE, FALSE, 0);
        }
        (neg ? w_->negative_counter : w_->prompt_counter) = counter;
        gtk_box_pack_start(GTK_BOX(left), head, FALSE, FALSE, 0);
        W[which] = text_view(neg ? 2 : 4);
        gtk_box_pack_start(GTK_BOX(left), gtk_widget_get_parent(W[which]), TRUE, TRUE, 0);
        g_signal_connect(gtk_text_view_get_buffer(GTK_TEXT_VIEW(W[which])), "changed",
                         G_CALLBACK(+[](GtkTextBuffer*, gpointer self) { static_cast<GenerateDialog*>(self)->update_counters(); }), this);
    }

    GtkWidget* grid = form_grid();
    GtkGrid* g = GTK_GRID(grid);
    W["sampler"] = combo(sampler_names());
    W["schedule"] = combo(schedule_names());
    W["steps"] = spin(1, 150, 1, 0);
    W["cfg_scale"] = spin(1, 30, 0.5, 1);
    W["width"] = spin(64, 2048, 8, 0);
    W["height"] = spin(64, 2048, 8, 0);
    W["batch_count"] = spin(1, 100, 1, 0);
    W["batch_size"] = spin(1, 8, 1, 0);
    int row = 0;
    label_row(g, row, 0, "Sampling method", W["sampler"]);
    label_row(g, row++, 2, "Schedule type", W["schedule"]);
    label_row(g, row, 0, "Sampling steps", W["steps"]);
    label_row(g, row++, 2, "CFG Scale", W["cfg_scale"]);
    label_row(g, row, 0, "Width", W["width"]);
    label_row(g, row++, 2, "Height", W["height"]);
    label_row(g, row, 0, "Batch count", W["batch_count"]);
    label_row(g, row++, 2, "Batch size", W["batch_size"]);
    W["seed"] = gtk_entry_new();
    GtkWidget* seed_row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 4);
    gtk_box_pack_start(GTK_BOX(seed_row), W["seed"], TRUE, TRUE, 0);
    GtkWidget* random = gtk_button_new_with_label("Random");
    gtk_widget_set_tooltip_text(random, "Random seed (-1)");
    g_signal_connect(random, "clicked", G_CALLBACK(+[](GtkButton*, gpointer e) { gtk_entry_set_text(GTK_ENTRY(e), "-1"); }), W["seed"]);
    GtkWidget* reuse = gtk_button_new_with_label("Reuse");
    gtk_widget_set_tooltip_text(reuse, "Reuse the seed of the last result");
    g_signal_connect(reuse, "clicked", G_CALLBACK(+[](GtkButton*, gpointer self) {
        auto* d = static_cast<GenerateDialog*>(self);
        if (d->last_seed_ >= 0) gtk_entry_set_text(GTK_ENTRY(d->w_->by_name["seed"]), std::to_string(d->last_seed_).c_str());
    }), this);
    gtk_box_pack_start(GTK_BOX(seed_row), random, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(seed_row), reuse, FALSE, FALSE, 0);
    label_row(g, row++, 0, "Seed", seed_row);
    if (cfg_.mode != Mode::kTxt2Img) {
        W["denoising_strength"] = spin(0, 1, 0.01, 2);
        W["image_cfg_scale"] = spin(0, 3, 0.05, 2);
        gtk_widget_set_tooltip_text(W["image_cfg_scale"], "InstructPix2Pix models only: how closely the result keeps to the image (1 = plain CFG)");
        label_row(g, row, 0, "Denoising strength", W["denoising_strength"]);
        label_row(g, row++, 2, "Image CFG scale", W["image_cfg_scale"]);
    }
    if (cfg_.mode == Mode::kInpaint) {
        W["mask_blur"] = spin(0, 64, 1, 0);
        W["masked_content"] = combo({"fill", "original", "latent noise", "latent nothing"});
        W["inpaint_area"] = combo({"Whole picture", "Only masked"});
        W["inpaint_padding"] = spin(0, 256, 4, 0);
        label_row(g, row, 0, "Mask blur", W["mask_blur"]);
        label_row(g, row++, 2, "Masked content", W["masked_content"]);
        label_row(g, row, 0, "Inpaint area", W["inpaint_area"]);
        label_row(g, row++, 2, "Only masked padding", W["inpaint_padding"]);
        W["mask_mode"] = combo({"Inpaint masked", "Inpaint not masked"});
        gtk_widget_set_tooltip_text(W["mask_mode"], "Inpaint not masked: repaint everything outside the selection");
        label_row(g, row++, 0, "Mask mode", W["mask_mode"]);
    }
    gtk_box_pack_start(GTK_BOX(left), grid, FALSE, FALSE, 0);

    // A1111's Lora and Hypernetworks tabs in short: the chosen network appended to the prompt as a tag.
    build_network_row(left, "LoRA", cfg_.loras, "lora");
    build_network_row(left, "Hypernetwork", cfg_.hypernetworks, "hypernet");
    if (!cfg_.styles.empty()) {
        GtkWidget* row_box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 4);
        gtk_box_pack_start(GTK_BOX(row_box), gtk_label_new("Style"), FALSE, FALSE, 0);
        std::vector<std::string> names;
        for (const auto& st : cfg_.styles) names.push_back(st.name);
        W["style"] = combo(names);
        gtk_combo_box_set_active(GTK_COMBO_BOX(W["style"]), 0);
        gtk_box_pack_start(GTK_BOX(row_box), W["style"], TRUE, TRUE, 0);
        W["apply_style"] = gtk_button_new_with_label("Apply to prompts");
        gtk_widget_set_tooltip_text(W["apply_style"], "Merges the style's text into the prompt and negative prompt, as A1111's "
                                                      "styles do ({prompt} marks where the prompt goes, else it is appended)");
        g_signal_connect(W["apply_style"], "clicked", G_CALLBACK(+[](GtkButton*, gpointer self) { static_cast<GenerateDialog*>(self)->apply_style(); }), this);
        gtk_box_pack_start(GTK_BOX(row_box), W["apply_style"], FALSE, FALSE, 0);
        gtk_box_pack_start(GTK_BOX(left), row_box, FALSE, FALSE, 0);
    }

    if (cfg_.mode == Mode::kTxt2Img) build_hires(left);
    if (cfg_.mode == Mode::kInpaint) build_soft_inpaint(left);
    build_refiner(left);

    GtkWidget* extra = gtk_expander_new("Extra");
    GtkWidget* eg = form_grid();
    W["variation_seed"] = gtk_entry_new();
    W["variation_strength"] = spin(0, 1, 0.01, 2);
    W["resize_seed_w"] = spin(0, 2048, 8, 0);
    W["resize_seed_h"] = spin(0, 2048, 8, 0);
    label_row(GTK_GRID(eg), 0, 0, "Variation seed", W["variation_seed"]);
    label_row(GTK_GRID(eg), 0, 2, "Variation strength", W["variation_strength"]);
    label_row(GTK_GRID(eg), 1, 0, "Resize seed from width", W["resize_seed_w"]);
    label_row(GTK_GRID(eg), 1, 2, "Resize seed from height", W["resize_seed_h"]);
    W["clip_skip"] = spin(1, 12, 1, 0);
    gtk_widget_set_tooltip_text(W["clip_skip"], "Stop the text encoder this many layers from its end (A1111's Clip skip; 2 for many anime models)");
    label_row(GTK_GRID(eg), 2, 2, "Clip skip", W["clip_skip"]);
    W["tiling"] = gtk_check_button_new_with_label("Tiling");
    gtk_widget_set_tooltip_text(W["tiling"], "An image that tiles seamlessly: the networks wrap round at its borders (A1111's Tiling)");
    gtk_grid_attach(GTK_GRID(eg), W["tiling"], 1, 2, 1, 1);
    if (cfg_.mode != Mode::kTxt2Img) {
        W["noise_multiplier"] = spin(0, 1.5, 0.01, 3);
        gtk_widget_set_tooltip_text(W["noise_multiplier"], "Scales the starting noise (A1111's Noise multiplier for img2img; 1 = as drawn)");
        W["extra_noise"] = spin(0, 1, 0.01, 2);
        gtk_widget_set_tooltip_text(W["extra_noise"], "Adds the starting noise once more at this strength (A1111's Extra noise)");
        label_row(GTK_GRID(eg), 3, 0, "Noise multiplier", W["noise_multiplier"]);
        label_row(GTK_GRID(eg), 3, 2, "Extra noise", W["extra_noise"]);
        W["color_correction"] = gtk_check_button_new_with_label("Color correction");
        gtk_widget_set_tooltip_text(W["color_correction"], "Match the result's colours to the image it started from (A1111's \"Apply color "
                                                           "correction to img2img results\"): keeps low-denoising runs and loops from drifting");
        gtk_grid_attach(GTK_GRID(eg), W["color_correction"], 1, 4, 1, 1);
        W["background_color"] = gtk_color_button_new();
        gtk_color_chooser_set_use_alpha(GTK_COLOR_CHOOSER(W["background_color"]), FALSE);
        gtk_widget_set_tooltip_text(W["background_color"], "What shows through the layer's transparent pixels when it is redrawn "
                                                           "(A1111's \"Background color for img2img\")");
        label_row(GTK_GRID(eg), 4, 2, "Background", W["background_color"]);
        W["img2img_fix_steps"] = gtk_check_button_new_with_label("Exact steps");
        gtk_widget_set_tooltip_text(W["img2img_fix_steps"], "Run exactly the steps set, whatever the denoising strength (A1111's \"With "
                                                            "img2img, do exactly the amount of steps the slider specifies\"; not in the text)");
        gtk_grid_attach(GTK_GRID(eg), W["img2img_fix_steps"], 1, 5, 1, 1);
    }
    if (cfg_.mode == Mode::kImg2Img) {
        // A1111's img2img tab size: the layer's part redrawn at Width x Height instead of its own.
        W["resize_init_image"] = gtk_check_button_new_with_label("Resize to width x height");
        gtk_widget_set_tooltip_text(W["resize_init_image"], "Redraw the layer (or its selected part) at the Width and Height above, resized "
                                                            "first as A1111's img2img resizes its image; the result lies at the part's corner");
        gtk_grid_attach(GTK_GRID(eg), W["resize_init_image"], 1, 6, 1, 1);
        W["resize_mode"] = combo({"Just resize", "Crop and resize", "Resize and fill", "Just resize (latent upscale)"});
        gtk_widget_set_tooltip_text(W["resize_mode"], "A1111's Resize mode: stretch, fill and crop the middle, fit and stretch the edges into "
                                                      "the gaps, or enlarge the latent instead of the picture");
        label_row(GTK_GRID(eg), 6, 2, "Resize mode", W["resize_mode"]);
        std::vector<std::string> ups = {"None", "Lanczos", "Nearest", "ESRGAN thick", "ESRGAN medium", "ESRGAN slim"};
        ups.insert(ups.end(), cfg_.upscalers.begin(), cfg_.upscalers.end());
        W["img2img_upscaler"] = combo(ups);
        gtk_widget_set_tooltip_text(W["img2img_upscaler"], "What enlarges the picture when it is resized up (A1111's \"Upscaler for "
                                                           "img2img\"; None: Lanczos)");
        label_row(GTK_GRID(eg), 7, 2, "Upscaler for img2img", W["img2img_upscaler"]);
    }
    gtk_container_add(GTK_CONTAINER(extra), eg);
    gtk_box_pack_start(GTK_BOX(left), extra, FALSE, FALSE, 0);
    W["extra"] = extra;

    build_sampler_parameters(left);

    GtkWidget* paste = gtk_expander_new("Paste parameters");
    GtkWidget* pbox = gtk_box_new(GTK_ORIENTATION_VERTICAL, 4);
    w_->paste_view = text_view(3);
    gtk_box_pack_start(GTK_BOX(pbox), gtk_widget_get_parent(w_->paste_view), TRUE, TRUE, 0);
    GtkWidget* pbtns = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 4);
    GtkWidget* apply = gtk_button_new_with_label("Apply");
    g_signal_connect(apply, "clicked", G_CALLBACK(+[](GtkButton*, gpointer self) {
        auto* d = static_cast<GenerateDialog*>(self);
        d->paste_parameters(buffer_text(d->w_->paste_view));
    }), this);
    GtkWidget* from_layer = gtk_button_new_with_label("From layer");
    gtk_widget_set_sensitive(from_layer, !cfg_.layer_parameters.empty());
    g_signal_connect(from_layer, "clicked", G_CALLBACK(+[](GtkButton*, gpointer self) {
        auto* d = static_cast<GenerateDialog*>(self);
        set_buffer_text(d->w_->paste_view, d->cfg_.layer_parameters);
        d->paste_parameters(d->cfg_.layer_parameters);
    }), this);
    gtk_box_pack_start(GTK_BOX(pbtns), apply, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(pbtns), from_layer, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(pbox), pbtns, FALSE, FALSE, 0);
    gtk_container_add(GTK_CONTAINER(paste), pbox);
    gtk_box_pack_start(GTK_BOX(left), paste, FALSE, FALSE, 0);
    W["paste"] = paste;
    W["paste_text"] = w_->paste_view;

    // Right column: live preview, progress, status and the buttons.
    GtkWidget* right = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
    gtk_box_pack_start(GTK_BOX(outer), right, FALSE, FALSE, 0);
    GtkWidget* frame = gtk_frame_new("Preview");
    w_->preview = gtk_image_new();
    gtk_widget_set_size_request(w_->preview, 256, 256);
    gtk_container_add(GTK_CONTAINER(frame), w_->preview);
    gtk_box_pack_start(GTK_BOX(right), frame, FALSE, FALSE, 0);
    w_->progress = gtk_progress_bar_new();
    gtk_progress_bar_set_show_text(GTK_PROGRESS_BAR(w_->progress), TRUE);
    gtk_progress_bar_set_text(GTK_PROGRESS_BAR(w_->progress), "Ready");
    gtk_box_pack_start(GTK_BOX(right), w_->progress, FALSE, FALSE, 0);
    w_->status = gtk_label_new("");
    gtk_label_set_line_wrap(GTK_LABEL(w_->status), TRUE);
    gtk_label_set_max_width_chars(GTK_LABEL(w_->status), 32);
    gtk_box_pack_start(GTK_BOX(right), w_->status, FALSE, FALSE, 0);
    GtkWidget* buttons = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    w_->cancel = gtk_button_new_with_label("Cancel");
    gtk_widget_set_sensitive(w_->cancel, FALSE);
    g_signal_connect(w_->cancel, "clicked", G_CALLBACK(+[](GtkButton*, gpointer self) { static_cast<GenerateDialog*>(self)->cancel(); }), this);
    w_->generate = gtk_button_new_with_label("Generate");
    gtk_widget_set_tooltip_text(w_->generate, "Generate (Ctrl+Enter); the dialog stays open for the next try");
    gtk_style_context_add_class(gtk_widget_get_style_context(w_->generate), "suggested-action");
    g_signal_connect(w_->generate, "clicked", G_CALLBACK(+[](GtkButton*, gpointer self) { static_cast<GenerateDialog*>(self)->generate(); }), this);
    GtkWidget* close = gtk_button_new_with_label("Close");
    g_signal_connect_swapped(close, "clicked", G_CALLBACK(+[](gpointer win) {
        GdkEvent* ev = gdk_event_new(GDK_DELETE);
        ev->any.window = GDK_WINDOW(g_object_ref(gtk_widget_get_window(GTK_WIDGET(win))));
        gtk_main_do_event(ev);
        gdk_event_free(ev);
    }), window_);
    W["generate"] = w_->generate;
    W["cancel"] = w_->cancel;
    gtk_box_pack_end(GTK_BOX(buttons), w_->generate, FALSE, FALSE, 0);
    gtk_box_pack_end(GTK_BOX(buttons), w_->cancel, FALSE, FALSE, 0);
    gtk_box_pack_end(GTK_BOX(buttons), close, FALSE, FALSE, 0);
    gtk_box_pack_end(GTK_BOX(right), buttons, FALSE, FALSE, 0);

    GtkAccelGroup* accel = gtk_accel_group_new();
    gtk_window_add_accel_group(GTK_WINDOW(window_), accel);
    gtk_widget_add_accelerator(w_->generate, "clicked", accel, GDK_KEY_Return, GDK_CONTROL_MASK, GTK_ACCEL_VISIBLE);
    gtk_widget_add_accelerator(w_->generate, "clicked", accel, GDK_KEY_KP_Enter, GDK_CONTROL_MASK, GTK_ACCEL_VISIBLE);
    gtk_widget_add_accelerator(close, "clicked", accel, GDK_KEY_Escape, static_cast<GdkModifierType>(0), GTK_ACCEL_VISIBLE);

    gtk_widget_show_all(window_);
    if (cfg_.transient_for_xid) {
        // GIMP 2.10 passes no display to plug-ins; its image window's XID makes us its dialog.
        GdkWindow* foreign = gdk_x11_window_foreign_new_for_display(gdk_display_get_default(), cfg_.transient_for_xid);
        if (foreign) gdk_window_set_transient_for(gtk_widget_get_window(window_), foreign);
    }
}

namespace {

// A number field of a request: its widget, label, range, member and tip.
struct NumberField {
    const char* name;
    const char* label;
    double lo, hi, step;
    int digits;
    double GenerateRequest::*member;
    const char* tip;
};

// A1111's Settings > Sampler parameters (the RNG and emphasis settings beside them have widgets of
// their own).
const std::vector<NumberField>& sampler_fields() {
    static const std::vector<NumberField> f = {
        {"eta_ancestral", "Eta", 0, 1, 0.01, 3, &GenerateRequest::eta_ancestral, "Noise added back each step by the ancestral and SDE samplers (A1111's Eta; 1 = full)"},
        {"eta_ddim", "Eta DDIM", 0, 1, 0.01, 3, &GenerateRequest::eta_ddim, "DDIM's noise each step (0 = deterministic)"},
        {"s_churn", "Sigma churn", 0, 100, 0.01, 3, &GenerateRequest::s_churn, "Euler, Heun and DPM2: noise added back each step"},
        {"s_tmin", "Sigma tmin", 0, 1000, 0.01, 3, &GenerateRequest::s_tmin, "Churn only at sigmas above this"},
        {"s_tmax", "Sigma tmax", 0, 1000, 0.1, 2, &GenerateRequest::s_tmax, "Churn only at sigmas below this (0 = no bound)"},
        {"s_noise", "Sigma noise", 0, 2, 0.001, 4, &GenerateRequest::s_noise, "Scale of the churned noise"},
        {"s_min_uncond", "NGMS", 0, 1000, 0.01, 3, &GenerateRequest::s_min_uncond, "Skip the negative prompt on every other step below this sigma (faster)"},
        {"skip_early_cond", "Skip Early CFG", 0, 1, 0.01, 3, &GenerateRequest::skip_early_cond, "No guidance for this fraction of the first steps"},
        {"schedule_sigma_min", "Schedule min sigma", 0, 1000, 0.001, 4, &GenerateRequest::schedule_sigma_min, "Lowest noise the schedule types span (0 = the model's, ~0.03)"},
        {"schedule_sigma_max", "Schedule max sigma", 0, 1000, 0.01, 3, &GenerateRequest::schedule_sigma_max, "Highest noise the schedule types span (0 = the model's, ~14.6)"},
        {"schedule_rho", "Schedule rho", 0, 100, 0.1, 3, &GenerateRequest::schedule_rho, "Karras and Polyexponential steepness (0 = theirs: 7 and 1)"},
        {"beta_dist_alpha", "Beta schedule alpha", 0.01, 1, 0.01, 3, &GenerateRequest::beta_dist_alpha, "The Beta schedule's distribution (A1111 default 0.6)"},
        {"beta_dist_beta", "Beta schedule beta", 0.01, 1, 0.01, 3, &GenerateRequest::beta_dist_beta, "The Beta schedule's distribution (A1111 default 0.6)"},
        {"token_merging_ratio", "Token merging ratio", 0, 0.9, 0.1, 2, &GenerateRequest::token_merging_ratio, "Merge this share of similar tokens in the self-attention at full size: faster, slightly different images (0 = off)"},
        {"token_merging_ratio_hr", "Token merging ratio (hires)", 0, 0.9, 0.1, 2, &GenerateRequest::token_merging_ratio_hr, "The Hires. fix pass's token merging ratio (0 = the one above)"},
    };
    return f;
}

// A1111's Hypertile settings: its switches and its whole-number sliders.
struct FlagField {
    const char* name;
    const char* label;
    bool GenerateRequest::*member;
    const char* tip;
};
const std::vector<FlagField>& hypertile_flags() {
    static const std::vector<FlagField> f = {
        {"hypertile_unet", "Hypertile U-Net", &GenerateRequest::hypertile_unet, "Self-attention over tiles on every pass: faster on large images, changes details"},
        {"hypertile_unet_second_pass", "Hypertile U-Net (hires pass)", &GenerateRequest::hypertile_unet_second_pass, "The same for the Hires. fix pass only"},
        {"hypertile_vae", "Hypertile VAE", &GenerateRequest::hypertile_vae, "The VAE decoder's attention over tiles (small changes)"},
    };
    return f;
}
struct WholeField {
    const char* name;
    const char* label;
    int lo, hi, step;
    int GenerateRequest::*member;
    const char* tip;
};
const std::vector<WholeField>& hypertile_fields() {
    static const std::vector<WholeField> f = {
        {"hypertile_unet_max_depth", "Hypertile U-Net max depth", 0, 3, 1, &GenerateRequest::hypertile_unet_max_depth, "How many of the U-Net's levels it tiles (A1111 default 3)"},
        {"hypertile_unet_max_tile", "Hypertile U-Net max tile size", 0, 512, 16, &GenerateRequest::hypertile_unet_max_tile, "Largest tile in pixels (A1111 default 256)"},
        {"hypertile_unet_swap_size", "Hypertile U-Net swap size", 0, 64, 1, &GenerateRequest::hypertile_unet_swap_size, "Tile counts it chooses among at random (A1111 default 3)"},
        {"hypertile_vae_max_depth", "Hypertile VAE max depth", 0, 3, 1, &GenerateRequest::hypertile_vae_max_depth, "A1111 default 3"},
        {"hypertile_vae_max_tile", "Hypertile VAE max tile size", 0, 512, 16, &GenerateRequest::hypertile_vae_max_tile, "A1111 default 128"},
        {"hypertile_vae_swap_size", "Hypertile VAE swap size", 0, 64, 1, &GenerateRequest::hypertile_vae_swap_size, "A1111 default 3"},
    };
    return f;
}

// A1111's Soft inpainting settings.
const std::vector<NumberField>& soft_fields() {
    static const std::vector<NumberField> f = {
        {"soft_schedule_bias", "Schedule bias", 0, 8, 0.1, 1, &GenerateRequest::soft_schedule_bias, "When the original is kept while denoising: below 1 late, above 1 early"},
        {"soft_preservation_strength", "Preservation strength", 0, 8, 0.05, 2, &GenerateRequest::soft_preservation_strength, "How strongly partly selected content keeps the original"},
        {"soft_transition_contrast", "Transition contrast boost", 1, 32, 0.5, 1, &GenerateRequest::soft_transition_contrast, "Keeps the contrast partial blends would lose"},
        {"soft_mask_influence", "Mask influence", 0, 1, 0.05, 2, &GenerateRequest::soft_mask_influence, "How much the selection biases the difference threshold"},
        {"soft_difference_threshold", "Difference threshold", 0, 8, 0.25, 2, &GenerateRequest::soft_difference_threshold, "How much a region may change before the original stops showing through"},
        {"soft_difference_contrast", "Difference contrast", 0, 8, 0.25, 2, &GenerateRequest::soft_difference_contrast, "How sharp the step between blended and not blended is"},
    };
    return f;
}

}  // namespace

void GenerateDialog::build_soft_inpaint(GtkWidget* box) {
    // A1111's Soft inpainting: partly selected pixels keep part of the original; each result gets
    // its own layer mask of where it changed.
    auto& W = w_->by_name;
    GtkWidget* soft = gtk_expander_new("Soft inpainting");
    GtkWidget* sg = form_grid();
    GtkGrid* g = GTK_GRID(sg);
    W["soft_inpainting"] = gtk_check_button_new_with_label("Enable");
    gtk_widget_set_tooltip_text(W["soft_inpainting"],
                                "Blend the original and the new content by the selection's softness (A1111's Soft inpainting; a large mask blur helps)");
    gtk_grid_attach(g, W["soft_inpainting"], 0, 0, 2, 1);
    int i = 0;
    for (const auto& f : soft_fields()) {
        W[f.name] = spin(f.lo, f.hi, f.step, f.digits);
        gtk_widget_set_tooltip_text(W[f.name], f.tip);
        label_row(g, 1 + i / 2, (i % 2) * 2, f.label, W[f.name]);
        ++i;
    }
    gtk_container_add(GTK_CONTAINER(soft), sg);
    gtk_box_pack_start(GTK_BOX(box), soft, FALSE, FALSE, 0);
    W["soft"] = soft;
}

void GenerateDialog::build_sampler_parameters(GtkWidget* box) {
    // The settings A1111 keeps on its Settings page, where a pasted text also puts them.
    auto& W = w_->by_name;
    GtkWidget* exp = gtk_expander_new("Sampler parameters");
    GtkWidget* sg = form_grid();
    GtkGrid* g = GTK_GRID(sg);
    W["rng"] = combo({"GPU", "CPU", "NV"});
    gtk_widget_set_tooltip_text(W["rng"], "Where the noise comes from (A1111's Random number generator source; GPU = CUDA's, on any device)");
    label_row(g, 0, 0, "RNG", W["rng"]);
    W["ensd"] = spin(0, 2147483647, 1, 0);
    gtk_widget_set_tooltip_text(W["ensd"], "Eta noise seed delta: offsets the seed of the noise the samplers add (31337 in NovelAI texts)");
    label_row(g, 0, 2, "ENSD", W["ensd"]);
    W["emphasis"] = combo({"Original", "No norm", "Ignore", "None"});
    gtk_widget_set_tooltip_text(W["emphasis"], "How (word:1.2) weights act (A1111's Emphasis mode)");
    label_row(g, 1, 0, "Emphasis", W["emphasis"]);
    W["noise_schedule"] = combo({"Default", "Zero Terminal SNR"});
    gtk_widget_set_tooltip_text(W["noise_schedule"], "Zero Terminal SNR: the last step starts from pure noise (for models trained so)");
    label_row(g, 1, 2, "Noise schedule", W["noise_schedule"]);
    int i = 0;
    for (const auto& f : sampler_fields()) {
        W[f.name] = spin(f.lo, f.hi, f.step, f.digits);
        gtk_widget_set_tooltip_text(W[f.name], f.tip);
        label_row(g, 2 + i / 2, (i % 2) * 2, f.label, W[f.name]);
        ++i;
    }
    const int row = 2 + (i + 1) / 2;
    W["sgm_noise_multiplier"] = gtk_check_button_new_with_label("SGM noise multiplier");
    gtk_widget_set_tooltip_text(W["sgm_noise_multiplier"], "Start txt2img from noise scaled as SGM models expect (sqrt(1 + sigma^2))");
    gtk_grid_attach(g, W["sgm_noise_multiplier"], 0, row, 2, 1);
    W["discard_penultimate_sigma"] = gtk_check_button_new_with_label("Always discard next-to-last sigma");
    gtk_widget_set_tooltip_text(W["discard_penultimate_sigma"], "Every sampler drops the next-to-last step, as DPM2 does");
    gtk_grid_attach(g, W["discard_penultimate_sigma"], 2, row, 2, 1);
    W["old_prompt_editing"] = gtk_check_button_new_with_label("Old prompt editing timelines");
    gtk_widget_set_tooltip_text(W["old_prompt_editing"], "[a:b:when] read as A1111 before 1.6 did (set by texts of those versions)");
    gtk_grid_attach(g, W["old_prompt_editing"], 0, row + 1, 2, 1);
    W["pad_conds"] = gtk_check_button_new_with_label("Pad prompt/negative prompt");
    gtk_widget_set_tooltip_text(W["pad_conds"], "A prompt and negative prompt of different lengths share one batch, the shorter padded "
                                                "with the empty prompt (faster; changes the image)");
    gtk_grid_attach(g, W["pad_conds"], 2, row + 1, 2, 1);
    W["ngms_all"] = gtk_check_button_new_with_label("NGMS on every step");
    gtk_widget_set_tooltip_text(W["ngms_all"], "Skip the negative prompt on every step below the NGMS sigma, not every other one");
    gtk_grid_attach(g, W["ngms_all"], 0, row + 2, 2, 1);
    W["enable_quantization"] = gtk_check_button_new_with_label("Quantization in K samplers");
    gtk_widget_set_tooltip_text(W["enable_quantization"], "The k-diffusion samplers call the model at whole timesteps (A1111's \"Enable "
                                                          "quantization in K samplers\": sharper, changes the image; not in the parameters text)");
    W["downcast_alphas"] = gtk_check_button_new_with_label("Downcast alphas_cumprod");
    gtk_widget_set_tooltip_text(W["downcast_alphas"], "The noise table in half precision, as A1111 before 1.7 had it (set by texts of those versions)");
    gtk_grid_attach(g, W["downcast_alphas"], 2, row + 2, 2, 1);
    W["fp8_weight"] = combo({"Disable", "Enable for SDXL", "Enable"});
    gtk_widget_set_tooltip_text(W["fp8_weight"], "Enable: the UNet's and text encoder's weights rounded to 8-bit floats, as A1111's FP8 weight "
                                                 "setting stores them (changes the image; SDXL only for \"Enable for SDXL\")");
    label_row(g, row + 3, 0, "FP8 weight", W["fp8_weight"]);
    W["cache_fp16_weight"] = gtk_check_button_new_with_label("Cache FP16 weight for LoRA");
    gtk_widget_set_tooltip_text(W["cache_fp16_weight"], "Under FP8 weight, LoRA networks merge into the unrounded weights");
    gtk_grid_attach(g, W["cache_fp16_weight"], 2, row + 3, 2, 1);
    gtk_grid_attach(g, W["enable_quantization"], 0, row + 4, 2, 1);
    int hrow = row + 5, col = 0;
    for (const auto& f : hypertile_flags()) {
        W[f.name] = gtk_check_button_new_with_label(f.label);
        gtk_widget_set_tooltip_text(W[f.name], f.tip);
        gtk_grid_attach(g, W[f.name], col, hrow, 2, 1);
        col += 2;
        if (col == 4) { col = 0; ++hrow; }
    }
    int j = 0;
    for (const auto& f : hypertile_fields()) {
        W[f.name] = spin(f.lo, f.hi, f.step, 0);
        gtk_widget_set_tooltip_text(W[f.name], f.tip);
        label_row(g, hrow + 1 + j / 2, (j % 2) * 2, f.label, W[f.name]);
        ++j;
    }
    // A1111's VAE settings and live preview display: TAESD, the tiny autoencoder (its files in a
    // VAE-taesd folder), trades detail for speed.
    const int vrow = hrow + 1 + (j + 1) / 2;
    W["vae_encode_method"] = combo({"Full", "TAESD"});
    gtk_widget_set_tooltip_text(W["vae_encode_method"], "What makes the init latents of img2img, inpainting and Hires. fix: the model's VAE or TAESD (faster, softer; needs taesd_encoder.pth in VAE-taesd)");
    label_row(g, vrow, 0, "VAE type for encode", W["vae_encode_method"]);
    W["vae_decode_method"] = combo({"Full", "TAESD"});
    gtk_widget_set_tooltip_text(W["vae_decode_method"], "What turns the latents into the image: the model's VAE or TAESD (faster, softer; needs taesd_decoder.pth in VAE-taesd)");
    label_row(g, vrow, 2, "VAE type for decode", W["vae_decode_method"]);
    W["live_preview_method"] = combo({"Full", "Approx NN", "Approx cheap", "TAESD"});
    gtk_widget_set_tooltip_text(W["live_preview_method"], "How the live preview is drawn: the VAE itself (exact, slow), A1111's small VAE-approx network (needs VAE-approx/model.pt), a fixed colour map, or TAESD's decoder (close to the result; needs taesd_decoder.pth)");
    label_row(g, vrow + 1, 0, "Live preview", W["live_preview_method"]);
    W["vae_whole_image"] = gtk_check_button_new_with_label("Large images whole");
    gtk_widget_set_tooltip_text(W["vae_whole_image"], "Images above 1024x1024 go through the VAE in one pass, as in A1111 (its exact pixels; "
                                                      "several GiB of memory at 2048x2048), instead of blended tiles");
    gtk_grid_attach(g, W["vae_whole_image"], 2, vrow + 1, 2, 1);
    W["ldsr_steps"] = spin(1, 200, 1, 0);
    gtk_widget_set_tooltip_text(W["ldsr_steps"], "A1111's \"LDSR processing steps\": DDIM steps of the LDSR upscaler where this run "
                                                 "upscales (fewer is faster; A1111's default is 100)");
    label_row(g, vrow + 2, 0, "LDSR steps", W["ldsr_steps"]);
    // A1111's "Restore faces" with its face restoration model (Settings > Face restoration).
    W["face_restoration"] = combo({"None", "CodeFormer", "GFPGAN"});
    gtk_widget_set_tooltip_text(W["face_restoration"], "Restore the faces of every result, as A1111's \"Restore faces\" does (needs the "
                                                       "restorer's files in a GFPGAN or Codeformer folder; recorded as \"Face restoration\")");
    label_row(g, vrow + 2, 2, "Face restoration", W["face_restoration"]);
    W["codeformer_weight"] = spin(0, 1, 0.05, 3);
    gtk_widget_set_tooltip_text(W["codeformer_weight"], "A1111's \"CodeFormer weight\": 0 paints CodeFormer's own face, 1 keeps most of the generated one");
    label_row(g, vrow + 3, 2, "CodeFormer weight", W["codeformer_weight"]);
    gtk_container_add(GTK_CONTAINER(exp), sg);
    gtk_box_pack_start(GTK_BOX(box), exp, FALSE, FALSE, 0);
    W["sampler_parameters"] = exp;
}

void GenerateDialog::build_refiner(GtkWidget* box) {
    // A1111's Refiner accordion: another checkpoint takes over sampling at "Switch at".
    auto& W = w_->by_name;
    GtkWidget* refiner = gtk_expander_new("Refiner");
    GtkWidget* rg = form_grid();
    GtkGrid* g = GTK_GRID(rg);
    std::vector<std::string> checkpoints = {"None"};
    checkpoints.insert(checkpoints.end(), cfg_.models.begin(), cfg_.models.end());
    W["refiner_checkpoint"] = combo_with_entry(checkpoints);
    gtk_widget_set_tooltip_text(W["refiner_checkpoint"], "Finish sampling on another checkpoint of the same kind (or type its file); None: off");
    W["refiner_switch_at"] = spin(0.01, 1, 0.01, 2);
    gtk_widget_set_tooltip_text(W["refiner_switch_at"], "The fraction of the timesteps after which the refiner takes over (A1111's Switch at)");
    gtk_grid_attach(g, gtk_label_new("Checkpoint"), 0, 0, 1, 1);
    gtk_grid_attach(g, W["refiner_checkpoint"], 1, 0, 3, 1);
    label_row(g, 1, 0, "Switch at", W["refiner_switch_at"]);
    W["refiner_switch_by_steps"] = gtk_check_button_new_with_label("Switch by sampling steps");
    gtk_widget_set_tooltip_text(W["refiner_switch_by_steps"], "Count the sampler's steps instead of reading the noise level (A1111's setting)");
    gtk_grid_attach(g, W["refiner_switch_by_steps"], 0, 2, 2, 1);
    if (cfg_.mode == Mode::kTxt2Img) {
        W["hr_refiner_pass"] = combo({"second pass", "first pass", "both passes"});
        gtk_widget_set_tooltip_text(W["hr_refiner_pass"], "With Hires. fix: the pass(es) the refiner joins (A1111's Hires refiner setting)");
        label_row(g, 1, 2, "With Hires. fix", W["hr_refiner_pass"]);
    }
    gtk_container_add(GTK_CONTAINER(refiner), rg);
    gtk_box_pack_start(GTK_BOX(box), refiner, FALSE, FALSE, 0);
    W["refiner"] = refiner;
}

void GenerateDialog::build_hires(GtkWidget* box) {
    // A1111's Hires. fix: the first pass at Width x Height, enlarged, then refined at the hires size.
    auto& W = w_->by_name;
    GtkWidget* hires = gtk_expander_new("Hires. fix");
    GtkWidget* hg = form_grid();
    GtkGrid* g = GTK_GRID(hg);
    W["enable_hr"] = gtk_check_button_new_with_label("Enable");
    gtk_widget_set_tooltip_text(W["enable_hr"], "Generate at Width x Height, enlarge, then refine at the larger size (A1111's Hires. fix)");
    std::vector<std::string> upscalers = hires_upscaler_names();
    for (const char* u : {"ESRGAN thick", "ESRGAN medium", "ESRGAN slim"}) upscalers.push_back(u);
    upscalers.insert(upscalers.end(), cfg_.upscalers.begin(), cfg_.upscalers.end());
    W["hr_upscaler"] = combo_with_entry(upscalers);
    gtk_widget_set_tooltip_text(W["hr_upscaler"], "Latent modes enlarge the latents; the others the first image (or type an ESRGAN .pth path)");
    W["hr_second_pass_steps"] = spin(0, 150, 1, 0);
    gtk_widget_set_tooltip_text(W["hr_second_pass_steps"], "Steps of the hires pass; 0 = the sampling steps");
    W["hr_denoising_strength"] = spin(0, 1, 0.01, 2);
    W["hr_scale"] = spin(1, 4, 0.05, 2);
    W["hr_resize_x"] = spin(0, 4096, 8, 0);
    W["hr_resize_y"] = spin(0, 4096, 8, 0);
    gtk_widget_set_tooltip_text(W["hr_resize_x"], "Resize width to (0: use Upscale by; both set: cropped to that shape)");
    std::vector<std::string> samplers = {"Use same sampler"}, schedules = {"Use same scheduler"};
    for (const auto& n : sampler_names()) samplers.push_back(n);
    for (const auto& n : schedule_names()) schedules.push_back(n);
    W["hr_sampler"] = combo(samplers);
    W["hr_schedule"] = combo(schedules);
    std::vector<std::string> checkpoints = {"Use same checkpoint"};
    checkpoints.insert(checkpoints.end(), cfg_.models.begin(), cfg_.models.end());
    W["hr_checkpoint"] = combo_with_entry(checkpoints);
    gtk_widget_set_tooltip_text(W["hr_checkpoint"], "Run the hires pass on another checkpoint of the same family (or type its file)");
    W["hr_prompt"] = text_view(2);
    W["hr_negative_prompt"] = text_view(1);
    w_->hires_size = gtk_label_new("");
    gtk_widget_set_halign(w_->hires_size, GTK_ALIGN_START);
    int row = 0;
    gtk_grid_attach(g, W["enable_hr"], 0, row, 2, 1);
    gtk_grid_attach(g, w_->hires_size, 2, row++, 2, 1);
    label_row(g, row, 0, "Upscaler", W["hr_upscaler"]);
    label_row(g, row++, 2, "Hires steps", W["hr_second_pass_steps"]);
    label_row(g, row, 0, "Denoising strength", W["hr_denoising_strength"]);
    label_row(g, row++, 2, "Upscale by", W["hr_scale"]);
    label_row(g, row, 0, "Resize width to", W["hr_resize_x"]);
    label_row(g, row++, 2, "Resize height to", W["hr_resize_y"]);
    label_row(g, row, 0, "Hires sampler", W["hr_sampler"]);
    label_row(g, row++, 2, "Hires schedule type", W["hr_schedule"]);
    gtk_grid_attach(g, gtk_label_new("Hires checkpoint"), 0, row, 1, 1);
    gtk_widget_set_halign(gtk_grid_get_child_at(g, 0, row), GTK_ALIGN_START);
    gtk_grid_attach(g, W["hr_checkpoint"], 1, row++, 3, 1);
    for (const auto& [name, label] : {std::pair{"hr_prompt", "Hires prompt"}, std::pair{"hr_negative_prompt", "Hires negative prompt"}}) {
        GtkWidget* l = gtk_label_new(label);
        gtk_widget_set_halign(l, GTK_ALIGN_START);
        gtk_widget_set_tooltip_text(l, "Empty: the main prompt");
        gtk_grid_attach(g, l, 0, row, 1, 1);
        gtk_grid_attach(g, gtk_widget_get_parent(W[name]), 1, row++, 3, 1);
    }
    gtk_container_add(GTK_CONTAINER(hires), hg);
    gtk_box_pack_start(GTK_BOX(box), hires, FALSE, FALSE, 0);
    W["hires"] = hires;
    auto changed = G_CALLBACK(+[](GtkWidget*, gpointer self) { static_cast<GenerateDialog*>(self)->update_hires_size(); });
    for (const char* name : {"width", "height", "hr_scale", "hr_resize_x", "hr_resize_y"}) g_signal_connect(W[name], "value-changed", changed, this);
    g_signal_connect(W["enable_hr"], "toggled", changed, this);
}

void GenerateDialog::update_hires_size() {
    if (!w_->hires_size) return;
    GenerateRequest r;
    r.width = static_cast<int>(num(widget("width"))) / 8 * 8;
    r.height = static_cast<int>(num(widget("height"))) / 8 * 8;
    r.hr_scale = num(widget("hr_scale"));
    r.hr_resize_x = static_cast<int>(num(widget("hr_resize_x")));
    r.hr_resize_y = static_cast<int>(num(widget("hr_resize_y")));
    const HiresSize h = hires_size(r);
    const bool on = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget("enable_hr")));
    const std::string text = std::to_string(r.width) + "x" + std::to_string(r.height) + " → " + std::to_string(h.width()) + "x" +
                             std::to_string(h.height());
    gtk_label_set_text(GTK_LABEL(w_->hires_size), on ? text.c_str() : "");
}

std::string GenerateDialog::hires_size_text() const { return w_->hires_size ? gtk_label_get_text(GTK_LABEL(w_->hires_size)) : ""; }

std::string GenerateDialog::model_info() const { return gtk_label_get_text(GTK_LABEL(w_->model_info)); }

void GenerateDialog::model_changed() {
    if (!hooks_.describe_model || !w_->model_info) return;
    const std::string m = model();
    if (m.empty()) return;
    int size = 0;
    const std::string info = hooks_.describe_model(m, &size);
    gtk_label_set_text(GTK_LABEL(w_->model_info), info.c_str());
    // Follow the model's native size while the user has not chosen another one.
    if (size > 0 && widget("width")) {
        for (const char* f : {"width", "height"}) {
            const int v = static_cast<int>(gtk_spin_button_get_value(GTK_SPIN_BUTTON(widget(f))));
            if (v == 512 || v == 768) gtk_spin_button_set_value(GTK_SPIN_BUTTON(widget(f)), size);
        }
    }
}

void GenerateDialog::update_counters() {
    for (bool neg : {false, true})
        gtk_label_set_text(GTK_LABEL(neg ? w_->negative_counter : w_->prompt_counter), token_counter(neg).c_str());
}

std::string GenerateDialog::token_counter(bool negative) const {
    if (!tok_) return "?/75";
    const std::string t = buffer_text(widget(negative ? "negative_prompt" : "prompt"));
    try {
        text::ChunkSettings cs;
        cs.embeddings = &embedding_words_;
        const int n = text::chunk_prompt(*tok_, t, cs).token_count;
        return std::to_string(n) + "/" + std::to_string(std::max(1, (n + 74) / 75) * 75);
    } catch (const Error&) {
        return "!/75";  // the emphasis parser rejects the text; Generate will say why
    }
}

void GenerateDialog::build_network_row(GtkWidget* box, const char* label, const std::vector<std::string>& names, const std::string& tag) {
    if (names.empty()) return;
    auto& W = w_->by_name;
    GtkWidget* row_box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 4);
    gtk_box_pack_start(GTK_BOX(row_box), gtk_label_new(label), FALSE, FALSE, 0);
    GtkWidget* choice = W[tag] = combo(names);
    gtk_combo_box_set_active(GTK_COMBO_BOX(choice), 0);
    gtk_box_pack_start(GTK_BOX(row_box), choice, TRUE, TRUE, 0);
    GtkWidget* add = W["add_" + tag] = gtk_button_new_with_label("Add to prompt");
    const std::string tip = "Appends <" + tag + ":name:1> to the prompt; edit the 1 for its strength";
    gtk_widget_set_tooltip_text(add, tip.c_str());
    g_object_set_data_full(G_OBJECT(add), "tag", g_strdup(tag.c_str()), g_free);
    g_signal_connect(add, "clicked", G_CALLBACK(+[](GtkButton* b, gpointer self) {
                         static_cast<GenerateDialog*>(self)->add_network(static_cast<const char*>(g_object_get_data(G_OBJECT(b), "tag")));
                     }), this);
    gtk_box_pack_start(GTK_BOX(row_box), add, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(box), row_box, FALSE, FALSE, 0);
}

void GenerateDialog::apply_style() {
    const int i = gtk_combo_box_get_active(GTK_COMBO_BOX(widget("style")));
    if (i < 0 || i >= static_cast<int>(cfg_.styles.size())) return;
    // A1111 styles the hires prompts too (Text to Image only has them).
    GtkWidget* hp = widget("hr_prompt");
    GtkWidget* hn = widget("hr_negative_prompt");
    std::string p = buffer_text(widget("prompt")), n = buffer_text(widget("negative_prompt"));
    std::string hr = hp ? buffer_text(hp) : "", hr_neg = hn ? buffer_text(hn) : "";
    text::apply_styles_to_run({cfg_.styles[static_cast<size_t>(i)]}, &p, &n, &hr, &hr_neg);
    set_buffer_text(widget("prompt"), p);
    set_buffer_text(widget("negative_prompt"), n);
    if (hp) set_buffer_text(hp, hr);
    if (hn) set_buffer_text(hn, hr_neg);
}

void GenerateDialog::add_network(const std::string& tag) {
    const std::string name = combo_id(widget(tag.c_str()));
    if (name.empty()) return;
    std::string prompt = buffer_text(widget("prompt"));
    if (!prompt.empty() && prompt.back() != ' ' && prompt.back() != '\n') prompt += ' ';
    set_buffer_text(widget("prompt"), prompt + "<" + tag + ":" + name + ":1>");
}

GenerateRequest GenerateDialog::request() const {
    GenerateRequest r = cfg_.initial;
    r.prompt = buffer_text(widget("prompt"));
    r.negative_prompt = buffer_text(widget("negative_prompt"));
    r.sampler = combo_id(widget("sampler"));
    r.schedule = combo_id(widget("schedule"));
    r.steps = static_cast<int>(num(widget("steps")));
    r.cfg_scale = num(widget("cfg_scale"));
    r.width = static_cast<int>(num(widget("width"))) / 8 * 8;
    r.height = static_cast<int>(num(widget("height"))) / 8 * 8;
    r.batch_count = static_cast<int>(num(widget("batch_count")));
    r.batch_size = static_cast<int>(num(widget("batch_size")));
    r.seed = parse_seed(widget("seed"), "Seed");
    r.subseed = parse_seed(widget("variation_seed"), "Variation seed");
    r.subseed_strength = num(widget("variation_strength"));
    r.seed_resize_from_w = static_cast<int>(num(widget("resize_seed_w")));
    r.seed_resize_from_h = static_cast<int>(num(widget("resize_seed_h")));
    r.tiling = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget("tiling")));
    r.clip_skip = static_cast<int>(num(widget("clip_skip")));
    r.rng = combo_id(widget("rng"));
    r.eta_noise_seed_delta = static_cast<int64_t>(num(widget("ensd")));
    r.emphasis = combo_id(widget("emphasis"));
    r.noise_schedule = combo_id(widget("noise_schedule"));
    r.vae_encode_method = combo_id(widget("vae_encode_method"));
    r.vae_decode_method = combo_id(widget("vae_decode_method"));
    r.vae_whole_image = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget("vae_whole_image")));
    r.ldsr_steps = static_cast<int>(num(widget("ldsr_steps")));
    r.face_restoration = combo_id(widget("face_restoration")) == "None" ? "" : combo_id(widget("face_restoration"));
    r.codeformer_weight = num(widget("codeformer_weight"));
    r.live_preview_method = combo_id(widget("live_preview_method"));
    for (const auto& f : sampler_fields()) r.*f.member = num(widget(f.name));
    r.sgm_noise_multiplier = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget("sgm_noise_multiplier")));
    r.always_discard_next_to_last_sigma = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget("discard_penultimate_sigma")));
    r.old_prompt_editing_timelines = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget("old_prompt_editing")));
    r.pad_cond_uncond = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget("pad_conds")));
    r.s_min_uncond_all = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget("ngms_all")));
    r.downcast_alphas_cumprod = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget("downcast_alphas")));
    r.enable_quantization = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget("enable_quantization")));
    r.fp8_weight = combo_id(widget("fp8_weight"));
    r.cache_fp16_weight = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget("cache_fp16_weight")));
    for (const auto& f : hypertile_flags()) r.*f.member = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget(f.name)));
    for (const auto& f : hypertile_fields()) r.*f.member = static_cast<int>(num(widget(f.name)));
    if (widget("denoising_strength")) r.denoising_strength = num(widget("denoising_strength"));
    if (widget("image_cfg_scale")) r.image_cfg_scale = num(widget("image_cfg_scale"));
    if (widget("noise_multiplier")) {
        r.noise_multiplier = num(widget("noise_multiplier"));
        r.extra_noise = num(widget("extra_noise"));
        r.img2img_color_correction = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget("color_correction")));
        r.img2img_fix_steps = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget("img2img_fix_steps")));
        if (widget("resize_init_image")) {
            r.resize_init_image = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget("resize_init_image")));
            r.resize_mode = std::max(0, gtk_combo_box_get_active(GTK_COMBO_BOX(widget("resize_mode"))));
            r.img2img_upscaler = combo_id(widget("img2img_upscaler"));
            if (r.img2img_upscaler.empty()) r.img2img_upscaler = "None";
        }
        GdkRGBA c;
        gtk_color_chooser_get_rgba(GTK_COLOR_CHOOSER(widget("background_color")), &c);
        char hex[8];
        std::snprintf(hex, sizeof hex, "#%02x%02x%02x", static_cast<int>(std::lround(c.red * 255)),
                      static_cast<int>(std::lround(c.green * 255)), static_cast<int>(std::lround(c.blue * 255)));
        r.img2img_background_color = hex;
    }
    if (widget("enable_hr")) {
        r.enable_hr = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget("enable_hr")));
        r.denoising_strength = num(widget("hr_denoising_strength"));
        r.hr_upscaler = combo_id(widget("hr_upscaler"));
        r.hr_second_pass_steps = static_cast<int>(num(widget("hr_second_pass_steps")));
        r.hr_scale = num(widget("hr_scale"));
        r.hr_resize_x = static_cast<int>(num(widget("hr_resize_x")));
        r.hr_resize_y = static_cast<int>(num(widget("hr_resize_y")));
        const std::string hs = combo_id(widget("hr_sampler")), hsc = combo_id(widget("hr_schedule"));
        r.hr_sampler = hs == "Use same sampler" ? "" : hs;
        r.hr_schedule = hsc == "Use same scheduler" ? "" : hsc;
        const std::string hc = combo_id(widget("hr_checkpoint"));
        r.hr_checkpoint = hc == "Use same checkpoint" ? "" : hc;
        r.hr_prompt = buffer_text(widget("hr_prompt"));
        r.hr_negative_prompt = buffer_text(widget("hr_negative_prompt"));
    }
    if (widget("refiner_checkpoint")) {
        const std::string rc = combo_id(widget("refiner_checkpoint"));
        r.refiner_checkpoint = rc == "None" ? "" : rc;
        r.refiner_switch_at = num(widget("refiner_switch_at"));
        r.refiner_switch_by_steps = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget("refiner_switch_by_steps")));
        if (widget("hr_refiner_pass")) r.hr_refiner_pass = combo_id(widget("hr_refiner_pass"));
    }
    if (cfg_.mode == Mode::kInpaint) {
        r.mask_blur = static_cast<int>(num(widget("mask_blur")));
        r.masked_content = gtk_combo_box_get_active(GTK_COMBO_BOX(widget("masked_content")));
        r.inpaint_full_res = gtk_combo_box_get_active(GTK_COMBO_BOX(widget("inpaint_area"))) == 1;
        r.inpaint_full_res_padding = static_cast<int>(num(widget("inpaint_padding")));
        r.inpaint_not_masked = gtk_combo_box_get_active(GTK_COMBO_BOX(widget("mask_mode"))) == 1;
        r.soft_inpainting = gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(widget("soft_inpainting")));
        for (const auto& f : soft_fields()) r.*f.member = num(widget(f.name));
    }
    return r;
}

std::string GenerateDialog::model() const { return combo_id(widget("model")); }

void GenerateDialog::set_request(const GenerateRequest& r) {
    // Fields without a widget (UniPC's options, ... from a pasted text) are kept with the request,
    // so Generate sends them too.
    cfg_.initial = r;
    set_buffer_text(widget("prompt"), r.prompt);
    set_buffer_text(widget("negative_prompt"), r.negative_prompt);
    set_combo(widget("sampler"), r.sampler);
    set_combo(widget("schedule"), r.schedule);
    set_num(widget("steps"), r.steps);
    set_num(widget("cfg_scale"), r.cfg_scale);
    set_num(widget("width"), r.width);
    set_num(widget("height"), r.height);
    set_num(widget("batch_count"), r.batch_count);
    set_num(widget("batch_size"), r.batch_size);
    gtk_entry_set_text(GTK_ENTRY(widget("seed")), std::to_string(r.seed).c_str());
    gtk_entry_set_text(GTK_ENTRY(widget("variation_seed")), std::to_string(r.subseed).c_str());
    set_num(widget("variation_strength"), r.subseed_strength);
    set_num(widget("resize_seed_w"), r.seed_resize_from_w);
    set_num(widget("resize_seed_h"), r.seed_resize_from_h);
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(widget("tiling")), r.tiling);
    set_num(widget("clip_skip"), r.clip_skip);
    set_combo(widget("rng"), r.rng);
    set_num(widget("ensd"), static_cast<double>(r.eta_noise_seed_delta));
    set_combo(widget("emphasis"), r.emphasis);
    set_combo(widget("noise_schedule"), r.noise_schedule);
    set_combo(widget("vae_encode_method"), r.vae_encode_method);
    set_combo(widget("vae_decode_method"), r.vae_decode_method);
    set_combo(widget("live_preview_method"), r.live_preview_method);
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(widget("vae_whole_image")), r.vae_whole_image);
    set_num(widget("ldsr_steps"), r.ldsr_steps);
    set_combo(widget("face_restoration"), r.face_restoration.empty() ? "None" : r.face_restoration);
    set_num(widget("codeformer_weight"), r.codeformer_weight);
    bool changed = r.rng != "GPU" || r.eta_noise_seed_delta != 0 || r.emphasis != "Original" || r.noise_schedule != "Default" ||
                   r.vae_encode_method != "Full" || r.vae_decode_method != "Full" || r.live_preview_method != "Approx cheap" ||
                   r.sgm_noise_multiplier || r.always_discard_next_to_last_sigma || r.old_prompt_editing_timelines ||
                   r.pad_cond_uncond || r.pad_cond_uncond_v0 || r.s_min_uncond_all ||
                   r.downcast_alphas_cumprod || r.enable_quantization || r.fp8_weight != "Disable" || r.cache_fp16_weight ||
                   r.vae_whole_image || r.ldsr_steps != 100 || !r.face_restoration.empty() || r.codeformer_weight != 0.5;
    const GenerateRequest defaults;
    for (const auto& f : sampler_fields()) {
        set_num(widget(f.name), r.*f.member);
        changed = changed || r.*f.member != defaults.*f.member;
    }
    for (const auto& f : hypertile_flags()) {
        gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(widget(f.name)), r.*f.member);
        changed = changed || r.*f.member;
    }
    for (const auto& f : hypertile_fields()) {
        set_num(widget(f.name), r.*f.member);
        changed = changed || r.*f.member != defaults.*f.member;
    }
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(widget("sgm_noise_multiplier")), r.sgm_noise_multiplier);
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(widget("discard_penultimate_sigma")), r.always_discard_next_to_last_sigma);
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(widget("old_prompt_editing")), r.old_prompt_editing_timelines);
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(widget("pad_conds")), r.pad_cond_uncond);
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(widget("ngms_all")), r.s_min_uncond_all);
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(widget("downcast_alphas")), r.downcast_alphas_cumprod);
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(widget("enable_quantization")), r.enable_quantization);
    set_combo(widget("fp8_weight"), r.fp8_weight);
    gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(widget("cache_fp16_weight")), r.cache_fp16_weight);
    // Settings a pasted text changed should be visible.
    gtk_expander_set_expanded(GTK_EXPANDER(widget("sampler_parameters")), changed);
    if (widget("denoising_strength")) set_num(widget("denoising_strength"), r.denoising_strength);
    if (widget("image_cfg_scale")) set_num(widget("image_cfg_scale"), r.image_cfg_scale);
    if (widget("noise_multiplier")) {
        set_num(widget("noise_multiplier"), r.noise_multiplier);
        set_num(widget("extra_noise"), r.extra_noise);
        gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(widget("color_correction")), r.img2img_color_correction);
        gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(widget("img2img_fix_steps")), r.img2img_fix_steps);
        if (widget("resize_init_image")) {
            gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(widget("resize_init_image")), r.resize_init_image);
            gtk_combo_box_set_active(GTK_COMBO_BOX(widget("resize_mode")), std::clamp(r.resize_mode, 0, 3));
            set_combo(widget("img2img_upscaler"), r.img2img_upscaler);
        }
        GdkRGBA c;
        if (gdk_rgba_parse(&c, r.img2img_background_color.c_str())) gtk_color_chooser_set_rgba(GTK_COLOR_CHOOSER(widget("background_color")), &c);
    }
    if (widget("enable_hr")) {
        gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(widget("enable_hr")), r.enable_hr);
        set_num(widget("hr_denoising_strength"), r.denoising_strength);
        set_combo(widget("hr_upscaler"), r.hr_upscaler);
        set_num(widget("hr_second_pass_steps"), r.hr_second_pass_steps);
        set_num(widget("hr_scale"), r.hr_scale);
        set_num(widget("hr_resize_x"), r.hr_resize_x);
        set_num(widget("hr_resize_y"), r.hr_resize_y);
        set_combo(widget("hr_sampler"), r.hr_sampler.empty() ? "Use same sampler" : r.hr_sampler);
        set_combo(widget("hr_schedule"), r.hr_schedule.empty() ? "Use same scheduler" : r.hr_schedule);
        set_combo(widget("hr_checkpoint"), r.hr_checkpoint.empty() ? "Use same checkpoint" : r.hr_checkpoint);
        set_buffer_text(widget("hr_prompt"), r.hr_prompt);
        set_buffer_text(widget("hr_negative_prompt"), r.hr_negative_prompt);
        gtk_expander_set_expanded(GTK_EXPANDER(widget("hires")), r.enable_hr);
        update_hires_size();
    }
    if (widget("refiner_checkpoint")) {
        set_combo(widget("refiner_checkpoint"), r.refiner_checkpoint.empty() ? "None" : r.refiner_checkpoint);
        set_num(widget("refiner_switch_at"), r.refiner_switch_at);
        gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(widget("refiner_switch_by_steps")), r.refiner_switch_by_steps);
        if (widget("hr_refiner_pass")) set_combo(widget("hr_refiner_pass"), r.hr_refiner_pass);
        gtk_expander_set_expanded(GTK_EXPANDER(widget("refiner")), !r.refiner_checkpoint.empty());
    }
    if (cfg_.mode == Mode::kInpaint) {
        set_num(widget("mask_blur"), r.mask_blur);
        gtk_combo_box_set_active(GTK_COMBO_BOX(widget("masked_content")), r.masked_content);
        gtk_combo_box_set_active(GTK_COMBO_BOX(widget("inpaint_area")), r.inpaint_full_res ? 1 : 0);
        set_num(widget("inpaint_padding"), r.inpaint_full_res_padding);
        gtk_combo_box_set_active(GTK_COMBO_BOX(widget("mask_mode")), r.inpaint_not_masked ? 1 : 0);
        gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(widget("soft_inpainting")), r.soft_inpainting);
        for (const auto& f : soft_fields()) set_num(widget(f.name), r.*f.member);
        gtk_expander_set_expanded(GTK_EXPANDER(widget("soft")), r.soft_inpainting);
    }
    // A variation, seed resize or tiling that is set should be visible.
    gtk_expander_set_expanded(GTK_EXPANDER(widget("extra")),
                              r.subseed_strength > 0 || r.seed_resize_from_w > 0 || r.tiling || r.clip_skip > 1 ||
                                  (widget("noise_multiplier") && (r.noise_multiplier != 1.0 || r.extra_noise > 0)));
    update_counters();
}

std::vector<std::string> GenerateDialog::paste_parameters(const std::string& infotext) {
    GenerateRequest r;
    try {
        r = request();
    } catch (const Error&) {
        r = cfg_.initial;
    }
    const auto ignored = apply_parameters(infotext, &r);
    set_request(r);
    std::string msg = "Parameters pasted.";
    if (!ignored.empty()) {
        msg += " Not used here:";
        for (size_t i = 0; i < ignored.size(); ++i) msg += (i ? ", " : " ") + ignored[i];
        msg += ".";
    }
    // "Model: <file name>" picks that checkpoint when the picker has it, as A1111 switches to it.
    for (const auto& [key, value] : text::parse_infotext(infotext)) {
        // "Hires checkpoint: name [hash]": that file of the picker for the second pass.
        if (key == "Hires checkpoint" && value && !r.hr_checkpoint.empty()) {
            const std::string path = checkpoint_named(cfg_.models, value->to_string());
            if (!path.empty()) set_combo(widget("hr_checkpoint"), path);
            continue;
        }
        // "Refiner: name [hash]": that file of the picker.
        if (key == "Refiner" && value && !r.refiner_checkpoint.empty()) {
            const std::string path = checkpoint_named(cfg_.models, value->to_string());
            if (!path.empty()) set_combo(widget("refiner_checkpoint"), path);
            continue;
        }
        if (key != "Model" || !value) continue;
        const std::string name = value->to_string(), path = checkpoint_named(cfg_.models, name);
        if (!path.empty()) {
            set_combo(widget("model"), path);
            msg += " Checkpoint: " + name + ".";
        } else if (checkpoint_named({model()}, name).empty()) {
            msg += " The checkpoint \"" + name + "\" is not among the model folders' files; the current one stays.";
        }
    }
    gtk_label_set_text(GTK_LABEL(w_->status), msg.c_str());
    return ignored;
}

void GenerateDialog::show_error(const std::string& msg) {
    gtk_label_set_markup(GTK_LABEL(w_->status), ("<span foreground=\"#c01c28\">" + std::string(g_markup_escape_text(msg.c_str(), -1)) + "</span>").c_str());
}

std::string GenerateDialog::status_text() const { return gtk_label_get_text(GTK_LABEL(w_->status)); }

void GenerateDialog::set_busy(bool busy) {
    gtk_widget_set_sensitive(w_->generate, !busy);
    gtk_widget_set_sensitive(w_->cancel, busy);
    if (GtkWidget* b = widget("interrogate_deepbooru")) gtk_widget_set_sensitive(b, !busy);
}

void GenerateDialog::generate() {
    if (busy()) return;
    GenerateRequest r;
    try {
        r = request();
        validate(r);
    } catch (const Error& e) {
        show_error(e.what());
        return;
    }
    const std::string m = model();
    if (hooks_.save) hooks_.save(r, m);
    std::string error;
    std::optional<wire::Message> req = hooks_.make_request(r, m, &error);
    if (!req) {
        show_error(error);
        return;
    }
    (*req).header["preview_every"] = 2;
    progress_done_ = 0;
    progress_total_ = 0;
    gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(w_->progress), 0.0);
    gtk_progress_bar_set_text(GTK_PROGRESS_BAR(w_->progress), "Starting…");
    gtk_label_set_text(GTK_LABEL(w_->status), "");
    set_busy(true);
    job_ = std::make_unique<EngineJob>(
        hooks_.call, *req, [this](const wire::Message& ev) { on_event(ev); },
        [this, r, m](const Status& st, const wire::Message& res) { on_done(st, res, r, m); });
}

void GenerateDialog::interrogate_deepbooru() {
    if (busy() || !hooks_.source_image) return;
    std::string error;
    const std::optional<Image> picture = hooks_.source_image(&error);
    if (!picture) {
        show_error(error);
        return;
    }
    wire::Message req;
    req.header = {{"op", "interrogate-deepbooru"}, {"model_dirs", cfg_.deepbooru_dirs}};
    wire::put_deepbooru_options(&req.header, cfg_.deepbooru_options);
    req.header["image"] = wire::attach_image(&req, *picture);
    gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(w_->progress), 0.0);
    gtk_progress_bar_set_text(GTK_PROGRESS_BAR(w_->progress), "Interrogating…");
    gtk_label_set_text(GTK_LABEL(w_->status), "");
    set_busy(true);
    job_ = std::make_unique<EngineJob>(hooks_.call, std::move(req), [](const wire::Message&) {}, [this](const Status& st, const wire::Message& res) {
        set_busy(false);
        if (!st.ok) {
            gtk_progress_bar_set_text(GTK_PROGRESS_BAR(w_->progress), st.code == ErrorCode::kCancelled ? "Cancelled" : "Failed");
            if (st.code != ErrorCode::kCancelled) show_error(st.message);
            return;
        }
        const std::string tags = res.header.value("tags", std::string());
        gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(w_->progress), 1.0);
        gtk_progress_bar_set_text(GTK_PROGRESS_BAR(w_->progress), "Done");
        gtk_text_buffer_set_text(gtk_text_view_get_buffer(GTK_TEXT_VIEW(w_->by_name["prompt"])), tags.c_str(), -1);
        gtk_label_set_text(GTK_LABEL(w_->status), tags.empty() ? "DeepBooru found no tag above its score threshold; the prompt is now empty."
                                                              : "The prompt is now the layer's DeepBooru tags.");
    });
}

void GenerateDialog::cancel() {
    if (!busy()) return;
    job_->cancel();
    gtk_progress_bar_set_text(GTK_PROGRESS_BAR(w_->progress), "Cancelling…");
}

void GenerateDialog::on_event(const wire::Message& ev) {
    const std::string kind = ev.header.value("event", "");
    if (kind == "progress") {
        progress_done_ = ev.header.value("done", 0);
        progress_total_ = ev.header.value("total", 1);
        gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(w_->progress),
                                      progress_total_ ? static_cast<double>(progress_done_) / progress_total_ : 0.0);
        gtk_progress_bar_set_text(GTK_PROGRESS_BAR(w_->progress),
                                  ("Step " + std::to_string(progress_done_) + "/" + std::to_string(progress_total_)).c_str());
    } else if (kind == "preview") {
        try {
            const Image img = wire::image_from(ev.header["image"], ev);
            if (img.channels != 3) return;
            auto* copy = new std::vector<uint8_t>(img.pixels);
            GdkPixbuf* pb = gdk_pixbuf_new_from_data(copy->data(), GDK_COLORSPACE_RGB, FALSE, 8, img.width, img.height,
                                                     img.width * 3, [](guchar*, gpointer p) { delete static_cast<std::vector<uint8_t>*>(p); }, copy);
            const double scale = 256.0 / std::max(img.width, img.height);
            GdkPixbuf* big = gdk_pixbuf_scale_simple(pb, std::max(1, static_cast<int>(img.width * scale)),
                                                     std::max(1, static_cast<int>(img.height * scale)), GDK_INTERP_BILINEAR);
            gtk_image_set_from_pixbuf(GTK_IMAGE(w_->preview), big);
            g_object_unref(big);
            g_object_unref(pb);
            ++previews_;
        } catch (const Error&) {
        }
    }
}

void GenerateDialog::on_done(const Status& st, const wire::Message& result, const GenerateRequest& r, const std::string& m) {
    set_busy(false);
    if (!st.ok) {
        gtk_progress_bar_set_text(GTK_PROGRESS_BAR(w_->progress), st.code == ErrorCode::kCancelled ? "Cancelled" : "Failed");
        if (st.code == ErrorCode::kCancelled) gtk_label_set_text(GTK_LABEL(w_->status), "Cancelled; the image is unchanged.");
        else show_error(st.message);
        return;
    }
    const auto& images = result.header["images"];
    if (!images.empty()) last_seed_ = images[0].value("seed", int64_t{-1});
    gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(w_->progress), 1.0);
    gtk_progress_bar_set_text(GTK_PROGRESS_BAR(w_->progress), "Done");
    const std::string info = result.header.value("kind", "") + ", hash " + result.header.value("hash", "");
    gtk_label_set_text(GTK_LABEL(w_->model_info), info.c_str());
    if (hooks_.on_result) hooks_.on_result(result, r, m);
    ++results_;
    gtk_label_set_text(GTK_LABEL(w_->status), (std::to_string(images.size()) + (images.size() == 1 ? " image" : " images") +
                                               " added as layers; seed " + std::to_string(last_seed_) + ".").c_str());
}

void GenerateDialog::run_modal() {
    running_loop_ = true;
    gtk_window_present(GTK_WINDOW(window_));
    gtk_main();
    running_loop_ = false;
}

bool save_window_png(GtkWidget* window, const std::string& path) {
    const int w = gtk_widget_get_allocated_width(window), h = gtk_widget_get_allocated_height(window);
    if (w < 2 || h < 2) return false;
    cairo_surface_t* s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    cairo_t* cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    gtk_widget_draw(window, cr);
    cairo_destroy(cr);
    const bool ok = cairo_surface_write_to_png(s, path.c_str()) == CAIRO_STATUS_SUCCESS;
    cairo_surface_destroy(s);
    return ok;
}

}  // namespace sdgimp::dialogs
