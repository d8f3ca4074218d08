#include "extras_upscale.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "../status.h"
#include "../text/infotext.h"
#include "inpaint_prep.h"

namespace sdgimp::imaging {
namespace {

// Python's float // (floor of the exact quotient, as CPython's float_floor_div computes it).
double py_floordiv(double a, double b) {
    double mod = std::fmod(a, b);
    double div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1.0;
    if (div == 0) return std::copysign(0.0, a / b);
    double floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
    return floordiv;
}

// Python's // on ints.
int py_idiv(int a, int b) {
    int q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

void set_key(std::vector<std::pair<std::string, std::string>>* info, const std::string& key, const std::string& value) {
    // A Python dict: setting a key again keeps its place.
    for (auto& kv : *info)
        if (kv.first == key) {
            kv.second = value;
            return;
        }
    info->emplace_back(key, value);
}

}  // namespace

void validate_extras_upscale(const ExtrasUpscaleSettings& s) {
    auto bad = [](const std::string& m) { throw Error(ErrorCode::kInvalidRequest, m); };
    if (s.upscaler_1.empty()) bad("Choose Upscaler 1 (or None to leave the image as it is).");
    if (!(s.upscaler_2_visibility >= 0 && s.upscaler_2_visibility <= 1)) bad("Upscaler 2 visibility must be between 0 and 1.");
    if (!s.scale_to && !(s.upscale_by >= 1 && s.upscale_by <= 8)) bad("Scale by must be between 1 and 8.");
    if (s.max_side_length < 0 || s.max_side_length > 16384) bad("Max side length must be between 0 (no limit) and 16384.");
    if (s.scale_to && (s.to_width < 64 || s.to_width > 8192 || s.to_height < 64 || s.to_height > 8192))
        bad("Scale to needs a width and height between 64 and 8192.");
    if (s.ldsr_steps < 1 || s.ldsr_steps > 1000) bad("LDSR steps must be between 1 and 1000.");
    if (!(s.gfpgan_visibility >= 0 && s.gfpgan_visibility <= 1)) bad("GFPGAN visibility must be between 0 and 1.");
    if (!(s.codeformer_visibility >= 0 && s.codeformer_visibility <= 1)) bad("CodeFormer visibility must be between 0 and 1.");
    if (!(s.codeformer_weight >= 0 && s.codeformer_weight <= 1)) bad("CodeFormer weight must be between 0 and 1.");
}

std::pair<int, int> limit_size_by_one_dimension(double w, double h, int limit) {
    if (h > w && h > limit) {
        w = py_floordiv(limit * w, h);
        h = limit;
    } else if (w > limit) {
        h = py_floordiv(limit * h, w);
        w = limit;
    }
    return {static_cast<int>(w), static_cast<int>(h)};
}

ExtrasUpscaleCall plan_extras_upscale(int w, int h, const ExtrasUpscaleSettings& s) {
    ExtrasUpscaleCall c;
    bool scale_to = s.scale_to, crop = s.crop;
    int tw = s.to_width, th = s.to_height;
    double by = s.upscale_by;
    if (scale_to) {
        by = std::max(static_cast<double>(tw) / w, static_cast<double>(th) / h);
        set_key(&c.info, "Postprocess upscale to", std::to_string(tw) + "x" + std::to_string(th));
    } else {
        set_key(&c.info, "Postprocess upscale by", text::python_float_repr(s.upscale_by));
        if (s.max_side_length != 0 && std::max(w, h) * by > s.max_side_length) {
            scale_to = true;
            crop = false;
            std::tie(tw, th) = limit_size_by_one_dimension(w * by, h * by, s.max_side_length);
            by = std::max(static_cast<double>(tw) / w, static_cast<double>(th) / h);
            set_key(&c.info, "Max side length", std::to_string(s.max_side_length));
        }
    }
    c.factor = by;
    if (scale_to && crop) {
        c.crop = true;
        c.crop_w = tw;
        c.crop_h = th;
        set_key(&c.info, "Postprocess crop to", std::to_string(tw) + "x" + std::to_string(th));
    }
    return c;
}

Image paste_centered(const Image& img, int width, int height) {
    const Image rgb = to_rgb(img);
    Image out{width, height, 3, std::vector<uint8_t>(static_cast<size_t>(width) * height * 3, 0)};
    const int x0 = py_idiv(width, 2) - py_idiv(rgb.width, 2), y0 = py_idiv(height, 2) - py_idiv(rgb.height, 2);
    for (int y = std::max(0, y0); y < std::min(height, y0 + rgb.height); ++y)
        for (int x = std::max(0, x0); x < std::min(width, x0 + rgb.width); ++x)
            for (int ch = 0; ch < 3; ++ch)
                out.pixels[(static_cast<size_t>(y) * width + x) * 3 + ch] =
                    rgb.pixels[(static_cast<size_t>(y - y0) * rgb.width + (x - x0)) * 3 + ch];
    return out;
}

Image pil_blend(const Image& a, const Image& b, double alpha) {
    if (!a.valid() || !b.valid() || a.width != b.width || a.height != b.height || a.channels != b.channels)
        throw Error(ErrorCode::kInvalidRequest, "The two upscales to blend differ in size.");
    const float f = static_cast<float>(alpha);  // PIL's ImagingBlend takes a C float
    Image out = a;
    for (size_t i = 0; i < out.pixels.size(); ++i) {
        const float v = static_cast<float>(a.pixels[i]) + f * static_cast<float>(static_cast<int>(b.pixels[i]) - static_cast<int>(a.pixels[i]));
        out.pixels[i] = static_cast<uint8_t>(v);
    }
    return out;
}

std::string extras_info_text(const std::vector<std::pair<std::string, std::string>>& info) {
    std::string s;
    for (const auto& [k, v] : info) s += (s.empty() ? "" : ", ") + k + ": " + v;
    return s;
}

}  // namespace sdgimp::imaging
