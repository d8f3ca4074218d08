#include "upscale.h"

#include <cctype>

#include <cmath>

#include "../imaging/grid.h"
#include "../imaging/inpaint_prep.h"
#include "../imaging/resample.h"
#include "../status.h"
#include "../upscalers.h"

namespace sdgimp::pipeline {

const models::TfjsGraph& Upscalers::graph(const std::string& family, int scale) {
    const std::string path = upscaler_model_path(family, scale);
    auto& slot = cache_[path];
    if (!slot) slot = std::make_unique<models::TfjsGraph>(models::TfjsGraph::load(path));
    return *slot;
}

const models::RRDBNet& Upscalers::esrgan(const std::string& path) {
    auto& slot = pth_cache_[path];
    if (!slot) slot = std::make_unique<models::RRDBNet>(models::RRDBNet::load(path));
    return *slot;
}

namespace {

bool is_model_file(const std::string& s) {
    for (const char* ext : {".pth", ".safetensors", ".ckpt"}) {
        const std::string e = ext;
        if (s.size() > e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0) return true;
    }
    return false;
}

}  // namespace

Image Upscalers::upscale(const Image& in, const std::string& upscaler, double scale, const UpscaleOptions& opt) {
    if (!in.valid()) throw Error(ErrorCode::kInvalidRequest, "Cannot upscale an empty image.");
    if (!(scale >= 1.0 && scale <= 8.0)) throw Error(ErrorCode::kInvalidRequest, "Scale must be between 1 and 8.");
    const Image rgb = imaging::to_rgb(in);
    const int tw = static_cast<int>(rgb.width * scale), th = static_cast<int>(rgb.height * scale);
    std::string lower = upscaler;
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower == "lanczos") return imaging::resize(rgb, tw, th, imaging::Filter::kLanczos);
    if (lower == "nearest") return imaging::resize(rgb, tw, th, imaging::Filter::kNearest);
    std::function<Image(const Image&)> run_tile;
    int model_scale = 1;
    if (is_model_file(upscaler)) {
        const auto& net = esrgan(upscaler);
        model_scale = net.scale();
        run_tile = [&net](const Image& tile) {
            auto t = torch::from_blob(const_cast<uint8_t*>(tile.pixels.data()), {tile.height, tile.width, 3}, torch::kUInt8);
            auto x = t.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat) / 255.0;
            auto y = torch::round(net.forward_padded(x)[0].permute({1, 2, 0}) * 255).clamp(0, 255).to(torch::kUInt8).contiguous();
            return Image{static_cast<int>(y.size(1)), static_cast<int>(y.size(0)), 3,
                         std::vector<uint8_t>(y.data_ptr<uint8_t>(), y.data_ptr<uint8_t>() + y.numel())};
        };
    } else {
    // "ESRGAN thick", "esrgan-thick" or "esrgan-thick-x4" (a fixed model scale, then resized to `scale`).
    std::string family;
    int fixed_scale = 0;
    for (const char* f : {"thick", "medium", "slim"}) {
        const std::string dashed = std::string("esrgan-") + f;
        if (lower == std::string("esrgan ") + f || lower == dashed) family = dashed;
        for (int s : {2, 3, 4, 8})
            if (lower == dashed + "-x" + std::to_string(s)) {
                family = dashed;
                fixed_scale = s;
            }
    }
    if (family.empty())
        throw Error(ErrorCode::kInvalidRequest, "Unknown upscaler \"" + upscaler +
                                                    "\"; use ESRGAN thick, ESRGAN medium, ESRGAN slim (or esrgan-thick-x4 ...), Lanczos, Nearest or an ESRGAN .pth file.");
    model_scale = 8;
    for (int s : {2, 3, 4, 8})
        if (s >= scale - 1e-9) {
            model_scale = s;
            break;
        }
    if (fixed_scale) model_scale = fixed_scale;
    const auto& g = graph(family, model_scale);
    run_tile = [&g](const Image& tile) {
        auto t = torch::from_blob(const_cast<uint8_t*>(tile.pixels.data()), {tile.height, tile.width, 3}, torch::kUInt8);
        auto out = torch::round(models::upscalerjs_run(g, t)).clamp(0, 255).to(torch::kUInt8).contiguous();
        return Image{static_cast<int>(out.size(1)), static_cast<int>(out.size(0)), 3,
                     std::vector<uint8_t>(out.data_ptr<uint8_t>(), out.data_ptr<uint8_t>() + out.numel())};
    };
    }
    Image up;
    if (rgb.width <= opt.tile && rgb.height <= opt.tile) {
        up = run_tile(rgb);
        if (opt.progress) opt.progress(1, 1);
    } else {
        imaging::Grid grid = imaging::split_grid(rgb, opt.tile, opt.tile, opt.overlap);
        int total = 0, done = 0;
        for (const auto& row : grid.rows) total += static_cast<int>(row.tiles.size());
        for (auto& row : grid.rows) {
            for (auto& t : row.tiles) {
                if (opt.cancelled && opt.cancelled()) throw Cancelled();
                t.tile = run_tile(t.tile);
                t.x *= model_scale;
                t.w *= model_scale;
                if (opt.progress) opt.progress(++done, total);
            }
            row.y *= model_scale;
            row.h *= model_scale;
        }
        grid.tile_w *= model_scale;
        grid.tile_h *= model_scale;
        grid.overlap *= model_scale;
        grid.image_w *= model_scale;
        grid.image_h *= model_scale;
        up = imaging::combine_grid(grid);
    }
    if (up.width != tw || up.height != th) up = imaging::resize(up, tw, th, imaging::Filter::kLanczos);
    return up;
}

}  // namespace sdgimp::pipeline
