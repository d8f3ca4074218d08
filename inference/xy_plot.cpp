#include "xy_plot.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

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
    return field != "Sampler" && field != "Prompt S/R" && field != "Schedule type" && field != "Hires upscaler" &&
           field != "Checkpoint name" && field != "Refiner checkpoint";
}

// The name of `names` that v spells without regard to case (A1111 matches them so), or "".
std::string canonical_name(const std::vector<std::string>& names, const std::string& v) {
    for (const auto& name : names) {
        if (name.size() != v.size()) continue;
        bool same = true;
        for (size_t i = 0; i < v.size(); ++i)
            same = same && std::tolower(static_cast<unsigned char>(name[i])) == std::tolower(static_cast<unsigned char>(v[i]));
        if (same) return name;
    }
    return "";
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    if (from.empty()) return s;
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
    return s;
}

}  // namespace

const std::vector<std::string>& xy_fields() {
    static const std::vector<std::string> kFields = {"CFG Scale", "Steps", "Seed", "Variation seed", "Variation strength",
                                                     "Clip skip", "Eta noise seed delta", "Sampler", "Schedule type", "Prompt S/R",
                                                     "Checkpoint name", "Denoising", "Hires steps", "Hires upscaler",
                                                     "Refiner checkpoint", "Refiner switch at"};
    return kFields;
}

std::string xy_checkpoint(const XYAxis& axis, size_t index, const std::vector<std::string>& checkpoints) {
    if (axis.field != "Checkpoint name") return "";
    const std::string& v = axis.values.at(index);
    std::string path = checkpoint_named(checkpoints, v);
    if (path.empty())
        for (const auto& c : checkpoints)
            if (c == v) path = c;
    if (path.empty())
        bad("The checkpoint \"" + v + "\" is not among the model folders' files; write its file name without .safetensors/.ckpt.");
    return path;
}

XYAxis parse_xy_axis(const std::string& field, const std::string& text, const GenerateRequest& base) {
    bool known = false;
    for (const auto& f : xy_fields()) known = known || f == field;
    if (!known) {
        std::string list;
        for (const auto& f : xy_fields()) list += (list.empty() ? "" : ", ") + f;
        bad("The plot cannot vary \"" + field + "\"; use " + list + ".");
    }
    XYAxis axis{field, csv_values(text)};
    if (axis.values.empty()) bad("Give at least one " + field + " value (e.g. \"5, 7, 9\").");
    if (axis.values.size() > 16) bad("At most 16 " + field + " values, please.");
    for (auto& v : axis.values) {
        if (numeric(field)) {
            char* end = nullptr;
            const double d = std::strtod(v.c_str(), &end);
            if (v.empty() || *end != '\0' || !std::isfinite(d))
                bad("The " + field + " values must be numbers separated by commas, not \"" + v + "\".");
        } else if (field == "Sampler") {
            const std::string canonical = canonical_name(sampler_names(), v);
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
    else if (axis.field == "Prompt S/R") {
        r->prompt = replace_all(r->prompt, axis.values[0], v);
        r->negative_prompt = replace_all(r->negative_prompt, axis.values[0], v);
    }
}

}  // namespace sdgimp
