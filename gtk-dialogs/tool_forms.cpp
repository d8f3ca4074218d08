#include "tool_forms.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <glib.h>
#include <unistd.h>

#include "model_summary.h"
#include "request.h"
#include "status.h"
#include "text/infotext.h"
#include "prompts_from_file.h"
#include "xy_plot.h"

namespace sdgimp::dialogs {
namespace {

using Kind = FormField::Kind;

// One dialog field bound to a PDB argument.
struct Bound {
    int index;
    FormField field;
};

FormField field(const std::string& key, const std::string& label, Kind kind) {
    FormField f;
    f.key = key;
    f.label = label;
    f.kind = kind;
    return f;
}

FormField spin_field(const std::string& key, const std::string& label, double lo, double hi, double step, int digits) {
    FormField f = field(key, label, Kind::kSpin);
    f.min = lo;
    f.max = hi;
    f.step = step;
    f.digits = digits;
    return f;
}

FormField combo_field(const std::string& key, const std::string& label, std::vector<std::string> options, bool entry = false) {
    FormField f = field(key, label, entry ? Kind::kComboEntry : Kind::kCombo);
    f.options = std::move(options);
    return f;
}

std::vector<std::string> upscaler_choices(bool with_none, const std::vector<std::string>& files) {
    std::vector<std::string> v = {"ESRGAN thick", "ESRGAN medium", "ESRGAN slim", "Lanczos", "Nearest"};
    if (with_none) v.push_back("None");
    v.insert(v.end(), files.begin(), files.end());
    return v;
}

// A1111's scripts run from its txt2img or img2img tab: the source and the img2img strength, bound
// to the PDB arguments at `index` and index + 1.
void add_source_fields(std::vector<Bound>* fields, int index) {
    FormField source = combo_field("source", "Run as", {"txt2img", "img2img"});
    source.tooltip = "txt2img: new images; img2img: the active layer (or its selected part) redrawn from each prompt";
    fields->push_back({index, source});
    FormField strength = spin_field("denoising_strength", "Denoising strength (img2img)", 0, 1, 0.01, 2);
    strength.tooltip = "How much of the layer may change: 0.1-0.4 keeps the picture";
    fields->push_back({index + 1, strength});
}

FormField model_field(const ToolContext& ctx) {
    FormField f = field("model", "Checkpoint", Kind::kFile);
    f.options = ctx.models;
    f.file_patterns = {"*.safetensors", "*.ckpt"};
    f.tooltip = "Empty: the last checkpoint used";
    return f;
}

// The generation fields shared by SD Upscale and X/Y Plot (PDB indices 3..9).
std::vector<Bound> generation_fields() {
    return {{3, field("prompt", "Prompt", Kind::kText)},
            {4, field("negative_prompt", "Negative prompt", Kind::kText)},
            {5, spin_field("steps", "Sampling steps", 1, 150, 1, 0)},
            {6, combo_field("sampler", "Sampling method", sampler_names())},
            {7, combo_field("schedule", "Schedule type", schedule_names())},
            {8, spin_field("cfg_scale", "CFG Scale", 1, 30, 0.5, 1)},
            {9, field("seed", "Seed (-1 = random)", Kind::kEntry)}};
}

// The plots' generation fields, cell size (arguments 10, 11) and each axis's type and values
// (from argument 12 on, two per axis).
std::vector<Bound> plot_fields(const std::vector<std::string>& axes) {
    std::vector<Bound> fields = generation_fields();
    fields.push_back({10, spin_field("width", "Width", 64, 2048, 8, 0)});
    fields.push_back({11, spin_field("height", "Height", 64, 2048, 8, 0)});
    int index = 12;
    for (const auto& a : axes) {
        std::string upper = a;
        for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        fields.push_back({index++, combo_field(a + "_type", upper + " type", xy_fields())});
        fields.push_back({index++, field(a + "_values", upper + " values", Kind::kEntry)});
    }
    return fields;
}

std::string describe_checkpoint(const std::string& path) {
    if (path.empty()) return "The last checkpoint used.";
    try {
        const ModelSummary m = summarize_model(path);
        return m.kind + ", hash " + m.old_hash + ", images " + std::to_string(m.default_size) + " px by default";
    } catch (const Error& e) {
        return e.what();
    }
}

FormField ldsr_steps_field() {
    FormField steps = spin_field("ldsr_steps", "LDSR steps", 0, 200, 1, 0);
    steps.tooltip = "A1111's \"LDSR processing steps\": DDIM steps of the LDSR upscaler (fewer is faster); 0 is its default, 100";
    return steps;
}

std::string check_seed(const std::string& t) {
    char* end = nullptr;
    const long long v = std::strtoll(t.c_str(), &end, 10);
    if (t.empty() || *end != '\0' || v < -1) return "Seed must be -1 (random) or a whole number, not \"" + t + "\".";
    return "";
}

}  // namespace

std::optional<ToolForm> tool_form(const std::string& proc, const ToolContext& ctx) {
    FormConfig cfg;
    std::vector<Bound> fields;
    if (proc == "plug-in-diffusion-upscale") {
        cfg.title = "Upscale";
        cfg.intro = "Upscale the active layer. ESRGAN thick is a learned upscaler that works out of the box; an ESRGAN "
                    "or Real-ESRGAN .pth file runs as in A1111.";
        FormField up = combo_field("upscaler", "Upscaler", upscaler_choices(false, ctx.upscalers), true);
        up.tooltip = "A name from the list or the path of an ESRGAN .pth / .safetensors file";
        fields = {{3, up}, {4, spin_field("scale", "Scale factor", 1, 8, 0.5, 2)}, {5, field("new_image", "Open as a new image", Kind::kCheck)},
                  {6, ldsr_steps_field()}};
        cfg.ok_label = "_Upscale";
    } else if (proc == "plug-in-diffusion-extras-upscale") {
        cfg.title = "Extras Upscale";
        cfg.intro = "Upscale the active layer as A1111's Extras tab does, into a new image: Upscaler 2 blended in at its "
                    "visibility, sizes rounded down to multiples of 8 as A1111 makes them, then GFPGAN and CodeFormer face "
                    "restoration at theirs (0 = off).";
        FormField up1 = combo_field("upscaler_1", "Upscaler 1", upscaler_choices(false, ctx.upscalers), true);
        up1.tooltip = "A name from the list, an A1111 upscaler name or the path of an ESRGAN .pth / .safetensors file";
        FormField up2 = combo_field("upscaler_2", "Upscaler 2", upscaler_choices(true, ctx.upscalers), true);
        FormField max_side = spin_field("max_side_length", "Max side length", 0, 16384, 8, 0);
        max_side.tooltip = "Scale by: if a side ends up longer, the image is made to fit (0 = no limit)";
        fields = {{3, up1},
                  {4, up2},
                  {5, spin_field("upscaler_2_visibility", "Upscaler 2 visibility", 0, 1, 0.05, 3)},
                  {6, combo_field("resize_mode", "Resize", {"Scale by", "Scale to"})},
                  {7, spin_field("scale", "Scale by", 1, 8, 0.05, 2)},
                  {8, max_side},
                  {9, spin_field("width", "Scale to width", 64, 8192, 8, 0)},
                  {10, spin_field("height", "Scale to height", 64, 8192, 8, 0)},
                  {11, field("crop", "Crop to fit", Kind::kCheck)},
                  {12, ldsr_steps_field()},
                  {13, spin_field("gfpgan_visibility", "GFPGAN visibility", 0, 1, 0.05, 3)},
                  {14, spin_field("codeformer_visibility", "CodeFormer visibility", 0, 1, 0.05, 3)},
                  {15, spin_field("codeformer_weight", "CodeFormer weight", 0, 1, 0.05, 3)}};
        cfg.ok_label = "_Upscale";
    } else if (proc == "plug-in-diffusion-remove-object") {
        cfg.title = "Remove Object";
        const std::string lama = ctx.lama_path;
        const bool have_lama = ::access(lama.c_str(), R_OK) == 0;
        cfg.intro = "Remove what the selection covers, filled from its surroundings, as a new layer masked by the selection.";
        fields = {{3, combo_field("method", "Method", {"Auto", "PatchMatch", "LaMa"})}};
        cfg.describe = [lama, have_lama](const FormValues& v) {
            const std::string m = v.at("method");
            if (m == "PatchMatch") return std::string("PatchMatch: classical exemplar fill, no model needed.");
            if (have_lama) return "LaMa: " + lama;
            return m == "Auto" ? "Auto uses PatchMatch: no LaMa model at " + lama + "."
                               : "LaMa needs big-lama.pt at " + lama + " (or $GIMP_DIFFUSION_LAMA).";
        };
        cfg.validate = [have_lama, lama](const FormValues& v) -> std::string {
            if (v.at("method") == "LaMa" && !have_lama) return "LaMa needs big-lama.pt at " + lama + "; put it there or choose PatchMatch.";
            return "";
        };
        cfg.ok_label = "_Remove";
    } else if (proc == "plug-in-diffusion-restore-faces") {
        cfg.title = "Restore Faces";
        cfg.intro = "Restore the faces of the active layer as A1111's face restoration does, into a new layer above it. "
                    "CodeFormer needs codeformer-v0.1.0.pth, GFPGAN needs GFPGANv1.4.pth, and both facexlib's "
                    "detection_Resnet50_Final.pth and parsing_parsenet.pth, in a GFPGAN or Codeformer folder "
                    "(A1111's models/, or ~/.local/share/gimp-diffusion/models/GFPGAN).";
        FormField vis = spin_field("visibility", "Visibility", 0, 1, 0.05, 3);
        vis.tooltip = "How much of the restoration shows over the layer (A1111's Extras slider)";
        FormField weight = spin_field("codeformer_weight", "CodeFormer weight", 0, 1, 0.05, 3);
        weight.tooltip = "0: CodeFormer's own face from its codebook; 1: as much of the layer's face as it keeps (A1111's default 0.5)";
        fields = {{3, combo_field("restorer", "Face restorer", {"CodeFormer", "GFPGAN"})}, {4, vis}, {5, weight}};
        cfg.validate = [](const FormValues& v) -> std::string {
            return std::atof(v.at("visibility").c_str()) > 0 ? "" : "Set the visibility above 0; at 0 nothing would change.";
        };
        cfg.ok_label = "_Restore";
    } else if (proc == "plug-in-diffusion-paste-parameters") {
        cfg.title = "Paste Parameters";
        cfg.intro = "The next run takes every field an A1111 parameters text carries, as A1111's PNG Info and its paste button do. "
                    "Shown: the active layer's text, or that of the PNG, JPEG or WebP the image was opened from; paste another here.";
        FormField text = field("parameters", "Parameters", Kind::kText);
        text.remembered = false;  // always the active layer's or file's, never the last one
        fields = {{3, text}};
        cfg.describe = [](const FormValues& v) -> std::string {
            const std::string& t = v.at("parameters");
            if (t.find_first_not_of(" \t\r\n") == std::string::npos) return "No text yet.";
            // The text's settings line, as A1111 names it; a text without one pastes a prompt only.
            if (t.find("Steps: ") == std::string::npos) return "No settings line (\"Steps: ...\"): only the prompts would be pasted.";
            std::string steps, sampler, seed, width, height;
            for (const auto& [key, value] : text::parse_infotext(t)) {
                if (!value) continue;
                if (key == "Steps") steps = value->to_string();
                if (key == "Sampler") sampler = value->to_string();
                if (key == "Seed") seed = value->to_string();
                if (key == "Size-1") width = value->to_string();
                if (key == "Size-2") height = value->to_string();
            }
            std::string out = "Steps " + steps + (sampler.empty() ? "" : ", " + sampler) + (seed.empty() ? "" : ", seed " + seed) +
                              (width.empty() ? "" : ", " + width + "x" + height);
            return out + ".";
        };
        cfg.validate = [](const FormValues& v) -> std::string {
            return v.at("parameters").find_first_not_of(" \t\r\n") == std::string::npos
                       ? "Paste an A1111 parameters text, or select a layer or open an image that carries one."
                       : "";
        };
        cfg.ok_label = "_Paste";
    } else if (proc == "plug-in-diffusion-export-png") {
        cfg.title = "Export Layer as A1111 PNG";
        cfg.intro = "Write the active layer as A1111 saves its images: a PNG carrying the layer's parameters text in its \"parameters\" "
                    "chunk, which A1111's PNG Info, image sites and Paste Parameters read.";
        FormField file = field("filename", "File", Kind::kFile);
        file.file_patterns = {"*.png"};
        file.save = true;
        fields = {{3, file}};
        cfg.validate = [](const FormValues& v) -> std::string {
            const std::string& f = v.at("filename");
            if (f.size() < 5 || g_ascii_strcasecmp(f.c_str() + f.size() - 4, ".png") != 0) return "Give a file name ending in .png.";
            return "";
        };
        cfg.ok_label = "_Export";
    } else if (proc == "plug-in-diffusion-interrogate-deepbooru") {
        cfg.title = "Interrogate DeepBooru";
        cfg.intro = "Tag the active layer (or its selected part) with DeepDanbooru as A1111's Interrogate DeepBooru does; the tags become "
                    "the prompt of the next run. Needs model-resnet_custom_v3.pt in a DeepDanbooru folder (A1111's models/, or "
                    "~/.local/share/gimp-diffusion/models/DeepDanbooru). These settings (A1111's \"deepbooru:\" ones) also serve the "
                    "dialogs' button and Loopback.";
        FormField threshold = spin_field("threshold", "Score threshold", 0, 1, 0.01, 2);
        threshold.tooltip = "Tags scoring below it are left out (A1111's default 0.5)";
        FormField filter = field("filter_tags", "Filter out these tags", Kind::kEntry);
        filter.tooltip = "Separated by commas; spaces or underscores alike";
        fields = {{3, threshold}, {4, field("sort_alpha", "Sort tags alphabetically (else by score)", Kind::kCheck)},
                  {5, field("use_spaces", "Use spaces in tags", Kind::kCheck)},
                  {6, field("escape", "Escape (\\) brackets", Kind::kCheck)},
                  {7, field("include_ranks", "Include ranks: (tag:score)", Kind::kCheck)}, {8, filter}};
        cfg.ok_label = "_Interrogate";
    } else if (proc == "plug-in-diffusion-sd-upscale") {
        cfg.title = "SD Upscale";
        cfg.intro = "Upscale, then re-detail the image tile by tile with img2img (A1111's SD upscale script).";
        fields = generation_fields();
        fields.push_back({10, spin_field("denoising_strength", "Denoising strength", 0, 1, 0.01, 2)});
        fields.push_back({11, combo_field("upscaler", "Upscaler", upscaler_choices(true, ctx.upscalers), true)});
        fields.push_back({12, spin_field("scale", "Scale factor", 1, 4, 0.5, 2)});
        fields.push_back({13, spin_field("tile", "Tile size", 64, 2048, 8, 0)});
        fields.push_back({14, spin_field("overlap", "Tile overlap", 0, 256, 8, 0)});
        fields.push_back({15, model_field(ctx)});
        cfg.describe = [](const FormValues& v) { return describe_checkpoint(v.at("model")); };
        cfg.validate = [](const FormValues& v) { return check_seed(v.at("seed")); };
        cfg.ok_label = "_Upscale";
    } else if (proc == "plug-in-diffusion-outpaint") {
        cfg.title = "Poor Man's Outpainting";
        cfg.intro = "Extend the active layer on the chosen sides and paint the new border tile by tile, as A1111's Poor man's "
                    "outpainting script, into a new image. Many steps and a high denoising strength work best.";
        fields = generation_fields();
        fields.push_back({10, spin_field("denoising_strength", "Denoising strength", 0, 1, 0.01, 2)});
        FormField pixels = spin_field("pixels", "Pixels to expand", 8, 256, 8, 0);
        pixels.tooltip = "The canvas grows by this on each chosen side, rounded up to multiples of 64";
        fields.push_back({11, pixels});
        FormField blur = spin_field("outpaint_mask_blur", "Mask blur", 0, 64, 1, 0);
        blur.tooltip = "The border's mask is blurred by twice this";
        fields.push_back({12, blur});
        fields.push_back({13, combo_field("masked_content", "Masked content", {"fill", "original", "latent noise", "latent nothing"})});
        fields.push_back({14, field("left", "Left", Kind::kCheck)});
        fields.push_back({15, field("right", "Right", Kind::kCheck)});
        fields.push_back({16, field("up", "Up", Kind::kCheck)});
        fields.push_back({17, field("down", "Down", Kind::kCheck)});
        fields.push_back({18, spin_field("width", "Tile width", 64, 2048, 8, 0)});
        fields.push_back({19, spin_field("height", "Tile height", 64, 2048, 8, 0)});
        fields.push_back({20, model_field(ctx)});
        cfg.describe = [](const FormValues& v) { return describe_checkpoint(v.at("model")); };
        cfg.validate = [](const FormValues& v) -> std::string {
            if (v.at("left") != "1" && v.at("right") != "1" && v.at("up") != "1" && v.at("down") != "1")
                return "Choose at least one outpainting direction: left, right, up or down.";
            const int pixels = std::atoi(v.at("pixels").c_str());
            if (pixels >= std::atoi(v.at("width").c_str()) || pixels >= std::atoi(v.at("height").c_str()))
                return "Pixels to expand must be smaller than the tile width and height; expand by less or make the tiles larger.";
            return check_seed(v.at("seed"));
        };
        cfg.ok_label = "_Outpaint";
    } else if (proc == "plug-in-diffusion-outpaint-mk2") {
        cfg.title = "Outpainting mk2";
        cfg.intro = "Extend the active layer one side at a time, as A1111's Outpainting mk2 script: the new part starts from noise "
                    "matched to the picture and a strip at the new edge is redrawn, into a new image. Recommended: 80-100 steps of "
                    "Euler a, denoising strength 0.8.";
        fields = generation_fields();
        fields.push_back({10, spin_field("denoising_strength", "Denoising strength", 0, 1, 0.01, 2)});
        fields.push_back({11, spin_field("pixels", "Pixels to expand", 8, 256, 8, 0)});
        FormField blur = spin_field("outpaint_mask_blur", "Mask blur", 0, 64, 1, 0);
        blur.tooltip = "The kept part's edge is inset by this; the redraw blurs the mask by four times this";
        fields.push_back({12, blur});
        fields.push_back({13, field("left", "Left", Kind::kCheck)});
        fields.push_back({14, field("right", "Right", Kind::kCheck)});
        fields.push_back({15, field("up", "Up", Kind::kCheck)});
        fields.push_back({16, field("down", "Down", Kind::kCheck)});
        fields.push_back({17, spin_field("noise_q", "Fall-off exponent (lower=higher detail)", 0, 4, 0.01, 2)});
        fields.push_back({18, spin_field("color_variation", "Color variation", 0, 1, 0.01, 2)});
        fields.push_back({19, spin_field("width", "Width", 64, 2048, 8, 0)});
        fields.push_back({20, spin_field("height", "Height", 64, 2048, 8, 0)});
        fields.push_back({21, spin_field("batch_size", "Batch size", 1, 8, 1, 0)});
        FormField batches = spin_field("batch_count", "Batch count", 1, 100, 1, 0);
        batches.tooltip = "Runs the whole script again: a fixed seed gives the same images, seed -1 new ones (as in A1111)";
        fields.push_back({22, batches});
        fields.push_back({23, model_field(ctx)});
        cfg.describe = [](const FormValues& v) { return describe_checkpoint(v.at("model")); };
        cfg.validate = [](const FormValues& v) -> std::string {
            if (v.at("left") != "1" && v.at("right") != "1" && v.at("up") != "1" && v.at("down") != "1")
                return "Choose at least one outpainting direction: left, right, up or down.";
            return check_seed(v.at("seed"));
        };
        cfg.ok_label = "_Outpaint";
    } else if (proc == "plug-in-diffusion-xy-plot") {
        cfg.title = "X/Y Plot";
        cfg.intro = "A grid of images over two fields, e.g. CFG Scale against Steps, in a new image.";
        fields = plot_fields({"x", "y"});
        add_source_fields(&fields, 17);
        fields.push_back({16, model_field(ctx)});
        cfg.describe = [](const FormValues& v) { return describe_checkpoint(v.at("model")); };
        cfg.validate = [](const FormValues& v) -> std::string {
            // A1111's "Nothing" axis takes no values.
            if ((v.at("x_values").empty() && v.at("x_type") != "Nothing") || (v.at("y_values").empty() && v.at("y_type") != "Nothing"))
                return "Give the X and Y values, comma separated (e.g. 5, 7, 9).";
            return check_seed(v.at("seed"));
        };
        cfg.ok_label = "_Plot";
    } else if (proc == "plug-in-diffusion-xyz-plot") {
        cfg.title = "X/Y/Z Plot";
        cfg.intro = "Grids of images over three fields, as A1111's X/Y/Z plot: one X/Y grid per Z value, side by side in a new image "
                    "(a layer group per grid).";
        fields = plot_fields({"x", "y", "z"});
        fields.push_back({21, field("vary_seeds_x", "Vary seeds for X", Kind::kCheck)});
        fields.push_back({22, field("vary_seeds_y", "Vary seeds for Y", Kind::kCheck)});
        fields.push_back({23, field("vary_seeds_z", "Vary seeds for Z", Kind::kCheck)});
        FormField keep = field("keep_minus_one", "Keep -1 for seeds", Kind::kCheck);
        keep.tooltip = "A seed of -1 gives every cell a new random seed instead of one for all";
        fields.push_back({24, keep});
        fields.push_back({25, spin_field("margin", "Grid margins (px)", 0, 500, 2, 0)});
        add_source_fields(&fields, 19);
        fields.push_back({18, model_field(ctx)});
        cfg.describe = [](const FormValues& v) { return describe_checkpoint(v.at("model")); };
        cfg.validate = [](const FormValues& v) -> std::string {
            for (const char* axis : {"x", "y", "z"})
                if (v.at(std::string(axis) + "_values").empty() && v.at(std::string(axis) + "_type") != "Nothing")
                    return "Give the X, Y and Z values, comma separated (e.g. 5, 7, 9), or choose Nothing.";
            return check_seed(v.at("seed"));
        };
        cfg.ok_label = "_Plot";
    } else if (proc == "plug-in-diffusion-prompt-matrix") {
        cfg.title = "Prompt Matrix";
        cfg.intro = "One image for every combination of the prompt's parts after '|' (\"a cat|in a hat|on a bike\": 4 images), "
                    "as A1111's Prompt matrix script lays them out, in a new image.";
        fields = generation_fields();
        fields.push_back({10, spin_field("width", "Width", 64, 2048, 8, 0)});
        fields.push_back({11, spin_field("height", "Height", 64, 2048, 8, 0)});
        fields.push_back({12, combo_field("prompt_type", "Prompt type", {"positive", "negative"})});
        fields.push_back({13, field("put_at_start", "Set at prompt start", Kind::kCheck)});
        FormField seeds = field("different_seeds", "Random seeds", Kind::kCheck);
        seeds.tooltip = "Seed, seed + 1, ... for the images instead of one seed for all";
        fields.push_back({14, seeds});
        fields.push_back({15, combo_field("joining", "Joining char", {"comma", "space"})});
        fields.push_back({16, spin_field("margin", "Grid margins", 0, 500, 2, 0)});
        add_source_fields(&fields, 18);
        fields.push_back({17, model_field(ctx)});
        cfg.describe = [](const FormValues& v) {
            const std::string& p = v.at(v.at("prompt_type") == "negative" ? "negative_prompt" : "prompt");
            size_t bars = 0;
            for (char c : p) bars += c == '|';
            return std::to_string(size_t{1} << std::min<size_t>(bars, 20)) + " images; " + describe_checkpoint(v.at("model"));
        };
        cfg.validate = [](const FormValues& v) -> std::string {
            const std::string& p = v.at(v.at("prompt_type") == "negative" ? "negative_prompt" : "prompt");
            if (p.find('|') == std::string::npos) return "Separate the parts to combine with '|' (e.g. a cat|in a hat|on a bike).";
            return check_seed(v.at("seed"));
        };
        cfg.ok_label = "_Generate";
    } else if (proc == "plug-in-diffusion-prompts-from-file") {
        cfg.title = "Prompts from File";
        cfg.intro = "One Text to Image (or Image to Image) run per line: a prompt, or A1111's options (--prompt \"...\" --steps 30 "
                    "--seed 5 ...), as its Prompts from file or textbox script; the images go in one layer group.";
        fields = generation_fields();
        fields[0].field.label = "Prompt (joined to each line's)";
        fields.push_back({10, spin_field("width", "Width", 64, 2048, 8, 0)});
        fields.push_back({11, spin_field("height", "Height", 64, 2048, 8, 0)});
        fields.push_back({12, spin_field("batch_size", "Batch size", 1, 8, 1, 0)});
        fields.push_back({13, spin_field("batch_count", "Batch count", 1, 100, 1, 0)});
        fields.push_back({14, field("prompts", "List of prompt inputs", Kind::kText)});
        FormField file = field("file", "Or a file of them", Kind::kFile);
        file.file_patterns = {"*.txt", "*"};
        fields.push_back({15, file});
        fields.push_back({16, field("iterate_seed", "Iterate seed every line", Kind::kCheck)});
        fields.push_back({17, field("same_seed", "Use same random seed for all lines", Kind::kCheck)});
        fields.push_back({18, combo_field("position", "Insert prompts at the", {"start", "end"})});
        add_source_fields(&fields, 20);
        fields.push_back({19, model_field(ctx)});
        cfg.describe = [](const FormValues& v) {
            size_t lines = 0;
            for (const auto& l : prompt_lines(v.at("prompts"))) lines += !l.text.empty();
            return (v.at("file").empty() ? std::to_string(lines) + " line(s); " : std::string("From the file; ")) + describe_checkpoint(v.at("model"));
        };
        cfg.validate = [](const FormValues& v) -> std::string {
            if (!v.at("file").empty()) return ::access(v.at("file").c_str(), R_OK) == 0 ? check_seed(v.at("seed")) : "The file " + v.at("file") + " cannot be read; choose another.";
            if (prompt_lines(v.at("prompts")).empty()) return "Give one prompt (or --options) per line, or choose a file of them.";
            return check_seed(v.at("seed"));
        };
        cfg.ok_label = "_Generate";
    } else if (proc == "plug-in-diffusion-loopback") {
        cfg.title = "Loopback";
        cfg.intro = "Redraw the active layer (or its selected part), then redraw each result again, as A1111's Loopback script: "
                    "the denoising strength moves from the first loop's to the final one along the curve; the images go in one layer group.";
        fields = generation_fields();
        fields.push_back({10, spin_field("denoising_strength", "Denoising strength", 0, 1, 0.01, 2)});
        fields.push_back({11, spin_field("loops", "Loops", 1, 32, 1, 0)});
        fields.push_back({12, spin_field("final_denoising_strength", "Final denoising strength", 0, 1, 0.01, 2)});
        FormField curve = combo_field("denoising_curve", "Denoising strength curve", {"Aggressive", "Linear", "Lazy"});
        curve.tooltip = "Aggressive moves fast at first, Lazy at the end, Linear evenly";
        fields.push_back({13, curve});
        FormField batches = spin_field("batch_count", "Batch count", 1, 100, 1, 0);
        batches.tooltip = "Each batch starts from the layer again; with more than one, only each batch's last image is kept";
        fields.push_back({14, batches});
        fields.push_back({15, model_field(ctx)});
        FormField interrogation = combo_field("append_interrogation", "Append interrogated prompt at each iteration", {"None", "DeepBooru"});
        interrogation.tooltip = "DeepBooru: each loop's input image tagged (A1111's Interrogate DeepBooru, model-resnet_custom_v3.pt in a "
                                "DeepDanbooru folder of the model folders) and the tags put after the prompt";
        fields.push_back({16, interrogation});
        cfg.describe = [](const FormValues& v) {
            const int loops = std::atoi(v.at("loops").c_str()), batches = std::atoi(v.at("batch_count").c_str());
            return std::to_string(loops * batches) + " img2img run(s), " + std::to_string(batches > 1 ? batches : loops) + " image(s); " +
                   describe_checkpoint(v.at("model"));
        };
        cfg.validate = [](const FormValues& v) { return check_seed(v.at("seed")); };
        cfg.ok_label = "_Generate";
    } else if (proc == "plug-in-diffusion-merge-checkpoints") {
        cfg.title = "Checkpoint Merger";
        cfg.intro = "Merge checkpoints as A1111's Checkpoint Merger does; the result is written beside model A.";
        auto model = [&](const char* key, const char* label) {
            FormField f = field(key, label, Kind::kFile);
            f.options = ctx.models;
            f.file_patterns = {"*.safetensors", "*.ckpt"};
            return f;
        };
        FormField vae = field("bake_in_vae", "Bake in VAE", Kind::kFile);
        vae.options = {"None"};
        for (const auto& v : ctx.vaes)
            if (v != "Automatic" && v != "None") vae.options.push_back(v);
        vae.file_patterns = {"*.safetensors", "*.ckpt", "*.pt"};
        FormField format = combo_field("checkpoint_format", "Checkpoint format", {"safetensors", "ckpt"});
        format.value = "safetensors";  // A1111's default; "ckpt" writes torch.save's archive
        FormField discard = field("discard_weights", "Discard weights", Kind::kEntry);
        discard.tooltip = "A regular expression: keys it finds are left out of the result";
        fields = {{1, model("primary", "Primary model (A)")},
                  {2, model("secondary", "Secondary model (B)")},
                  {3, model("tertiary", "Tertiary model (C)")},
                  {4, combo_field("method", "Interpolation", {"Weighted sum", "Add difference", "No interpolation"})},
                  {5, spin_field("multiplier", "Multiplier (M)", 0, 1, 0.05, 2)},
                  {6, field("save_as_half", "Save as float16", Kind::kCheck)},
                  {7, field("custom_name", "Custom name (optional)", Kind::kEntry)},
                  {8, vae},
                  {9, discard},
                  {10, combo_field("config_source", "Copy config from", {"A, B or C", "B", "C", "Don't"})},
                  {11, format}};
        cfg.describe = [](const FormValues& v) {
            const std::string& m = v.at("method");
            if (m == "Add difference") return std::string("A + M (B - C)");
            if (m == "No interpolation") return std::string("A as it is (with the options below)");
            return std::string("(1 - M) A + M B");
        };
        cfg.validate = [](const FormValues& v) -> std::string {
            const std::string& m = v.at("method");
            if (v.at("primary").empty()) return "Choose the primary model (A).";
            if (m != "No interpolation" && v.at("secondary").empty()) return m + " needs a secondary model (B).";
            if (m == "Add difference" && v.at("tertiary").empty()) return "Add difference needs a tertiary model (C).";
            return "";
        };
        cfg.ok_label = "_Merge";
    } else if (proc == "plug-in-diffusion-load-model") {
        cfg.title = "Load Model";
        cfg.intro = "Load a checkpoint into the engine now, so the next generation starts at once.";
        FormField vae = field("vae", "VAE", Kind::kFile);
        vae.options = ctx.vaes.empty() ? std::vector<std::string>{"Automatic", "None"} : ctx.vaes;
        vae.file_patterns = {"*.safetensors", "*.ckpt", "*.pt"};
        vae.tooltip = "Automatic: MODEL.vae.safetensors beside the checkpoint if there is one; None: the checkpoint's own; or a VAE file";
        fields = {{1, model_field(ctx)}, {2, combo_field("prediction", "Prediction", {"", "v", "eps"})}, {3, vae}};
        fields[1].field.tooltip = "Empty: read from the file (v for SD 2.x 768 models)";
        cfg.describe = [](const FormValues& v) { return describe_checkpoint(v.at("model")); };
        cfg.validate = [](const FormValues& v) -> std::string {
            const std::string& vae = v.at("vae");
            if (!vae.empty() && vae != "Automatic" && vae != "None" && ::access(vae.c_str(), R_OK) != 0)
                return "The VAE file " + vae + " cannot be read; choose another, Automatic or None.";
            if (v.at("model").empty()) return "";
            return ::access(v.at("model").c_str(), R_OK) == 0 ? "" : "The file " + v.at("model") + " cannot be read; choose another.";
        };
        cfg.ok_label = "_Load";
    } else {
        return std::nullopt;
    }
    ToolForm form;
    form.config = cfg;
    for (auto& b : fields) {
        form.config.fields.push_back(b.field);
        form.indices.push_back(b.index);
    }
    return form;
}

}  // namespace sdgimp::dialogs
