#include "xy_plot.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "checkpoint_match.h"
#include "status.h"

namespace sdgimp {
namespace {

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorCode::kInvalidRequest, msg); }

// A1111 reads the values with Python's csv module (skipinitialspace), then strips each.
std::vector<std::string> csv_values(const std::string& text) {
    std::vector<std::string> out;
    std::string cur;
    bool quoted = false, any = false;
    for (size_t i = 0; i <= text.size(); ++i) {
        const char c = i < text.size() ? text[i] : ',';
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') { cur += '"'; ++i; }
            else if (c == '"') quoted = false;
            else cur += c;
        } else if (c == '"' && cur.find_first_not_of(" \t") == std::string::npos) {
            cur.clear();
            quoted = any = true;
        } else if (c == ',') {
            const size_t a = cur.find_first_not_of(" \t\r\n"), b = cur.find_last_not_of(" \t\r\n");
            const std::string v = a == std::string::npos ? "" : cur.substr(a, b - a + 1);
            if (!v.empty() || any) out.push_back(v);
            cur.clear();
            any = false;
        } else {
            cur += c;
        }
    }
    return out;
}

bool numeric(const std::string& field) {
    for (const char* f : {"Sampler", "Prompt S/R", "Schedule type", "Hires upscaler", "Checkpoint name", "Refiner checkpoint",
                          "Nothing", "Prompt order", "Hires sampler", "SGM noise multiplier", "RNG source", "FP8 mode", "Size", "Styles",
                          "Always discard next-to-last sigma", "VAE", "[Hypertile] Unet First pass Enabled",
                          "[Hypertile] Unet Second pass Enabled", "[Hypertile] VAE Enabled", "Face restore"})
        if (field == f) return false;
    return true;
}

// A1111's spellings of fields this plot names otherwise.
std::string field_alias(const std::string& field) {
    if (field == "Var. seed") return "Variation seed";
    if (field == "Var. strength") return "Variation strength";
    return field;
}

// A1111's apply_order: the tokens taken out of the prompt where they first occur, left to right,
// and put back in the cell's order.
std::string reorder_prompt(std::string prompt, const std::vector<std::string>& order) {
    std::vector<std::pair<size_t, std::string>> seen;
    for (const auto& t : order) seen.emplace_back(prompt.find(t), t);
    std::stable_sort(seen.begin(), seen.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::string> parts;
    for (const auto& [pos, token] : seen) {
        const size_t n = prompt.find(token);
        parts.push_back(prompt.substr(0, n));
        prompt = prompt.substr(n + token.size());
    }
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) out += parts[i] + order[i];
    return out + prompt;
}

// "512x768" (spaces around the numbers allowed), as A1111's apply_size reads it.
bool parse_size(const std::string& v, int* w, int* h) {
    const size_t x = v.find('x');
    if (x == std::string::npos) return false;
    const auto num = [](std::string s, int* out) {
        const size_t a = s.find_first_not_of(' '), b = s.find_last_not_of(' ');
        if (a == std::string::npos) return false;
        s = s.substr(a, b - a + 1);
        if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos) return false;
        *out = std::stoi(s);
        return true;
    };
    return num(v.substr(0, x), w) && num(v.substr(x + 1), h);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    if (from.empty()) return s;
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
    return s;
}

}  // namespace

const std::vector<std::string>& xy_fields() {
    static const std::vector<std::string> kFields = {
        "CFG Scale", "Steps", "Seed", "Variation seed", "Variation strength", "Clip skip", "Eta noise seed delta", "Sampler",
        "Schedule type", "Prompt S/R", "Checkpoint name", "Denoising", "Hires steps", "Hires upscaler", "Refiner checkpoint",
        "Refiner switch at", "Nothing", "Prompt order", "Hires sampler", "Eta", "Sigma Churn", "Sigma min", "Sigma max",
        "Sigma noise", "Negative Guidance minimum sigma", "Skip Early CFG", "UniPC Order", "SGM noise multiplier", "RNG source",
        "FP8 mode", "Size", "Initial noise multiplier", "Extra noise", "Cond. Image Mask Weight", "Styles", "Schedule min sigma",
        "Schedule max sigma", "Schedule rho", "Beta schedule alpha", "Beta schedule beta", "Always discard next-to-last sigma", "VAE",
        "Token merging ratio", "Token merging ratio high-res", "[Hypertile] Unet First pass Enabled",
        "[Hypertile] Unet Second pass Enabled", "[Hypertile] Unet Max Depth", "[Hypertile] Unet Max Tile Size",
        "[Hypertile] Unet Swap Size", "[Hypertile] VAE Enabled", "[Hypertile] VAE Max Depth", "[Hypertile] VAE Max Tile Size",
        "[Hypertile] VAE Swap Size", "Image CFG Scale", "Face restore"};
    return kFields;
}

std::string xy_checkpoint(const XYAxis& axis, size_t index, const std::vector<CheckpointNames>& checkpoints) {
    if (axis.field != "Checkpoint name") return "";
    const std::string& v = axis.values.at(index);
    std::string path;
    for (const auto& c : checkpoints)
        if (c.path == v) path = c.path;
    // A1111's apply_checkpoint: get_closet_checkpoint_match.
    if (path.empty()) path = closest_checkpoint(checkpoints, v);
    if (path.empty())
        bad("The checkpoint \"" + v + "\" is not among the model folders' files; write its file name (or a part of it, or its hash).");
    return path;
}

std::optional<std::string> xy_vae(const XYAxis& axis, size_t index, const std::vector<std::string>& vaes) {
    if (axis.field != "VAE") return std::nullopt;
    const std::string& v = axis.values.at(index);
    if (v == "Automatic") return std::string();
    if (v == "None") return v;
    for (const auto& path : vaes) {
        const std::string file = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
        if (path == v || file == v) return path;
        for (const std::string ext : {".safetensors", ".ckpt", ".pt"})
            if (file.size() == v.size() + ext.size() && file.compare(0, v.size(), v) == 0 && file.compare(v.size(), ext.size(), ext) == 0)
                return path;
    }
    bad("The VAE \"" + v + "\" is not among the model folders' VAE files; write Automatic, None or its file name.");
}

XYAxis parse_xy_axis(const std::string& field_as_written, const std::string& text, const GenerateRequest& base,
                     const std::vector<text::PromptStyle>& styles) {
    const std::string field = field_alias(field_as_written);
    bool known = false;
    for (const auto& f : xy_fields()) known = known || f == field;
    if (!known) {
        std::string list;
        for (const auto& f : xy_fields()) list += (list.empty() ? "" : ", ") + f;
        bad("The plot cannot vary \"" + field + "\"; use " + list + ".");
    }
    XYAxis axis;
    axis.field = field;
    axis.values = field == "Nothing" ? std::vector<std::string>{""} : csv_values(text);  // Nothing: one cell, no label
    if (field == "Nothing") return axis;
    if (axis.values.empty()) bad("Give at least one " + field + " value (e.g. \"5, 7, 9\").");
    if (field == "Prompt order") {
        // Every order of the tokens, in itertools.permutations' order.
        if (axis.values.size() > 4) bad("Prompt order takes at most 4 tokens (24 orders).");
        for (const auto& t : axis.values)
            if (t.empty() || base.prompt.find(t) == std::string::npos)
                bad("Prompt order did not find \"" + t + "\" in the prompt; list tokens the prompt holds.");
        std::vector<size_t> idx(axis.values.size());
        for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
        XYAxis out;
        out.field = field;
        do {
            std::vector<std::string> order;
            std::string label;
            for (size_t i : idx) {
                order.push_back(axis.values[i]);
                label += (label.empty() ? "" : ", ") + axis.values[i];
            }
            out.orders.push_back(order);
            out.values.push_back(label);
        } while (std::next_permutation(idx.begin(), idx.end()));
        return out;
    }
    if (axis.values.size() > 16) bad("At most 16 " + field + " values, please.");
    for (auto& v : axis.values) {
        if (numeric(field)) {
            char* end = nullptr;
            const double d = std::strtod(v.c_str(), &end);
            if (v.empty() || *end != '\0' || !std::isfinite(d))
                bad("The " + field + " values must be numbers separated by commas, not \"" + v + "\".");
        } else if (field == "Sampler") {
            const std::string canonical = sampler_from_map(v);
            if (canonical.empty()) bad("Unknown sampler \"" + v + "\" in the X/Y values; use A1111's names, e.g. Euler a, DPM++ 2M.");
            v = canonical;
        } else if (field == "Schedule type") {
            const std::string canonical = canonical_name(schedule_names(), v);
            if (canonical.empty()) bad("Unknown schedule type \"" + v + "\" in the X/Y values; use A1111's names, e.g. Automatic, Karras.");
            v = canonical;
        } else if (field == "Hires upscaler") {
            // Latent modes by A1111's names; image upscalers are checked by the engine when it runs.
            if (const std::string canonical = canonical_name(hires_upscaler_names(), v); !canonical.empty()) v = canonical;
            if (v.empty()) bad("A Hires upscaler value is empty; use e.g. Latent, Lanczos.");
        } else if (field == "Checkpoint name") {
            // Resolved to files by the caller, which knows the model folders (xy_checkpoint()).
            if (v.empty()) bad("A Checkpoint name value is empty; use the file names of your checkpoints.");
        } else if (field == "Hires sampler") {
            const std::string canonical = sampler_from_map(v);
            if (canonical.empty()) bad("Unknown sampler \"" + v + "\" in the X/Y values; use A1111's names, e.g. Euler a, DPM++ 2M.");
            v = canonical;
        } else if (field == "SGM noise multiplier" || field == "Always discard next-to-last sigma" ||
                   field == "[Hypertile] Unet First pass Enabled" || field == "[Hypertile] Unet Second pass Enabled" ||
                   field == "[Hypertile] VAE Enabled") {
            // A1111's boolean axes: "True" (any case) is on, anything else off.
            v = canonical_name({"True"}, v).empty() ? "False" : "True";
        } else if (field == "Face restore") {
            // A1111's apply_face_restore: a restorer's name (any case), else on for true/yes/y/1.
            std::string lower = v;
            for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            v = lower == "codeformer" ? "CodeFormer" : lower == "gfpgan" ? "GFPGAN" : (lower == "true" || lower == "yes" || lower == "y" || lower == "1") ? "True" : "False";
        } else if (field == "RNG source") {
            const std::string canonical = canonical_name({"GPU", "CPU", "NV"}, v);
            if (canonical.empty()) bad("Unknown RNG source \"" + v + "\" in the X/Y values; use GPU, CPU or NV.");
            v = canonical;
        } else if (field == "FP8 mode") {
            // A1111's choices for its fp8_storage setting.
            const std::string canonical = canonical_name({"Disable", "Enable for SDXL", "Enable"}, v);
            if (canonical.empty()) bad("Unknown FP8 mode \"" + v + "\" in the X/Y values; use Disable, Enable for SDXL or Enable.");
            v = canonical;
        } else if (field == "Size") {
            int w = 0, h = 0;
            if (!parse_size(v, &w, &h)) bad("The Size values must be WIDTHxHEIGHT, e.g. 512x768, not \"" + v + "\".");
        } else if (field == "Styles") {
            std::vector<text::PromptStyle> set;
            size_t from = 0;
            while (from <= v.size()) {
                const size_t to = std::min(v.find(',', from), v.size());
                std::string name = v.substr(from, to - from);
                const size_t a = name.find_first_not_of(' '), b = name.find_last_not_of(' ');
                name = a == std::string::npos ? "" : name.substr(a, b - a + 1);
                from = to + 1;
                if (name.empty()) continue;
                const text::PromptStyle* st = text::find_style(styles, name);
                if (!st) bad("The style \"" + name + "\" is not in the styles files (styles.csv); use the names they hold.");
                set.push_back(*st);
            }
            axis.style_sets.push_back(set);
        } else if (field == "VAE") {
            // A1111 offers "Automatic" and "None" first; files are found by the caller (xy_vae()).
            if (const std::string c = canonical_name({"Automatic", "None"}, v); !c.empty()) v = c;
            if (v.empty()) bad("A VAE value is empty; use Automatic, None or the file names of your VAEs.");
        } else if (field == "Refiner checkpoint") {
            // A1111 offers "None" first; names are found beside the model (or by the caller among its folders).
            if (!canonical_name({"None"}, v).empty()) v = "None";
            if (v.empty()) bad("A Refiner checkpoint value is empty; use None or the file names of your checkpoints.");
        }
    }
    if (field == "Prompt S/R" && base.prompt.find(axis.values[0]) == std::string::npos &&
        base.negative_prompt.find(axis.values[0]) == std::string::npos)
        bad("Prompt S/R did not find \"" + axis.values[0] + "\" in the prompt or negative prompt; its first value is the text the others replace.");
    return axis;
}

void apply_xy_styles(GenerateRequest* r, const XYAxis& axis, size_t index) {
    if (axis.field != "Styles") return;
    text::apply_styles_to_run(axis.style_sets.at(index), &r->prompt, &r->negative_prompt, &r->hr_prompt, &r->hr_negative_prompt);
}

double xy_axis_cost(const std::string& field) {
    if (field == "Checkpoint name" || field == "Refiner checkpoint") return 1.0;
    if (field == "FP8 mode") return 0.9;
    if (field == "VAE") return 0.7;
    return 0.0;
}

std::vector<std::array<int, 3>> xyz_cell_order(const XYAxis& x, const XYAxis& y, const XYAxis& z) {
    const double cx = xy_axis_cost(x.field), cy = xy_axis_cost(y.field), cz = xy_axis_cost(z.field);
    // Axis indices 0 = x, 1 = y, 2 = z, as A1111 picks its first and second axes.
    int first = 2, second = 1;
    if (cx > cy && cx > cz) {
        first = 0;
        second = cy > cz ? 1 : 2;
    } else if (cy > cx && cy > cz) {
        first = 1;
        second = cx > cz ? 0 : 2;
    } else if (cz > cx && cz > cy) {
        first = 2;
        second = cx > cy ? 0 : 1;
    }
    const int third = 3 - first - second;
    const int n[3] = {static_cast<int>(x.values.size()), static_cast<int>(y.values.size()), static_cast<int>(z.values.size())};
    std::vector<std::array<int, 3>> order;
    for (int a = 0; a < n[first]; ++a)
        for (int b = 0; b < n[second]; ++b)
            for (int c = 0; c < n[third]; ++c) {
                std::array<int, 3> cell{};
                cell[static_cast<size_t>(first)] = a;
                cell[static_cast<size_t>(second)] = b;
                cell[static_cast<size_t>(third)] = c;
                order.push_back(cell);
            }
    return order;
}

int64_t xyz_seed_offset(int ix, int iy, int iz, int nx, int ny, bool vary_x, bool vary_y, bool vary_z) {
    const int64_t xdim = vary_x ? nx : 1, ydim = vary_y ? ny : 1;
    int64_t off = 0;
    if (vary_x) off += ix;
    if (vary_y) off += static_cast<int64_t>(iy) * xdim;
    if (vary_z) off += static_cast<int64_t>(iz) * xdim * ydim;
    return off;
}

void fix_xy_axis_seeds(XYAxis* axis, const std::function<int64_t()>& random) {
    if (axis->field != "Seed" && axis->field != "Variation seed") return;
    for (auto& v : axis->values) {
        char* end = nullptr;
        const double d = std::strtod(v.c_str(), &end);
        if (v.empty() || (end && *end == '\0' && d == -1)) v = std::to_string(random());
    }
}

void check_xy_axis_for_img2img(const XYAxis& axis) {
    for (const char* f : {"Hires steps", "Hires upscaler", "Hires sampler", "Token merging ratio high-res"})
        if (axis.field == f)
            bad("The X/Y axis \"" + axis.field + "\" belongs to Text to Image (img2img has no hires pass); choose another axis or run as txt2img.");
}

void apply_xy_value(GenerateRequest* r, const XYAxis& axis, size_t index) {
    const std::string& v = axis.values.at(index);
    const double d = numeric(axis.field) ? std::strtod(v.c_str(), nullptr) : 0;
    if (axis.field == "CFG Scale") r->cfg_scale = d;
    else if (axis.field == "Steps") r->steps = saturated_int(d);
    else if (axis.field == "Seed") r->seed = saturated_int64(d);
    else if (axis.field == "Variation seed") r->subseed = saturated_int64(d);
    else if (axis.field == "Variation strength") r->subseed_strength = d;
    else if (axis.field == "Clip skip") r->clip_skip = saturated_int(d);
    else if (axis.field == "Eta noise seed delta") r->eta_noise_seed_delta = saturated_int64(d);
    else if (axis.field == "Sampler") r->sampler = v;
    else if (axis.field == "Schedule type") r->schedule = v;
    else if (axis.field == "Denoising") r->denoising_strength = d;
    else if (axis.field == "Hires steps") r->hr_second_pass_steps = saturated_int(d);
    else if (axis.field == "Hires upscaler") r->hr_upscaler = v;
    else if (axis.field == "Refiner checkpoint") r->refiner_checkpoint = v == "None" ? "" : v;
    else if (axis.field == "Refiner switch at") r->refiner_switch_at = d;
    else if (axis.field == "Hires sampler") r->hr_sampler = v;
    else if (axis.field == "Eta") r->eta_ancestral = r->eta_ddim = d;  // A1111's p.eta: the running sampler's eta
    else if (axis.field == "Sigma Churn") r->s_churn = d;
    else if (axis.field == "Sigma min") r->s_tmin = d;
    else if (axis.field == "Sigma max") r->s_tmax = d;
    else if (axis.field == "Sigma noise") r->s_noise = d;
    else if (axis.field == "Negative Guidance minimum sigma") r->s_min_uncond = d;
    else if (axis.field == "Skip Early CFG") r->skip_early_cond = d;
    else if (axis.field == "UniPC Order") r->unipc_order = std::min(saturated_int(d), r->steps - 1);
    else if (axis.field == "SGM noise multiplier") r->sgm_noise_multiplier = v == "True";
    else if (axis.field == "RNG source") r->rng = v;
    else if (axis.field == "FP8 mode") r->fp8_weight = v;
    else if (axis.field == "Schedule min sigma") r->schedule_sigma_min = d;
    else if (axis.field == "Schedule max sigma") r->schedule_sigma_max = d;
    else if (axis.field == "Schedule rho") r->schedule_rho = d;
    else if (axis.field == "Beta schedule alpha") r->beta_dist_alpha = d;
    else if (axis.field == "Beta schedule beta") r->beta_dist_beta = d;
    else if (axis.field == "Always discard next-to-last sigma") r->always_discard_next_to_last_sigma = v == "True";
    else if (axis.field == "Image CFG Scale") r->image_cfg_scale = d;
    else if (axis.field == "Face restore")
        r->face_restoration = v == "True" ? (r->face_restoration.empty() ? "CodeFormer" : r->face_restoration) : v == "False" ? "" : v;
    else if (axis.field == "Token merging ratio") r->token_merging_ratio = d;
    else if (axis.field == "Token merging ratio high-res") r->token_merging_ratio_hr = d;
    else if (axis.field == "[Hypertile] Unet First pass Enabled") r->hypertile_unet = v == "True";
    else if (axis.field == "[Hypertile] Unet Second pass Enabled") r->hypertile_unet_second_pass = v == "True";
    else if (axis.field == "[Hypertile] Unet Max Depth") r->hypertile_unet_max_depth = saturated_int(d);
    else if (axis.field == "[Hypertile] Unet Max Tile Size") r->hypertile_unet_max_tile = saturated_int(d);
    else if (axis.field == "[Hypertile] Unet Swap Size") r->hypertile_unet_swap_size = saturated_int(d);
    else if (axis.field == "[Hypertile] VAE Enabled") r->hypertile_vae = v == "True";
    else if (axis.field == "[Hypertile] VAE Max Depth") r->hypertile_vae_max_depth = saturated_int(d);
    else if (axis.field == "[Hypertile] VAE Max Tile Size") r->hypertile_vae_max_tile = saturated_int(d);
    else if (axis.field == "[Hypertile] VAE Swap Size") r->hypertile_vae_swap_size = saturated_int(d);
    else if (axis.field == "Size") (void)parse_size(v, &r->width, &r->height);
    else if (axis.field == "Initial noise multiplier") r->noise_multiplier = d;
    else if (axis.field == "Extra noise") r->extra_noise = d;
    else if (axis.field == "Cond. Image Mask Weight") r->inpainting_mask_weight = d;
    else if (axis.field == "Prompt order") r->prompt = reorder_prompt(r->prompt, axis.orders.at(index));
    else if (axis.field == "Prompt S/R") {
        r->prompt = replace_all(r->prompt, axis.values[0], v);
        r->negative_prompt = replace_all(r->negative_prompt, axis.values[0], v);
    }
}

}  // namespace sdgimp
