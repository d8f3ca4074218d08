#include "outpaint.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "../status.h"
#include "inpaint_prep.h"

namespace sdgimp::imaging {
namespace {

// The mask of the script: white, with the kept part black. PIL's rectangle includes both corner
// pixels, so the black part ends one pixel past the image on a side that grows without a blur.
Image border_mask(int w, int h, int x0, int y0, int x1, int y1) {
    Image m{w, h, 1, std::vector<uint8_t>(static_cast<size_t>(w) * h, 255)};
    for (int y = std::max(0, y0); y <= std::min(h - 1, y1); ++y)
        for (int x = std::max(0, x0); x <= std::min(w - 1, x1); ++x) m.pixels[static_cast<size_t>(y) * w + x] = 0;
    return m;
}

Image first_channel(const Image& rgb) {
    Image g{rgb.width, rgb.height, 1, std::vector<uint8_t>(static_cast<size_t>(rgb.width) * rgb.height)};
    for (size_t i = 0; i < g.pixels.size(); ++i) g.pixels[i] = rgb.pixels[i * rgb.channels];
    return g;
}

}  // namespace

void set_outpaint_directions(const std::string& list, OutpaintSettings* s) {
    s->left = s->right = s->up = s->down = false;
    std::string word;
    auto take = [&] {
        if (word.empty()) return;
        std::string w;
        for (char c : word) w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (w == "left") s->left = true;
        else if (w == "right") s->right = true;
        else if (w == "up") s->up = true;
        else if (w == "down") s->down = true;
        else throw Error(ErrorCode::kInvalidRequest, "Unknown outpainting direction \"" + word + "\"; use left, right, up and down.");
        word.clear();
    };
    for (char c : list) {
        if (c == ',' || std::isspace(static_cast<unsigned char>(c))) take();
        else word += c;
    }
    take();
}

std::string outpaint_directions(const OutpaintSettings& s) {
    std::string out;
    for (const auto& [on, name] : {std::pair{s.left, "left"}, {s.right, "right"}, {s.up, "up"}, {s.down, "down"}})
        if (on) out += (out.empty() ? "" : ",") + std::string(name);
    return out;
}

void validate_outpaint(const OutpaintSettings& s) {
    if (!s.left && !s.right && !s.up && !s.down)
        throw Error(ErrorCode::kInvalidRequest, "Choose at least one outpainting direction: left, right, up or down.");
    if (s.pixels < 8 || s.pixels > 256)
        throw Error(ErrorCode::kInvalidRequest, "Pixels to expand must be between 8 and 256.");
    if (s.mask_blur < 0 || s.mask_blur > 64) throw Error(ErrorCode::kInvalidRequest, "The outpainting mask blur must be between 0 and 64.");
    if (s.tile_w <= s.pixels || s.tile_h <= s.pixels)
        throw Error(ErrorCode::kInvalidRequest, "Pixels to expand (" + std::to_string(s.pixels) +
                                                    ") must be smaller than the width and height of the tiles; expand by less or make the tiles larger.");
}

OutpaintPlan plan_outpaint(const Image& image, const OutpaintSettings& s) {
    validate_outpaint(s);
    if (!image.valid()) throw Error(ErrorCode::kInvalidRequest, "The image to outpaint is empty or damaged.");
    OutpaintPlan p;
    int left = s.left ? s.pixels : 0, right = s.right ? s.pixels : 0;
    int up = s.up ? s.pixels : 0, down = s.down ? s.pixels : 0;
    // The canvas rounded up to multiples of 64, the rounding shared by the growing sides as the
    // script does (Python's floor division; all values here are non-negative).
    const int w = image.width, h = image.height;
    const int target_w = (w + left + right + 63) / 64 * 64, target_h = (h + up + down + 63) / 64 * 64;
    if (left > 0) left = left * (target_w - w) / (left + right);
    if (right > 0) right = target_w - w - left;
    if (up > 0) up = up * (target_h - h) / (up + down);
    if (down > 0) down = target_h - h - up;
    p.left = left;
    p.right = right;
    p.up = up;
    p.down = down;

    p.canvas = Image{target_w, target_h, 3, std::vector<uint8_t>(static_cast<size_t>(target_w) * target_h * 3, 0)};
    paste(&p.canvas, to_rgb(image), left, up);

    const int b = s.mask_blur * 2, lb = s.mask_blur / 2;
    const int x0 = left + (left > 0 ? b : 0), y0 = up + (up > 0 ? b : 0);
    const int x1 = target_w - right - (right > 0 ? b : 0), y1 = target_h - down - (down > 0 ? b : 0);
    // PIL refuses a rectangle whose corners cross: the blur eats the whole image.
    if (x1 < x0 || y1 < y0)
        throw Error(ErrorCode::kInvalidRequest, "The mask blur (" + std::to_string(s.mask_blur) + ") is too large for a " + std::to_string(w) + "x" +
                                                    std::to_string(h) + " image; lower the mask blur.");
    p.mask = border_mask(target_w, target_h, x0, y0, x1, y1);
    p.latent_mask = border_mask(target_w, target_h, left + (left > 0 ? lb : 0), up + (up > 0 ? lb : 0),
                                target_w - right - (right > 0 ? lb : 0), target_h - down - (down > 0 ? lb : 0));

    p.grid = split_grid(p.canvas, s.tile_w, s.tile_h, s.pixels);
    const Grid masks = split_grid(p.mask, s.tile_w, s.tile_h, s.pixels);
    const Grid latent_masks = split_grid(p.latent_mask, s.tile_w, s.tile_h, s.pixels);
    for (size_t r = 0; r < p.grid.rows.size(); ++r) {
        const GridRow& row = p.grid.rows[r];
        for (size_t c = 0; c < row.tiles.size(); ++c) {
            const GridTile& t = row.tiles[c];
            // Tiles wholly inside the old image stay as they are.
            if (t.x >= left && t.x + t.w <= target_w - right && row.y >= up && row.y + row.h <= target_h - down) continue;
            p.work.push_back({static_cast<int>(r), static_cast<int>(c), t.tile, first_channel(masks.rows[r].tiles[c].tile),
                              first_channel(latent_masks.rows[r].tiles[c].tile)});
        }
    }
    return p;
}

Image finish_outpaint(OutpaintPlan plan, const std::vector<Image>& results) {
    if (results.size() != plan.work.size())
        throw Error(ErrorCode::kInternal, "Outpainting got " + std::to_string(results.size()) + " tiles back for " +
                                              std::to_string(plan.work.size()) + "; run it again.");
    for (size_t i = 0; i < results.size(); ++i) {
        Image& slot = plan.grid.rows[static_cast<size_t>(plan.work[i].row)].tiles[static_cast<size_t>(plan.work[i].col)].tile;
        const Image tile = to_rgb(results[i]);
        if (tile.width != slot.width || tile.height != slot.height)
            throw Error(ErrorCode::kInternal, "Outpainting got a tile of another size back; run it again.");
        slot = tile;
    }
    return combine_grid(plan.grid);
}

}  // namespace sdgimp::imaging
