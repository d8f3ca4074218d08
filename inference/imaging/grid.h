// A1111's image grid for tiled processing (modules/images.split_grid / combine_grid): tiles with
// overlap, recombined through linear ramps so the seams disappear.
#pragma once

#include <vector>

#include "../image.h"

namespace sdgimp::imaging {

struct GridTile {
    int x = 0, w = 0;
    Image tile;
};
struct GridRow {
    int y = 0, h = 0;
    std::vector<GridTile> tiles;
};
struct Grid {
    int tile_w = 0, tile_h = 0, image_w = 0, image_h = 0, overlap = 0;
    std::vector<GridRow> rows;
};

// RGB images; tiles reaching past a small image are padded with black, as PIL's crop does.
Grid split_grid(const Image& img, int tile_w, int tile_h, int overlap);
Image combine_grid(const Grid& g);

}  // namespace sdgimp::imaging
