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

void set_outpaint_directions(const std::string& list, OutpaintSides* s) {
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

std::string outpaint_directions(const OutpaintSides& s) {
    std::string out;
    for (const auto& [on, name] : {std::pair{s.left, "left"}, {s.right, "right"}, {s.up, "up"}, {s.down, "down"}})
        if (on) out += (out.empty() ? "" : ",") + std::string(name);
    return out;
}

OutpaintBorder outpaint_border(int w, int h, int pixels, const OutpaintSides& sides) {
    OutpaintBorder b;
    b.left = sides.left ? pixels : 0;
    b.right = sides.right ? pixels : 0;
    b.up = sides.up ? pixels : 0;
    b.down = sides.down ? pixels : 0;
    b.target_w = (w + b.left + b.right + 63) / 64 * 64;
    b.target_h = (h + b.up + b.down + 63) / 64 * 64;
    // Python's floor division; all values here are non-negative.
    if (b.left > 0) b.left = b.left * (b.target_w - w) / (b.left + b.right);
    if (b.right > 0) b.right = b.target_w - w - b.left;
    if (b.up > 0) b.up = b.up * (b.target_h - h) / (b.up + b.down);
    if (b.down > 0) b.down = b.target_h - h - b.up;
    return b;
}

void validate_outpaint(const OutpaintSettings& s) {
    if (!s.sides.any())
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
    const OutpaintBorder border = outpaint_border(image.width, image.height, s.pixels, s.sides);
    const int left = border.left, right = border.right, up = border.up, down = border.down;
    const int target_w = border.target_w, target_h = border.target_h;
    const int w = image.width, h = image.height;
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

void validate_outpaint_mk2(const OutpaintMk2Settings& s) {
    if (!s.sides.any())
        throw Error(ErrorCode::kInvalidRequest, "Choose at least one outpainting direction: left, right, up or down.");
    if (s.pixels < 8 || s.pixels > 256) throw Error(ErrorCode::kInvalidRequest, "Pixels to expand must be between 8 and 256.");
    if (s.mask_blur < 0 || s.mask_blur > 64) throw Error(ErrorCode::kInvalidRequest, "The outpainting mask blur must be between 0 and 64.");
    if (!(s.noise_q >= 0 && s.noise_q <= 4)) throw Error(ErrorCode::kInvalidRequest, "The fall-off exponent must be between 0 and 4.");
    if (!(s.color_variation >= 0 && s.color_variation <= 1)) throw Error(ErrorCode::kInvalidRequest, "The colour variation must be between 0 and 1.");
}

std::vector<OutpaintMk2Step> plan_outpaint_mk2(int w, int h, const OutpaintMk2Settings& s, int process_w, int process_h) {
    validate_outpaint_mk2(s);
    if (w <= 0 || h <= 0) throw Error(ErrorCode::kInvalidRequest, "The image to outpaint is empty or damaged.");
    const OutpaintBorder border = outpaint_border(w, h, s.pixels, s.sides);
    const int left = border.left, right = border.right, up = border.up, down = border.down;
    std::vector<OutpaintMk2Step> steps;
    const int b = s.mask_blur;
    for (const auto& [side, e] : {std::pair{OutpaintSide::kLeft, left}, {OutpaintSide::kRight, right}, {OutpaintSide::kUp, up},
                                  {OutpaintSide::kDown, down}}) {
        if (e <= 0) continue;
        const bool is_left = side == OutpaintSide::kLeft, is_right = side == OutpaintSide::kRight;
        const bool is_top = side == OutpaintSide::kUp, is_bottom = side == OutpaintSide::kDown;
        const bool horiz = is_left || is_right;
        OutpaintMk2Step st;
        st.side = side;
        st.expand = e;
        st.res_w = w + (horiz ? e : 0);
        st.res_h = h + (horiz ? 0 : e);
        st.canvas_w = (st.res_w + 63) / 64 * 64;
        st.canvas_h = (st.res_h + 63) / 64 * 64;
        st.paste_x = is_left ? e : 0;
        st.paste_y = is_top ? e : 0;
        st.mask_rect = {is_left ? e + b : 0, is_top ? e + b : 0, is_right ? st.canvas_w - e - b : st.res_w,
                        is_bottom ? st.canvas_h - e - b : st.res_h};
        const int tw = horiz ? std::min(process_w, w + e) : st.canvas_w;
        const int th = horiz ? st.canvas_h : std::min(process_h, h + e);
        st.crop = {is_left ? 0 : st.canvas_w - tw, is_top ? 0 : st.canvas_h - th, is_left ? tw : st.canvas_w, is_top ? th : st.canvas_h};
        st.proc_w = tw;
        st.proc_h = th;
        st.latent_rect = {is_left ? e + 2 * b : 0, is_top ? e + 2 * b : 0, is_right ? tw - e - 2 * b : st.res_w,
                          is_bottom ? th - e - 2 * b : st.res_h};
        static const char* kNames[] = {"left", "right", "up", "down"};
        const std::string name = kNames[static_cast<int>(side)];
        if (tw % 8 || th % 8)
            throw Error(ErrorCode::kInvalidRequest, "Outpainting " + name + " would run on a " + std::to_string(tw) + "x" + std::to_string(th) +
                                                        " strip, which is not a multiple of 8 (A1111 cannot run it either); make the image " +
                                                        (horiz ? "width" : "height") + " plus the pixels a multiple of 8 or at least the run's " +
                                                        (horiz ? "width." : "height."));
        // PIL refuses rectangles whose corners cross.
        if (st.mask_rect[2] < st.mask_rect[0] || st.mask_rect[3] < st.mask_rect[1] || st.latent_rect[2] < st.latent_rect[0] ||
            st.latent_rect[3] < st.latent_rect[1])
            throw Error(ErrorCode::kInvalidRequest, "The mask blur (" + std::to_string(b) + ") is too large for outpainting " + name +
                                                        " by " + std::to_string(e) + " pixels here; lower the mask blur.");
        steps.push_back(st);
        w = st.res_w;
        h = st.res_h;
    }
    return steps;
}

std::pair<Image, Image> mk2_canvas(const Image& image, const OutpaintMk2Step& st) {
    Image canvas{st.canvas_w, st.canvas_h, 3, std::vector<uint8_t>(static_cast<size_t>(st.canvas_w) * st.canvas_h * 3, 0)};
    paste(&canvas, to_rgb(image), st.paste_x, st.paste_y);
    const auto& r = st.mask_rect;
    return {canvas, border_mask(st.canvas_w, st.canvas_h, r[0], r[1], r[2], r[3])};
}

std::pair<Image, Image> mk2_strip_masks(const Image& mask, const OutpaintMk2Step& st) {
    const Image strip = crop(to_rgb(mask), {st.crop[0], st.crop[1], st.crop[2], st.crop[3]});
    const auto& r = st.latent_rect;
    return {first_channel(strip), border_mask(st.proc_w, st.proc_h, r[0], r[1], r[2], r[3])};
}

Image mk2_finish(const Image& noised_canvas, const Image& strip, const OutpaintMk2Step& st) {
    Image out = to_rgb(noised_canvas);
    const Image s = to_rgb(strip);
    // Pasted at the new edge's corner, as the script does with the run's image.
    const bool at_left = st.side == OutpaintSide::kLeft, at_top = st.side == OutpaintSide::kUp;
    paste(&out, s, at_left ? 0 : out.width - s.width, at_top ? 0 : out.height - s.height);
    return crop(out, {0, 0, st.res_w, st.res_h});
}

}  // namespace sdgimp::imaging
