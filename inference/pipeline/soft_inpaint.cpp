#include "soft_inpaint.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "../imaging/pil_blur.h"
#include "../status.h"

namespace sdgimp::pipeline {

SoftInpaintSettings soft_inpaint_settings(const GenerateRequest& r) {
    SoftInpaintSettings s;
    s.mask_blend_power = r.soft_schedule_bias;
    s.mask_blend_scale = r.soft_preservation_strength;
    s.inpaint_detail_preservation = r.soft_transition_contrast;
    s.composite_mask_influence = r.soft_mask_influence;
    s.composite_difference_threshold = r.soft_difference_threshold;
    s.composite_difference_contrast = r.soft_difference_contrast;
    return s;
}

torch::Tensor soft_step_nmask(const SoftInpaintSettings& s, const torch::Tensor& nmask, const torch::Tensor& sigma) {
    // A1111 takes the batch's first sigma (they are all the same) as a 0-dim tensor.
    const auto sig = sigma.reshape({-1})[0].to(torch::kFloat);
    return torch::pow(nmask, sig.pow(s.mask_blend_power) * s.mask_blend_scale);
}

torch::Tensor soft_latent_blend(const SoftInpaintSettings& s, const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& t) {
    const auto t1 = t.slice(1, 0, 1);  // one channel of the mask weighs the lengths
    auto interp = a * (1 - t) + b * t;
    const auto current = torch::norm(interp, 2, {1}, true).to(torch::kDouble) + 0.00001;
    const double p = s.inpaint_detail_preservation;
    const auto a_len = torch::norm(a, 2, {1}, true).to(torch::kDouble).pow(p) * (1 - t1);
    const auto b_len = torch::norm(b, 2, {1}, true).to(torch::kDouble).pow(p) * t1;
    const auto wanted = (a_len + b_len).pow(1 / p);
    return interp * (wanted / current).to(interp.scalar_type());
}

std::vector<float> weighted_histogram_filter(const std::vector<float>& img, int w, int h, const std::vector<double>& kernel,
                                             int kr, double pmin, double pmax, double min_width) {
    const int ks = 2 * kr + 1;
    std::vector<float> out(img.size());
    std::vector<std::pair<float, double>> items;  // value, weight
    std::vector<double> lo, hi;                   // each item's span in the weight stack
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            items.clear();
            for (int yy = std::max(0, y - kr); yy < std::min(h, y + kr + 1); ++yy)
                for (int xx = std::max(0, x - kr); xx < std::min(w, x + kr + 1); ++xx)
                    items.emplace_back(img[static_cast<size_t>(yy) * w + xx], kernel[static_cast<size_t>(yy - y + kr) * ks + (xx - x + kr)]);
            std::stable_sort(items.begin(), items.end(), [](const auto& l, const auto& r) { return l.first < r.first; });
            // The weights stacked in value order; the window is a slice of that stack.
            double total = 0;
            lo.resize(items.size());
            hi.resize(items.size());
            for (size_t i = 0; i < items.size(); ++i) {
                lo[i] = total;
                total += items[i].second;
                hi[i] = total;
            }
            double wmin = total * pmin, wmax = total * pmax;
            if (wmax - wmin < min_width) {
                const double c = (wmin + wmax) / 2;
                wmin = c - min_width / 2;
                wmax = c + min_width / 2;
                if (wmax > total) {
                    wmax = total;
                    wmin = total - min_width;
                }
                if (wmin < 0) {
                    wmin = 0;
                    wmax = min_width;
                }
            }
            double value = 0, weight = 0;
            for (size_t i = 0; i < items.size(); ++i) {
                if (wmin >= hi[i]) continue;
                if (wmax <= lo[i]) break;
                const double part = std::min(wmax, hi[i]) - std::max(wmin, lo[i]);
                value += static_cast<double>(items[i].first) * part;
                weight += part;
            }
            out[static_cast<size_t>(y) * w + x] = static_cast<float>(weight != 0 ? value / weight : 0);
        }
    return out;
}

std::vector<double> soft_inpaint_kernel() {
    const double dev = 1.5;
    const int radius = 2;
    auto gauss = [&](double sq) { return std::exp(-sq / (dev * dev)); };
    const double zero_at = radius + 1.0;
    const double floor_value = gauss(zero_at * zero_at), scale = 1 / (1 - floor_value);
    const int n = 2 * radius + 1;
    std::vector<double> k(static_cast<size_t>(n) * n);
    for (int y = 0; y < n; ++y)
        for (int x = 0; x < n; ++x) {
            const double dx = x - radius, dy = y - radius;
            k[static_cast<size_t>(y) * n + x] = std::max(0.0, (gauss(dx * dx + dy * dy) - floor_value) * scale);
        }
    return k;
}

namespace {

float smootherstep(float x) { return x * x * x * (x * (6 * x - 15) + 10); }

// numpy's float32 power by a Python number: its shortcuts for the common exponents, else powf.
float numpy_power(float x, double e) {
    if (e == 2) return x * x;
    if (e == 1) return x;
    if (e == 0.5) return std::sqrt(x);
    if (e == 0) return 1;
    if (e == -1) return 1 / x;
    return std::pow(x, static_cast<float>(e));
}

}  // namespace

Image soft_composite_mask(const SoftInpaintSettings& s, const torch::Tensor& nmask_latent, const torch::Tensor& init,
                          const torch::Tensor& samples, int width, int height, const std::optional<imaging::Box>& paste_to,
                          int overlay_w, int overlay_h) {
    torch::NoGradGuard ng;
    const int64_t lh = nmask_latent.size(0), lw = nmask_latent.size(1);
    // How far a pixel may move before the original fades to half: the threshold, scaled where the
    // mask influence lets the mask bias it.
    auto scalar = 1 - torch::clamp(nmask_latent.to(torch::kFloat), 0, 1).pow(s.mask_blend_scale / 2);
    scalar = 0.5 * (1 - s.composite_mask_influence) + scalar * s.composite_mask_influence;
    scalar = (scalar / (1.00001 - scalar)).contiguous();
    const auto distance = torch::norm((samples.to(torch::kFloat) - init.to(torch::kFloat)), 2, {0}).contiguous();
    std::vector<float> d(distance.data_ptr<float>(), distance.data_ptr<float>() + distance.numel());
    const auto kernel = soft_inpaint_kernel();
    const int w = static_cast<int>(lw), h = static_cast<int>(lh);
    d = weighted_histogram_filter(d, w, h, kernel, 2, 0.9, 1, 1);
    d = weighted_histogram_filter(d, w, h, kernel, 2, 0.25, 0.75, 1);
    const float* sc = scalar.data_ptr<float>();
    const float threshold = static_cast<float>(s.composite_difference_threshold);
    Image small;
    small.width = w;
    small.height = h;
    small.channels = 1;
    small.pixels.resize(d.size());
    for (size_t i = 0; i < d.size(); ++i) {
        const float half = threshold * sc[i];
        float v = d[i] / half;
        v = 1 / (1 + numpy_power(v, s.composite_difference_contrast));
        v = 255.f * (1 - smootherstep(v));
        // numpy's cast to uint8 truncates; a 0/0 (no threshold, no change) is taken as 0.
        small.pixels[i] = std::isnan(v) ? 0 : static_cast<uint8_t>(std::clamp(v, 0.f, 255.f));
    }
    Image m = imaging::pil_gaussian_blur(imaging::resize_image(2, small, width, height), 4);
    if (!paste_to) return m;
    // "Only masked": the mask fitted into the crop box (A1111's uncrop), nothing generated outside it.
    const auto& b = *paste_to;
    const Image fitted = imaging::resize_image(1, m, b[2] - b[0], b[3] - b[1]);
    Image full{overlay_w, overlay_h, 1, std::vector<uint8_t>(static_cast<size_t>(overlay_w) * overlay_h, 0)};
    imaging::paste(&full, fitted, b[0], b[1]);
    return full;
}

}  // namespace sdgimp::pipeline
