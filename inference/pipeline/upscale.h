// Upscaling by name, as A1111 offers it: "Lanczos", "Nearest", a learned model ("ESRGAN thick",
// "ESRGAN medium", "ESRGAN slim": the UpscalerJS models), or the path of a user's ESRGAN /
// Real-ESRGAN .pth or .safetensors. A learned model runs at its own scale
// (the smallest of x2/x3/x4/x8 that reaches the request) over overlapping tiles, then Lanczos
// brings the result to the exact size.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "../image.h"
#include "../models/rrdbnet.h"
#include "../models/tfjs_graph.h"

namespace sdgimp::pipeline {

struct UpscaleOptions {
    int tile = 192, overlap = 8;  // A1111's ESRGAN tile defaults, in input pixels
    std::function<void(int done, int total)> progress;
    std::function<bool()> cancelled;
};

class Upscalers {
public:
    // Throws sdgimp::Error naming an unknown upscaler or a missing model package.
    Image upscale(const Image& rgb, const std::string& upscaler, double scale, const UpscaleOptions& opt = {});

private:
    const models::TfjsGraph& graph(const std::string& family, int scale);
    const models::RRDBNet& esrgan(const std::string& path);
    std::map<std::string, std::unique_ptr<models::TfjsGraph>> cache_;
    std::map<std::string, std::unique_ptr<models::RRDBNet>> pth_cache_;
};

}  // namespace sdgimp::pipeline
