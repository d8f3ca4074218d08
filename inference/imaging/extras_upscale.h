// A1111's Extras tab upscale (scripts/postprocessing_upscale.py, 1.10): "Scale by" (with its max
// side length) or "Scale to" (with "Crop to fit"), Upscaler 1 and Upscaler 2 blended at a
// visibility. The arithmetic and the text it records; the upscalers themselves run in the pipeline.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "../image.h"

namespace sdgimp::imaging {

struct ExtrasUpscaleSettings {
    std::string upscaler_1 = "ESRGAN thick";
    std::string upscaler_2 = "None";
    double upscaler_2_visibility = 0;  // 0..1
    bool scale_to = false;             // the "Scale to" tab; else "Scale by"
    double upscale_by = 2;             // 1..8
    int max_side_length = 0;           // "Scale by": shrink to fit this side (0 = no limit)
    int to_width = 512, to_height = 512;
    bool crop = true;                  // "Scale to": crop to fit
    int ldsr_steps = 100;              // A1111's "LDSR processing steps" (the LDSR upscaler), 1..1000
    // A1111's GFPGAN and CodeFormer sections, run after the upscale in that order (0 = off), and
    // where their files are looked for first.
    double gfpgan_visibility = 0, codeformer_visibility = 0, codeformer_weight = 0.5;  // 0..1
    std::vector<std::string> face_model_dirs;
};

// Throws sdgimp::Error with one sentence for a value outside A1111's sliders.
void validate_extras_upscale(const ExtrasUpscaleSettings& s);

// One upscaler's call as A1111's upscale() makes it for a w x h image: the factor handed to the
// upscaler, whether the result is then centred on a crop_w x crop_h black canvas, and the keys it
// records, in order.
struct ExtrasUpscaleCall {
    double factor = 1;
    bool crop = false;
    int crop_w = 0, crop_h = 0;
    std::vector<std::pair<std::string, std::string>> info;
};
ExtrasUpscaleCall plan_extras_upscale(int w, int h, const ExtrasUpscaleSettings& s);

// A1111's limit_size_by_one_dimention on Python floats: the longer side brought to `limit`, the
// other floor-divided in proportion.
std::pair<int, int> limit_size_by_one_dimension(double w, double h, int limit);

// PIL's Image.paste of `img` centred on a black width x height RGB canvas (A1111's crop to fit).
Image paste_centered(const Image& img, int width, int height);

// PIL's Image.blend(a, b, alpha) on 8-bit RGB of one size: a + alpha (b - a) in single precision, truncated.
Image pil_blend(const Image& a, const Image& b, double alpha);

// The recorded keys joined as A1111's extras text joins them ("key: value, ...").
std::string extras_info_text(const std::vector<std::pair<std::string, std::string>>& info);

}  // namespace sdgimp::imaging
