// Upscaling by name, as A1111 offers it: "Lanczos", "Nearest", a learned model ("ESRGAN thick",
// "ESRGAN medium", "ESRGAN slim": the UpscalerJS models), or the path of a user's ESRGAN /
// Real-ESRGAN .pth or .safetensors (RRDBNet, or the compact SRVGGNet). A learned model runs at its own scale
// (the smallest of x2/x3/x4/x8 that reaches the request) over overlapping tiles, then Lanczos
// brings the result to the exact size.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "../image.h"
#include "../imaging/extras_upscale.h"
#include "../models/ldsr.h"
#include "../models/rrdbnet.h"
#include "../models/srvgg_net.h"
#include "../models/tfjs_graph.h"

namespace sdgimp::pipeline {

struct UpscaleOptions {
    int tile = 192, overlap = 8;  // A1111's ESRGAN tile defaults, in input pixels; tile 0 = untiled
    // A1111's result size: (w * scale, h * scale) rounded down to multiples of 8, reached in up to 3
    // passes. Off: exactly int(w * scale) x int(h * scale), what an image editor expects.
    bool a1111_size = false;
    // Tiles on all cores at once (the same pixels either way) from this many threads up; below, one
    // tile after another with each layer split over the threads. On 2 cores the latter measured
    // 1.13x faster (esrgan-thick x4 on 512x512: 16.6 s against 18.7 s); a 192-px tile has too
    // little work per layer to split well over many cores (not measured here: `bench --what
    // upscaler --image-size N` compares the two on any machine).
    bool parallel_tiles = true;
    int parallel_tiles_min_threads = 3;
    // LDSR (an LDSR model.ckpt / .safetensors path): A1111's "LDSR processing steps" (ldsr_steps),
    // and the seed of its noise (A1111 draws it from torch's global generator).
    int ldsr_steps = 100;
    uint64_t ldsr_seed = 0;
    std::function<void(int done, int total)> progress;
    std::function<bool()> cancelled;
};

// One tile through an ESRGAN-style network as A1111 feeds it: [0, 1] floats in BGR order, the
// output clamped, x 255, rounded half to even, back to RGB.
Image run_bgr_net_tile(const Image& tile, const std::function<torch::Tensor(const torch::Tensor&)>& net);

// A1111's tiled_upscale_2 (its SwinIR path): the whole image as BGR floats, tiles of min(tile, h, w)
// every tile - overlap pixels (the last flush with the edge) through the network, the outputs
// summed and divided by how many tiles covered each pixel, then clamped, x 255, rounded half to even.
Image weighted_tiles_pass(const Image& rgb, int model_scale, int tile, int overlap,
                          const std::function<torch::Tensor(const torch::Tensor&)>& net, const UpscaleOptions& opt);

// A1111's tiled pass (split_grid with zero fill, then combine_grid at model_scale); tile 0 runs whole.
Image tiled_pass(const Image& rgb, int model_scale, const std::function<Image(const Image&)>& run_tile, const UpscaleOptions& opt);

class Upscalers {
public:
    // Throws the sentence upscale() would for a name it does not know or a model file that is not
    // there, without loading anything (so a long run can refuse before it starts).
    static void check_name(const std::string& upscaler);
    // Throws sdgimp::Error naming an unknown upscaler or a missing model package.
    Image upscale(const Image& rgb, const std::string& upscaler, double scale, const UpscaleOptions& opt = {});

private:
    const models::TfjsGraph& graph(const std::string& family, int scale);
    // A user's model file, either architecture, as A1111 calls it (spandrel's padding included).
    struct FileNet {
        int scale = 4;
        std::function<torch::Tensor(const torch::Tensor&)> forward;
        bool weighted_tiles = false;  // SwinIR, SCUNet: A1111's tiled_upscale_2 instead of split_grid tiles
        int tile = 0;                 // its own tile size in A1111 (SCUNET_tile 256); 0: the options'
    };
    const FileNet& file_net(const std::string& path);
    // The LDSR model in that file, or nullptr when the file holds another kind of network.
    models::Ldsr* ldsr_model(const std::string& path);
    std::map<std::string, std::unique_ptr<models::Ldsr>> ldsr_cache_;
    std::map<std::string, std::unique_ptr<models::TfjsGraph>> cache_;
    std::map<std::string, std::unique_ptr<FileNet>> pth_cache_;
};

// A1111's resize_image (mode "just resize") with an upscaler, as its Hires. fix uses it: "None"
// is Lanczos straight to width x height; any other enlarges by max(width / w, height / h) through
// the upscaler at A1111's sizes, then Lanczos to exactly width x height.
Image resize_with_upscaler(Upscalers& upscalers, const Image& rgb, const std::string& upscaler, int width, int height,
                           const UpscaleOptions& opt = {});

// A1111's Extras upscale (postprocessing_upscale.py's process): Upscaler 1 by the planned factor at
// A1111's sizes (a factor below 1 is Lanczos to that size, as its Upscaler does), centred on the crop
// canvas when "Scale to" crops, then Upscaler 2 the same way blended in at its visibility (PIL's
// Image.blend). file_1 / file_2: the upscalers as Upscalers::upscale takes them (s keeps the names
// A1111 records). *info: its keys as text; empty, and the image unchanged, when Upscaler 1 is "None".
Image extras_upscale(Upscalers& upscalers, const Image& rgb, const imaging::ExtrasUpscaleSettings& s, const std::string& file_1,
                     const std::string& file_2, const UpscaleOptions& opt, std::string* info);

}  // namespace sdgimp::pipeline
