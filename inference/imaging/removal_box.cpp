#include "removal_box.h"

#include <algorithm>
#include <cstdlib>

#include "../status.h"

namespace sdgimp::imaging {

Box removal_crop(const Box& bounds, int img_w, int img_h, int margin) {
    const int cx = (bounds[0] + bounds[2]) / 2, cy = (bounds[1] + bounds[3]) / 2;
    const int w = bounds[2] - bounds[0] + margin * 2, h = bounds[3] - bounds[1] + margin * 2;
    const int l_ = cx - w / 2, r_ = cx + w / 2, t_ = cy - h / 2, b_ = cy + h / 2;
    int l = std::max(l_, 0), r = std::min(r_, img_w), t = std::max(t_, 0), b = std::min(b_, img_h);
    // Near an edge, take the missing context from the other side.
    if (l_ < 0) r += -l_;
    if (r_ > img_w) l -= r_ - img_w;
    if (t_ < 0) b += -t_;
    if (b_ > img_h) t -= b_ - img_h;
    return Box{std::max(l, 0), std::max(t, 0), std::min(r, img_w), std::min(b, img_h)};
}

Image pad_symmetric(const Image& img, int mod) {
    const int w = (img.width + mod - 1) / mod * mod, h = (img.height + mod - 1) / mod * mod;
    if (w - img.width > img.width || h - img.height > img.height)
        throw Error(ErrorCode::kInvalidRequest, "The area to remove is too small to pad; select a larger area.");
    auto mirror = [](int i, int n) { return i < n ? i : 2 * n - 1 - i; };
    Image out{w, h, img.channels, std::vector<uint8_t>(static_cast<size_t>(w) * h * img.channels)};
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < img.channels; ++c)
                out.pixels[(static_cast<size_t>(y) * w + x) * img.channels + c] =
                    img.pixels[(static_cast<size_t>(mirror(y, img.height)) * img.width + mirror(x, img.width)) * img.channels + c];
    return out;
}

std::string default_lama_path() {
    if (const char* e = std::getenv("GIMP_DIFFUSION_LAMA"); e && *e) return e;
    std::string data;
    if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) data = x;
    else data = std::string(std::getenv("HOME") ? std::getenv("HOME") : ".") + "/.local/share";
    return data + "/gimp-diffusion/models/big-lama.pt";
}

}  // namespace sdgimp::imaging
