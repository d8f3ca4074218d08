// A1111's Checkpoint Merger tab (modules/extras.py run_modelmerger, 1.10): two or three
// checkpoints combined key by key ("Weighted sum" (1 - M) A + M B, "Add difference" A + M (B - C),
// or "No interpolation"), inpainting / InstructPix2Pix first layers merged on their shared
// channels, optionally saved in float16, a VAE baked in and keys discarded by a regular
// expression; written as .safetensors with A1111's merge recipe in its metadata, or as a torch.save
// .ckpt.
#pragma once

#include <functional>
#include <string>

namespace sdgimp {

struct MergeSettings {
    std::string primary, secondary, tertiary;  // checkpoint files (A, B, C)
    std::string method = "Weighted sum";       // "Weighted sum", "Add difference", "No interpolation"
    double multiplier = 0.3;                   // M
    bool save_as_half = false;
    std::string custom_name;                   // "" = A1111's name from the models and M
    std::string bake_in_vae;                   // "" or "None", else a VAE file
    std::string discard_weights;               // a regular expression; matching keys are left out
    std::string output_dir;                    // "" = the primary checkpoint's folder
    // A1111's "Copy config from": 0 "A, B or C" (the first model used with a .yaml beside it), 1 "B",
    // 2 "C", 3 "Don't"; the config is copied beside the result under its name.
    int config_source = 0;
    bool save_metadata = true;                 // format, sd_merge_recipe and sd_merge_models (safetensors only)
    std::string checkpoint_format = "safetensors";  // A1111's "Checkpoint format": "safetensors" or "ckpt"
};

struct MergeResult {
    std::string path;
    std::string config;  // the .yaml copied beside it, or ""
    bool inpainting = false, instruct_pix2pix = false;
    int merged = 0;   // keys combined from more than one file
    int written = 0;  // keys in the new file
};

// "A, B or C", "B", "C", "Don't" as config_source (throws sdgimp::Error for another name).
int parse_config_source(const std::string& name);

// Throws sdgimp::Error with one sentence for a missing model, unknown method, bad multiplier or
// regular expression, or an existing output file.
void validate_merge(const MergeSettings& s);

// A1111's file name without folder: "0.7(a) + 0.3(b)", "a + 0.3(b - c)" or "a" (or the custom
// name), then ".inpainting" / ".instruct-pix2pix" when the result is one, then ".safetensors" or
// ".ckpt".
std::string merged_file_name(const MergeSettings& s, bool inpainting, bool instruct_pix2pix);

// Runs the merge and writes the file. progress(done, total) counts keys; cancelled() is polled
// between keys (a cancelled merge writes nothing).
MergeResult merge_checkpoints(const MergeSettings& s, const std::function<void(int, int)>& progress = {},
                              const std::function<bool()>& cancelled = {});

}  // namespace sdgimp
