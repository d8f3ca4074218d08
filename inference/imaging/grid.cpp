#include "grid.h"

#include <cmath>

#include "../status.h"
#include "inpaint_prep.h"

namespace sdgimp::imaging {

Grid split_grid(const Image& img, int tile_w, int tile_h, int overlap) {
    if (tile_w <= overlap || tile_h <= overlap || overlap < 0)
        throw Error(ErrorCode::kInvalidRequest, "Tiles must be larger than their overlap.");
    Grid g;
    g.tile_w = tile_w;
    g.tile_h = tile_h;
    g.image_w = img.width;
    g.image_h = img.height;
    g.overlap = overlap;
    const int w = img.width, h = img.height;
    const int cols = std::max(1, static_cast<int>(std::ceil(static_cast<double>(w - overlap) / (tile_w - overlap))));
    const int rows = std::max(1, static_cast<int>(std::ceil(static_cast<double>(h - overlap) / (tile_h - overlap))));
    const double dx = cols > 1 ? static_cast<double>(w - tile_w) / (cols - 1) : 0;
    const double dy = rows > 1 ? static_cast<double>(h - tile_h) / (rows - 1) : 0;
    for (int r = 0; r < rows; ++r) {
        GridRow row;
        int y = static_cast<int>(r * dy);
        if (y + tile_h >= h) y = h - tile_h;
        row.y = y;
        row.h = tile_h;
        for (int c = 0; c < cols; ++c) {
            int x = static_cast<int>(c * dx);
            if (x + tile_w >= w) x = w - tile_w;
            row.tiles.push_back({x, tile_w, crop(to_rgb(img), {x, y, x + tile_w, y + tile_h})});
        }
        g.rows.push_back(std::move(row));
    }
    return g;
}

namespace {

uint8_t blend(int dst, int src, int m) {  // PIL's paste through an L mask
    const int t = dst * (255 - m) + src * m + 128;
    return static_cast<uint8_t>((t + (t >> 8)) >> 8);
}

}  // namespace

Image combine_grid(const Grid& g) {
    const int ov = g.overlap;
    std::vector<uint8_t> ramp(static_cast<size_t>(std::max(ov, 1)));
    for (int i = 0; i < ov; ++i) ramp[static_cast<size_t>(i)] = static_cast<uint8_t>(static_cast<float>(i) * 255.0f / static_cast<float>(ov));
    Image out{g.image_w, g.image_h, 3, std::vector<uint8_t>(static_cast<size_t>(g.image_w) * g.image_h * 3, 0)};
    for (const GridRow& row : g.rows) {
        Image line{g.image_w, row.h, 3, std::vector<uint8_t>(static_cast<size_t>(g.image_w) * row.h * 3, 0)};
        for (const GridTile& t : row.tiles) {
            for (int y = 0; y < row.h; ++y)
                for (int x = 0; x < t.w; ++x) {
                    const int dx = t.x + x;
                    if (dx < 0 || dx >= g.image_w) continue;
                    const uint8_t* s = &t.tile.pixels[(static_cast<size_t>(y) * t.tile.width + x) * 3];
                    uint8_t* d = &line.pixels[(static_cast<size_t>(y) * g.image_w + dx) * 3];
                    for (int c = 0; c < 3; ++c)
                        d[c] = (t.x == 0 || x >= ov) ? s[c] : blend(d[c], s[c], ramp[static_cast<size_t>(x)]);
                }
        }
        for (int y = 0; y < row.h; ++y) {
            const int dy = row.y + y;
            if (dy < 0 || dy >= g.image_h) continue;
            for (int x = 0; x < g.image_w; ++x) {
                const uint8_t* s = &line.pixels[(static_cast<size_t>(y) * g.image_w + x) * 3];
                uint8_t* d = &out.pixels[(static_cast<size_t>(dy) * g.image_w + x) * 3];
                for (int c = 0; c < 3; ++c) d[c] = (row.y == 0 || y >= ov) ? s[c] : blend(d[c], s[c], ramp[static_cast<size_t>(y)]);
            }
        }
    }
    return out;
}

}  // namespace sdgimp::imaging
