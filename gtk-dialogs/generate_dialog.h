// The A1111 controls as one GTK 3 dialog per menu entry (Text to Image, Image to Image, Inpaint):
// prompt boxes with the "N/75" token counter, sampler / schedule lists, sizes, batches, seeds with
// random and reuse buttons, the Extra (variation) expander, the mode's own fields, a model picker,
// Paste parameters, and a non-blocking Generate with progress, live preview and Cancel.
#pragma once

#include <gtk/gtk.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine_job.h"
#include "text/deepbooru_tags.h"
#include "text/prompt_chunks.h"
#include "text/prompt_styles.h"
#include "request.h"

namespace sdgimp::text {
class ClipTokenizer;
}

namespace sdgimp::dialogs {

enum class Mode { kTxt2Img, kImg2Img, kInpaint };

struct DialogConfig {
    Mode mode = Mode::kTxt2Img;
    GenerateRequest initial;
    std::string model;                      // the current checkpoint
    std::vector<std::string> models;        // files offered in the picker (model folders + recent)
    std::vector<std::string> loras;         // LoRA names the engine finds (model folders' Lora/), for "Add to prompt"
    std::vector<std::string> hypernetworks; // hypernetwork names it finds (model folders' hypernetworks/), likewise
    std::vector<text::PromptStyle> styles;  // A1111's styles.csv rows, for "Apply to prompts"
    // Textual-inversion embeddings (name, vectors): the counters count a name as its vectors, as A1111's do.
    std::vector<std::pair<std::string, int>> embeddings;
    std::vector<std::string> upscalers;  // upscaler files of the model folders by A1111's names (Hires. fix menu)
    std::string vocab;                      // CLIP vocabulary for the token counter ("" = look next to the model)
    std::string layer_parameters;           // the active layer's stored A1111 text, for "From layer"
    std::vector<std::string> deepbooru_dirs;  // folders searched first for DeepDanbooru's tagger
    text::DeepBooruOptions deepbooru_options;  // A1111's "deepbooru:" settings for the button
    unsigned long transient_for_xid = 0;    // GIMP's image window, when known
    int default_size = 512;
};

struct DialogHooks {
    // Builds the engine request on the main thread (reads the image for img2img / inpaint).
    // Returns nullopt and sets *error for a one-sentence problem.
    std::function<std::optional<wire::Message>(const GenerateRequest&, const std::string& model, std::string* error)> make_request;
    EngineCall call;
    // A finished run (main thread): the plug-in turns it into layers.
    std::function<void(const wire::Message& result, const GenerateRequest& request, const std::string& model)> on_result;
    // A one-line description of a checkpoint and its default image size (model picker); may be empty.
    std::function<std::string(const std::string& model, int* default_size)> describe_model;
    // Values to remember (every Generate and on close).
    std::function<void(const GenerateRequest&, const std::string& model)> save;
    // The picture Image to Image / Inpaint start from (the active layer or its selected part), for
    // "Interrogate DeepBooru"; nullopt and *error for a one-sentence problem. Unset: no such button.
    std::function<std::optional<Image>(std::string* error)> source_image;
};

class GenerateDialog {
public:
    GenerateDialog(DialogConfig cfg, DialogHooks hooks);
    ~GenerateDialog();

    GtkWidget* window() const { return window_; }

    // The request the fields describe now (what Generate sends).
    GenerateRequest request() const;
    std::string model() const;
    std::string model_info() const;
    // Puts a request into the fields.
    void set_request(const GenerateRequest& r);
    // "Paste parameters": fills every field the text carries; returns the ignored keys.
    std::vector<std::string> paste_parameters(const std::string& infotext);

    void generate();  // as the Generate button
    // A "LoRA" / "Hypernetwork" row (combo W[tag], button W["add_" + tag]) when there are names.
    void build_network_row(GtkWidget* box, const char* label, const std::vector<std::string>& names, const std::string& tag);
    void add_network(const std::string& tag);  // as "Add to prompt": the chosen network appended as <tag:name:1>
    void apply_style();  // A1111's "Apply selected styles to current prompt": the chosen style merged into the prompts
    void cancel();    // as the Cancel button
    // As the "Interrogate DeepBooru" button (Image to Image, Inpaint): the source picture's
    // DeepDanbooru tags replace the prompt, as A1111's button does.
    void interrogate_deepbooru();
    bool busy() const { return job_ && job_->running(); }

    // For tests and the plug-in's log.
    std::string status_text() const;
    std::string token_counter(bool negative) const;
    int progress_done() const { return progress_done_; }
    int progress_total() const { return progress_total_; }
    int previews_shown() const { return previews_; }
    int results() const { return results_; }
    int64_t last_seed() const { return last_seed_; }
    std::string hires_size_text() const;  // "512x512 → 1024x1024" while Hires. fix is on

    // Widgets by A1111 field name ("prompt", "steps", "sampler", ...), for tests.
    GtkWidget* widget(const std::string& name) const;

    // Runs until the window closes (the plug-in's interactive mode).
    void run_modal();

private:
    struct Widgets;
    void build();
    void build_hires(GtkWidget* box);
    void build_refiner(GtkWidget* box);
    void build_soft_inpaint(GtkWidget* box);
    void build_sampler_parameters(GtkWidget* box);
    void update_hires_size();
    void update_counters();
    void model_changed();
    void on_event(const wire::Message& ev);
    void on_done(const Status& st, const wire::Message& result, const GenerateRequest& r, const std::string& model);
    void set_busy(bool busy);
    void show_error(const std::string& msg);

    DialogConfig cfg_;
    DialogHooks hooks_;
    GtkWidget* window_ = nullptr;
    std::unique_ptr<Widgets> w_;
    std::unique_ptr<EngineJob> job_;
    std::unique_ptr<text::ClipTokenizer> tok_;
    std::vector<text::EmbeddingWord> embedding_words_;
    int progress_done_ = 0, progress_total_ = 0, previews_ = 0, results_ = 0;
    int64_t last_seed_ = -1;
    bool running_loop_ = false;
};

// Tries GTK (X11 only, so the dialog can be made transient for GIMP's window); false without a display.
bool init_gtk();

// Renders a window's current contents to a PNG (test artefacts and the README screenshot).
bool save_window_png(GtkWidget* window, const std::string& path);

}  // namespace sdgimp::dialogs
