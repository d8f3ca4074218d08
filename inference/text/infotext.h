// A1111's "parameters" text (infotext): written exactly as A1111 1.10 writes it for every image, and
// parsed back as its "paste parameters" button does, defaults included.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sdgimp::text {

// A value as Python holds it, so that it is written with Python's str() (7.0, True, 0.30000000000000004).
struct InfoValue {
    enum class Kind { kString, kInt, kFloat, kBool };
    Kind kind = Kind::kString;
    std::string s;
    int64_t i = 0;
    double f = 0;
    bool b = false;

    static InfoValue str(std::string v) { InfoValue x; x.s = std::move(v); return x; }
    static InfoValue integer(int64_t v) { InfoValue x; x.kind = Kind::kInt; x.i = v; return x; }
    static InfoValue real(double v) { InfoValue x; x.kind = Kind::kFloat; x.f = v; return x; }
    static InfoValue boolean(bool v) { InfoValue x; x.kind = Kind::kBool; x.b = v; return x; }

    std::string to_string() const;  // Python str()
    bool operator==(const InfoValue& o) const;
};

// Ordered like a Python dict; a missing value (None) is not written.
using InfoParams = std::vector<std::pair<std::string, std::optional<InfoValue>>>;

std::string python_float_repr(double v);

// What A1111's create_infotext reads from a processing object, for one image of a run.
struct GenerationInfo {
    std::string prompt, negative_prompt;
    int steps = 20;
    std::string sampler_name = "Euler a";
    std::string scheduler = "Automatic";
    double cfg_scale = 7.0;
    std::optional<double> image_cfg_scale;
    int64_t seed = 0;
    int64_t subseed = -1;
    double subseed_strength = 0;
    int width = 512, height = 512;
    std::optional<std::string> model_hash, model_name, vae_hash, vae_name;
    int clip_skip = 1;
    std::optional<std::string> face_restoration;  // the restorer's name when faces were restored
    int seed_resize_from_w = -1, seed_resize_from_h = -1;
    bool inpainting_conditioning = false;
    double inpainting_mask_weight = 1.0;
    int64_t eta_noise_seed_delta = 0;  // written only when the sampler uses it
    bool sampler_uses_ensd = false;
    double token_merging_ratio = 0, token_merging_ratio_hr = 0;
    bool enable_hr = false;
    std::optional<std::string> init_image_hash;
    std::string randn_source = "GPU";
    bool tiling = false;
    std::string hr_prompt, hr_negative_prompt;
    InfoParams extra;  // extra_generation_params, in insertion order
    // A value of the form {"written_only_if_different_from": ...} in A1111: these keys are written
    // only when the hires prompt differs from the main one.
    std::vector<std::string> hires_prompt_keys, hires_negative_prompt_keys;
    int batch_size = 1, position_in_batch = 0, iteration = 0;
    bool add_version = true, add_user = false;
    std::string version = "v1.10.1";
    std::string user;
};

std::string create_infotext(const GenerationInfo& g);

// The map the web UI builds when the text is pasted (values from the text are strings).
InfoParams parse_infotext(const std::string& text);

// Python's json.dumps(s, ensure_ascii=False) and the inverse used for quoted values.
std::string json_quote(const std::string& s);
std::optional<std::string> json_unquote(const std::string& s);

}  // namespace sdgimp::text
