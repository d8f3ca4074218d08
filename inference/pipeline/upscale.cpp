#include "upscale.h"

#include <algorithm>
#include <cctype>

#include <cmath>
#include <mutex>
#include <unistd.h>

#include <ATen/Parallel.h>

#include "../imaging/grid.h"
#include "../models/blas_threads.h"
#include "../imaging/inpaint_prep.h"
#include "../imaging/resample.h"
#include "../io/checkpoint_file.h"
#include "../models/state_loader.h"
#include "../models/dat.h"
#include "../models/scunet.h"
#include "../models/swinir.h"
#include "../status.h"
#include "../upscalers.h"

namespace sdgimp::pipeline {

const models::TfjsGraph& Upscalers::graph(const std::string& family, int scale) {
    const std::string path = upscaler_model_path(family, scale);
    auto& slot = cache_[path];
    if (!slot) slot = std::make_unique<models::TfjsGraph>(models::TfjsGraph::load(path));
    return *slot;
}

const Upscalers::FileNet& Upscalers::file_net(const std::string& path) {
    auto& slot = pth_cache_[path];
    if (slot) return *slot;
    // The layout decides, as spandrel's detection does: a compact model's body.1 is a PReLU.
    std::map<std::string, torch::Tensor> keys;
    for (const auto& [k, t] : io::open_checkpoint(path).tensors) keys[k] = models::to_torch(t);
    auto net = std::make_unique<FileNet>();
    if (models::SCUNet::is_layout(keys)) {
        auto scunet = std::make_shared<models::SCUNet>(models::SCUNet::from_tensors(keys, path));
        net->scale = 1;
        net->forward = [scunet](const torch::Tensor& x) { return scunet->forward(x.to(torch::kFloat)); };
        net->weighted_tiles = true;
        net->tile = 256;
    } else if (models::DAT::is_layout(keys)) {
        // A1111 runs DAT through upscale_with_model: split_grid tiles (DAT_tile 192, overlap 8).
        auto dat = std::make_shared<models::DAT>(models::DAT::from_tensors(keys, path));
        net->scale = dat->scale();
        net->forward = [dat](const torch::Tensor& x) { return dat->forward(x.to(torch::kFloat)); };
    } else if (models::SwinIR::is_layout(keys)) {
        auto swin = std::make_shared<models::SwinIR>(models::SwinIR::from_tensors(keys, path));
        net->scale = swin->scale();
        net->forward = [swin](const torch::Tensor& x) { return swin->forward(x.to(torch::kFloat)); };
        net->weighted_tiles = true;
    } else if (models::SRVGGNet::is_layout(keys)) {
        auto compact = std::make_shared<models::SRVGGNet>(models::SRVGGNet::load(path));
        net->scale = compact->scale();
        net->forward = [compact](const torch::Tensor& x) { return compact->forward(x); };
    } else {
        auto rrdb = std::make_shared<models::RRDBNet>(models::RRDBNet::load(path));
        net->scale = rrdb->scale();
        net->forward = [rrdb](const torch::Tensor& x) { return rrdb->forward_padded(x); };
    }
    slot = std::move(net);
    return *slot;
}

models::Ldsr* Upscalers::ldsr_model(const std::string& path) {
    if (auto it = ldsr_cache_.find(path); it != ldsr_cache_.end()) return it->second.get();
    if (!models::Ldsr::is_layout(io::open_checkpoint(path).tensors)) return nullptr;
    return (ldsr_cache_[path] = models::Ldsr::load(path)).get();
}

namespace {

bool is_model_file(const std::string& s) {
    for (const char* ext : {".pth", ".safetensors", ".ckpt"}) {
        const std::string e = ext;
        if (s.size() > e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0) return true;
    }
    return false;
}

// "esrgan-thick" for "ESRGAN thick", "esrgan-thick" or "esrgan-thick-x4" (lower case; *fixed_scale
// gets the -xN), "" for any other name.
std::string model_family(const std::string& lower, int* fixed_scale) {
    std::string family;
    for (const char* f : {"thick", "medium", "slim"}) {
        const std::string dashed = std::string("esrgan-") + f;
        if (lower == std::string("esrgan ") + f || lower == dashed) family = dashed;
        for (int s2 : {2, 3, 4, 8})
            if (lower == dashed + "-x" + std::to_string(s2)) {
                family = dashed;
                *fixed_scale = s2;
            }
    }
    return family;
}

Error unknown_upscaler(const std::string& upscaler) {
    return Error(ErrorCode::kInvalidRequest, "Unknown upscaler \"" + upscaler +
                                                 "\"; use ESRGAN thick, ESRGAN medium, ESRGAN slim (or esrgan-thick-x4 ...), Lanczos, Nearest or an ESRGAN .pth file.");
}

std::string lower_case(std::string s) {
    for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
}

}  // namespace

void Upscalers::check_name(const std::string& upscaler) {
    const std::string lower = lower_case(upscaler);
    if (lower == "lanczos" || lower == "nearest") return;
    if (is_model_file(upscaler)) {
        if (::access(upscaler.c_str(), R_OK) != 0)
            throw Error(ErrorCode::kModelNotFound, "The upscaler model " + upscaler + " cannot be read; check the path.");
        return;
    }
    int fixed = 0;
    if (model_family(lower, &fixed).empty()) throw unknown_upscaler(upscaler);
}

Image resize_with_upscaler(Upscalers& upscalers, const Image& rgb, const std::string& upscaler, int width, int height,
                           const UpscaleOptions& opt) {
    if (upscaler == "None") return imaging::resize(imaging::to_rgb(rgb), width, height, imaging::Filter::kLanczos);
    const double scale = std::max(static_cast<double>(width) / rgb.width, static_cast<double>(height) / rgb.height);
    Image img = imaging::to_rgb(rgb);
    if (scale > 1.0) {
        UpscaleOptions o = opt;
        o.a1111_size = true;
        img = upscalers.upscale(img, upscaler, scale, o);
    }
    if (img.width != width || img.height != height) img = imaging::resize(img, width, height, imaging::Filter::kLanczos);
    return img;
}

Image extras_upscale(Upscalers& upscalers, const Image& rgb, const imaging::ExtrasUpscaleSettings& s, const std::string& file_1,
                     const std::string& file_2, const UpscaleOptions& opt, std::string* info) {
    imaging::validate_extras_upscale(s);
    const Image img = imaging::to_rgb(rgb);
    if (info) info->clear();
    if (s.upscaler_1 == "None") return img;
    const imaging::ExtrasUpscaleCall call = imaging::plan_extras_upscale(img.width, img.height, s);
    auto one = [&](const std::string& file) {
        Image up;
        if (call.factor >= 1.0) {
            UpscaleOptions o = opt;
            o.a1111_size = true;
            up = upscalers.upscale(img, file, call.factor, o);
        } else {
            // A1111's Upscaler skips its model below 1x and resizes to the multiple-of-8 size.
            const int w = static_cast<int>(std::floor(img.width * call.factor / 8) * 8);
            const int h = static_cast<int>(std::floor(img.height * call.factor / 8) * 8);
            if (w < 1 || h < 1) throw Error(ErrorCode::kInvalidRequest, "The image is too small for that size; choose a larger one.");
            up = imaging::resize(img, w, h, imaging::Filter::kLanczos);
        }
        return call.crop ? imaging::paste_centered(up, call.crop_w, call.crop_h) : up;
    };
    auto keys = call.info;
    Image out = one(file_1);
    keys.emplace_back("Postprocess upscaler", s.upscaler_1);
    if (s.upscaler_2 != "None" && !s.upscaler_2.empty() && s.upscaler_2_visibility > 0) {
        out = imaging::pil_blend(out, one(file_2), s.upscaler_2_visibility);
        keys.emplace_back("Postprocess upscaler 2", s.upscaler_2);
    }
    if (info) *info = imaging::extras_info_text(keys);
    return out;
}

Image run_bgr_net_tile(const Image& tile, const std::function<torch::Tensor(const torch::Tensor&)>& net) {
    // A1111 (upscaler_utils): uint8 / 255 in float64, then the model's float32; channels flipped to BGR.
    auto t = torch::from_blob(const_cast<uint8_t*>(tile.pixels.data()), {tile.height, tile.width, 3}, torch::kUInt8);
    auto x = (t.to(torch::kDouble) / 255.0).to(torch::kFloat).flip({2}).permute({2, 0, 1}).unsqueeze(0).contiguous();
    torch::Tensor y;
    {
        torch::NoGradGuard ng;
        y = net(x);
    }
    // clamp to [0, 1], x 255 in float32, round half to even, back to RGB.
    auto px = torch::round(y[0].to(torch::kFloat).clamp(0, 1).permute({1, 2, 0}) * 255.0f).to(torch::kUInt8).flip({2}).contiguous();
    return Image{static_cast<int>(px.size(1)), static_cast<int>(px.size(0)), 3,
                 std::vector<uint8_t>(px.data_ptr<uint8_t>(), px.data_ptr<uint8_t>() + px.numel())};
}

Image weighted_tiles_pass(const Image& rgb, int model_scale, int tile, int overlap,
                          const std::function<torch::Tensor(const torch::Tensor&)>& net, const UpscaleOptions& opt) {
    auto t = torch::from_blob(const_cast<uint8_t*>(rgb.pixels.data()), {rgb.height, rgb.width, 3}, torch::kUInt8);
    const torch::Tensor img = (t.to(torch::kDouble) / 255.0).to(torch::kFloat).flip({2}).permute({2, 0, 1}).unsqueeze(0).contiguous();
    const int64_t h = rgb.height, w = rgb.width, s = model_scale;
    torch::Tensor out;
    if (tile <= 0) {
        torch::NoGradGuard ng;
        out = net(img);
        if (opt.progress) opt.progress(1, 1);
    } else {
        const int64_t ts = std::min<int64_t>({tile, h, w});
        const int64_t stride = ts - overlap;
        if (stride <= 0) throw Error(ErrorCode::kInvalidRequest, "The SwinIR tile overlap must be smaller than the tile.");
        // Python's range(0, h - tile, stride) + [h - tile].
        auto starts = [&](int64_t n) {
            std::vector<int64_t> v;
            for (int64_t i = 0; i < n - ts; i += stride) v.push_back(i);
            v.push_back(n - ts);
            return v;
        };
        const auto hs = starts(h), ws = starts(w);
        torch::Tensor result = torch::zeros({1, 3, h * s, w * s}), weights = torch::zeros_like(result);
        int done = 0;
        const int total = static_cast<int>(hs.size() * ws.size());
        for (int64_t y : hs)
            for (int64_t x : ws) {
                if (opt.cancelled && opt.cancelled()) throw Cancelled();
                torch::Tensor patch;
                {
                    torch::NoGradGuard ng;
                    patch = net(img.slice(2, y, y + ts).slice(3, x, x + ts)).to(torch::kFloat);
                }
                result.slice(2, y * s, (y + ts) * s).slice(3, x * s, (x + ts) * s).add_(patch);
                weights.slice(2, y * s, (y + ts) * s).slice(3, x * s, (x + ts) * s).add_(1.0f);
                if (opt.progress) opt.progress(++done, total);
            }
        out = result.div_(weights);
    }
    auto px = torch::round(out[0].to(torch::kFloat).clamp(0, 1).permute({1, 2, 0}) * 255.0f).to(torch::kUInt8).flip({2}).contiguous();
    return Image{static_cast<int>(px.size(1)), static_cast<int>(px.size(0)), 3,
                 std::vector<uint8_t>(px.data_ptr<uint8_t>(), px.data_ptr<uint8_t>() + px.numel())};
}

Image tiled_pass(const Image& rgb, int model_scale, const std::function<Image(const Image&)>& run_tile, const UpscaleOptions& opt) {
    if (opt.tile <= 0) {
        Image up = run_tile(rgb);
        if (opt.progress) opt.progress(1, 1);
        return up;
    }
    // A1111 tiles even an image smaller than one tile (its content then sits bottom-right, black around).
    imaging::Grid grid = imaging::split_grid(rgb, opt.tile, opt.tile, opt.overlap);
    std::vector<imaging::GridTile*> tiles;
    for (auto& row : grid.rows)
        for (auto& t : row.tiles) tiles.push_back(&t);
    const int total = static_cast<int>(tiles.size());
    int done = 0;
    std::mutex callbacks;  // progress and cancel are the caller's, not necessarily thread-safe
    auto run_one = [&](size_t i) {
        // Grad mode is per thread, and parallel_for's worker threads start with it on.
        torch::NoGradGuard ng;
        {
            std::lock_guard<std::mutex> lock(callbacks);
            if (opt.cancelled && opt.cancelled()) throw Cancelled();
        }
        tiles[i]->tile = run_tile(tiles[i]->tile);
        std::lock_guard<std::mutex> lock(callbacks);
        if (opt.progress) opt.progress(++done, total);
    };
    if (opt.parallel_tiles && total > 1 && at::get_num_threads() >= std::max(2, opt.parallel_tiles_min_threads)) {
        // One tile per thread, each tile's convolutions on that one thread: on big images this beats
        // splitting every convolution over the cores (no per-layer synchronisation). Same pixels.
        const models::SingleThreadedBlas blas_guard(true);
        at::parallel_for(0, total, 1, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) run_one(static_cast<size_t>(i));
        });
    } else {
        for (size_t i = 0; i < tiles.size(); ++i) run_one(i);
    }
    for (auto& row : grid.rows) {
        for (auto& t : row.tiles) {
            t.x *= model_scale;
            t.w *= model_scale;
        }
        row.y *= model_scale;
        row.h *= model_scale;
    }
    grid.tile_w *= model_scale;
    grid.tile_h *= model_scale;
    grid.overlap *= model_scale;
    grid.image_w *= model_scale;
    grid.image_h *= model_scale;
    return imaging::combine_grid(grid);
}

Image Upscalers::upscale(const Image& in, const std::string& upscaler, double scale, const UpscaleOptions& opt) {
    if (!in.valid()) throw Error(ErrorCode::kInvalidRequest, "Cannot upscale an empty image.");
    // A1111's sizes allow more: its passes repeat the model (up to 3 times) where Hires. fix asks for it.
    const double max_scale = opt.a1111_size ? 64.0 : 8.0;
    if (!(scale >= 1.0 && scale <= max_scale))
        throw Error(ErrorCode::kInvalidRequest, "Scale must be between 1 and " + std::to_string(static_cast<int>(max_scale)) + ".");
    const Image rgb = imaging::to_rgb(in);
    const std::string lower = lower_case(upscaler);
    // One pass of the chosen upscaler at its own scale.
    std::function<Image(const Image&)> pass;
    if (lower == "lanczos" || lower == "nearest") {
        const auto filter = lower == "lanczos" ? imaging::Filter::kLanczos : imaging::Filter::kNearest;
        pass = [scale, filter](const Image& img) {
            return imaging::resize(img, static_cast<int>(img.width * scale), static_cast<int>(img.height * scale), filter);
        };
    } else if (models::Ldsr* ldsr = is_model_file(upscaler) ? ldsr_model(upscaler) : nullptr) {
        // A1111 hands LDSR the whole scale at every pass (its do_upscale reads self.scale).
        pass = [ldsr, scale, &opt](const Image& img) {
            models::LdsrRun run;
            run.steps = opt.ldsr_steps;
            run.seed = opt.ldsr_seed;
            run.progress = opt.progress;
            run.cancelled = opt.cancelled;
            return ldsr->super_resolution(img, scale, run);
        };
    } else if (is_model_file(upscaler)) {
        const FileNet& net = file_net(upscaler);
        pass = [&net, &opt](const Image& img) {
            // A1111's SWIN_tile / SWIN_tile_overlap defaults: 192 and 8, as the ESRGAN ones.
            if (net.weighted_tiles)
                return weighted_tiles_pass(img, net.scale, opt.tile > 0 && net.tile > 0 ? net.tile : opt.tile, opt.overlap, net.forward, opt);
            return tiled_pass(img, net.scale, [&net](const Image& tile) { return run_bgr_net_tile(tile, net.forward); }, opt);
        };
    } else {
        // "ESRGAN thick", "esrgan-thick" or "esrgan-thick-x4" (a fixed model scale, then resized to `scale`).
        int fixed_scale = 0;
        const std::string family = model_family(lower, &fixed_scale);
        if (family.empty()) throw unknown_upscaler(upscaler);
        int model_scale = 8;
        for (int s2 : {2, 3, 4, 8})
            if (s2 >= scale - 1e-9) {
                model_scale = s2;
                break;
            }
        if (fixed_scale) model_scale = fixed_scale;
        const auto& g = graph(family, model_scale);
        auto run_tile = [&g](const Image& tile) {
            auto t = torch::from_blob(const_cast<uint8_t*>(tile.pixels.data()), {tile.height, tile.width, 3}, torch::kUInt8);
            auto out = torch::round(models::upscalerjs_run(g, t)).clamp(0, 255).to(torch::kUInt8).contiguous();
            return Image{static_cast<int>(out.size(1)), static_cast<int>(out.size(0)), 3,
                         std::vector<uint8_t>(out.data_ptr<uint8_t>(), out.data_ptr<uint8_t>() + out.numel())};
        };
        pass = [model_scale, run_tile, &opt](const Image& img) {
            // Small images go through whole; the UpscalerJS models need no black border.
            if (img.width <= opt.tile && img.height <= opt.tile) {
                Image up = run_tile(img);
                if (opt.progress) opt.progress(1, 1);
                return up;
            }
            return tiled_pass(img, model_scale, run_tile, opt);
        };
    }
    if (!opt.a1111_size) {
        Image up = pass(rgb);
        const int tw = static_cast<int>(rgb.width * scale), th = static_cast<int>(rgb.height * scale);
        if (up.width != tw || up.height != th) up = imaging::resize(up, tw, th, imaging::Filter::kLanczos);
        return up;
    }
    // A1111's Upscaler.upscale: passes until the size reaches (w * scale, h * scale) rounded down to
    // multiples of 8 (at most 3), then Lanczos to exactly that.
    const int dw = static_cast<int>(rgb.width * scale) / 8 * 8, dh = static_cast<int>(rgb.height * scale) / 8 * 8;
    Image img = rgb;
    for (int i = 0; i < 3; ++i) {
        if (img.width >= dw && img.height >= dh && (i > 0 || scale != 1)) break;
        const int pw = img.width, ph = img.height;
        img = pass(img);
        if (img.width == pw && img.height == ph) break;
    }
    if (img.width != dw || img.height != dh) img = imaging::resize(img, dw, dh, imaging::Filter::kLanczos);
    return img;
}

}  // namespace sdgimp::pipeline
