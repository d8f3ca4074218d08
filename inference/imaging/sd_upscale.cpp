#include "sd_upscale.h"

#include "../status.h"
#include "grid.h"
#include "resample.h"

namespace sdgimp::imaging {

std::vector<Image> sd_upscale_tiles(const Image& upscaled, const SdUpscaleSettings& s, const TileBatchFn& process) {
    if (s.batch_size < 1 || s.batch_count < 1) throw Error(ErrorCode::kInvalidRequest, "Batch size and count must be at least 1.");
    std::vector<Image> results;
    int index = 0;
    for (int pass = 0; pass < s.batch_count; ++pass) {
        Grid grid = split_grid(upscaled, s.tile_w, s.tile_h, s.overlap);
        std::vector<Image*> tiles;
        for (auto& row : grid.rows)
            for (auto& t : row.tiles) tiles.push_back(&t.tile);
        int64_t start_seed = s.seed + pass;
        for (size_t b = 0; b < tiles.size(); b += static_cast<size_t>(s.batch_size)) {
            std::vector<Image> batch;
            for (size_t k = b; k < std::min(tiles.size(), b + static_cast<size_t>(s.batch_size)); ++k) batch.push_back(*tiles[k]);
            const std::vector<Image> out = process(batch, start_seed, index);
            if (out.size() != batch.size()) throw Error(ErrorCode::kInternal, "A tile batch came back with the wrong number of images.");
            for (size_t k = 0; k < out.size(); ++k) *tiles[b + k] = out[k];
            index += static_cast<int>(batch.size());
            // A1111 starts the next batch one after this batch's first seed.
            start_seed += 1;
        }
        results.push_back(combine_grid(grid));
    }
    return results;
}

Image sd_upscale_resize_target(const Image& upscaled, int orig_w, int orig_h, double scale) {
    const int w = static_cast<int>(orig_w * scale) / 8 * 8, h = static_cast<int>(orig_h * scale) / 8 * 8;
    if (upscaled.width == w && upscaled.height == h) return upscaled;
    return resize(upscaled, w, h, Filter::kLanczos);
}

}  // namespace sdgimp::imaging
