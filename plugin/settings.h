// What the plug-in remembers between runs and GIMP restarts (last request, last model), and where
// it finds the engine program and the user's checkpoints.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "request.h"
#include "text/deepbooru_tags.h"
#include "text/prompt_styles.h"

namespace sdgimp::plugin {

struct Settings {
    GenerateRequest last;       // the last request of any procedure (paste-parameters fills it too)
    std::string model;          // the last checkpoint used or loaded
    std::string vocab;          // the CLIP vocabulary, when not next to the model
    std::string precision = "float32";  // or "bfloat16" (faster on CPUs with avx512_bf16), "float16" (CUDA)
    std::string device = "cpu";         // or "cuda" with an engine built against a CUDA LibTorch
    std::string vae;  // A1111's "SD VAE": "" (Automatic), "None" or a VAE file (engine.h, ModelRequest::vae)
    // The tool dialogs' own fields (upscaler, scale, X/Y values, ...) by procedure and field name.
    std::map<std::string, std::map<std::string, std::string>> tools;
};

// The "model" object of an engine request: the checkpoint and how to run it.
nlohmann::json model_header(const Settings& s, const std::string& model_path, const std::string& prediction = "");

std::string settings_path();  // <GIMP profile>/gimp-diffusion.json
Settings load_settings();
void save_settings(const Settings& s);

// Folders searched for checkpoints: <GIMP profile>/diffusion-models, ~/.local/share/gimp-diffusion/models.
std::vector<std::string> model_folders();

// Checkpoints to offer: the last one used, then every .safetensors / .ckpt in the model folders.
std::vector<std::string> model_choices(const Settings& s);

// A1111's VAE choices: "Automatic", "None", the chosen file, then the model folders' VAE files
// (*.vae.safetensors / .vae.ckpt / .vae.pt, and every file of a VAE/ subfolder).
std::vector<std::string> vae_choices(const Settings& s);

// The LoRA names <lora:name:...> finds in the model folders' Lora/ subfolders (and theirs), sorted.
std::vector<std::string> lora_names();
// The hypernetwork names <hypernet:name:...> finds in the model folders' hypernetworks/, sorted.
std::vector<std::string> hypernetwork_names();
// A1111's prompt styles: styles.csv of the web UI the checkpoint sits in (models/Stable-diffusion/
// ../../), of the model folders and their parents, and the files in $GIMP_DIFFUSION_STYLES
// (':'-separated), a later file's style replacing one of the same name. A file that cannot be read
// adds its one-sentence error to *problems and is left out.
std::vector<text::PromptStyle> prompt_styles(const std::string& model, std::vector<std::string>* problems);
// Textual-inversion embeddings (name, vectors) the engine would find for this checkpoint, for the
// dialogs' token counters.
std::vector<std::pair<std::string, int>> embedding_counts(const std::string& model);
// Upscaler files (ESRGAN/, RealESRGAN/ of the model folders and the engine's other places) by
// A1111's names, for the dialogs' upscaler menus.
std::vector<std::string> upscaler_names(const Settings& s);
// Where Restore Faces looks for GFPGAN's files first: GFPGAN/ and Codeformer/ of the model folders
// and beside the chosen checkpoint's folder (A1111's models/GFPGAN); the engine adds its defaults.
std::vector<std::string> face_model_dirs(const Settings& s);
// A1111's "deepbooru:" settings as the Interrogate DeepBooru dialog last set them (A1111's defaults
// before that); the dialogs' button and Loopback use them too, as A1111's settings are global.
text::DeepBooruOptions deepbooru_options(const Settings& s);
// DeepDanbooru folders of the model folders and beside the checkpoint's folder (A1111's models/DeepDanbooru).
std::vector<std::string> deepbooru_model_dirs(const Settings& s);

// The checkpoint to use: the explicit one, else the last one, else $GIMP_DIFFUSION_MODEL, else the
// first checkpoint in the model folders. Throws sdgimp::Error saying where to put one.
std::string resolve_model(const std::string& explicit_path, const Settings& s);

// The engine program: $GIMP_DIFFUSION_CLI, else gimp-diffusion-cli next to the plug-in, else on PATH.
std::string engine_program();

}  // namespace sdgimp::plugin
