// A1111's "SD upscale" script as a driver: the upscaled image split into overlapping tiles, the
// tiles sent through img2img in batches with A1111's seed order, the results recombined.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "../image.h"

namespace sdgimp::imaging {

struct SdUpscaleSettings {
    int tile_w = 512, tile_h = 512, overlap = 64;
    int batch_size = 1, batch_count = 1;
    int64_t seed = 0;
};

// Processes the tiles of one batch: returns one image per tile, the batch's image j seeded
// batch_seed + j. first_index counts tiles across passes.
using TileBatchFn = std::function<std::vector<Image>(const std::vector<Image>& tiles, int64_t batch_seed, int first_index)>;

// One recombined image per pass (batch_count passes; pass n starts at seed + n).
std::vector<Image> sd_upscale_tiles(const Image& upscaled, const SdUpscaleSettings& s, const TileBatchFn& process);

// The script's resize rule: to int(w*scale), int(h*scale), then down to multiples of 8 if needed.
Image sd_upscale_resize_target(const Image& upscaled, int orig_w, int orig_h, double scale);

}  // namespace sdgimp::imaging
