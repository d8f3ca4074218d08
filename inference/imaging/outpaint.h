// A1111's "Poor man's outpainting" img2img script as a planner: the image put on a larger canvas
// (its size rounded up to multiples of 64), a mask of the new border (blurred by the runs) and a
// sharper latent mask, the canvas cut into overlapping tiles of the run's size; the tiles that
// reach the border are inpainted one by one (by the caller) and recombined.
#pragma once

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "../image.h"
#include "grid.h"

namespace sdgimp::imaging {

// Both scripts' "Outpainting direction".
struct OutpaintSides {
    bool left = true, right = true, up = true, down = true;
    bool any() const { return left || right || up || down; }
};

// What both scripts add on each side: the canvas (w + pixels per growing side) rounded up to
// multiples of 64, the rounding shared by the growing sides as the scripts do.
struct OutpaintBorder {
    int left = 0, right = 0, up = 0, down = 0, target_w = 0, target_h = 0;
};
OutpaintBorder outpaint_border(int w, int h, int pixels, const OutpaintSides& sides);

struct OutpaintSettings {
    int pixels = 128;   // "Pixels to expand" (8-256): also the tiles' overlap
    int mask_blur = 4;  // the script's "Mask blur" (0-64); its runs blur the mask by twice this
    OutpaintSides sides;
    int tile_w = 512, tile_h = 512;  // the run's width and height
};

struct OutpaintTile {
    int row = 0, col = 0;             // its place in OutpaintPlan::grid
    Image image, mask, latent_mask;   // RGB, gray, gray at the tile size
};

struct OutpaintPlan {
    int left = 0, right = 0, up = 0, down = 0;  // the border added on each side
    Image canvas;                    // RGB: the image at (left, up) on black
    Image mask, latent_mask;         // gray, the canvas's size: 255 where the script repaints
    Grid grid;                       // the canvas cut with overlap = pixels
    std::vector<OutpaintTile> work;  // the tiles that reach the border, in A1111's order
};

// "left, right, up, down" (any of them, any order, commas or spaces) into s; throws for another word.
void set_outpaint_directions(const std::string& list, OutpaintSides* s);
std::string outpaint_directions(const OutpaintSides& s);

// Throws sdgimp::Error (one sentence) for settings the script cannot run with.
void validate_outpaint(const OutpaintSettings& s);

OutpaintPlan plan_outpaint(const Image& image, const OutpaintSettings& s);

// results: one RGB image at the tile size per work tile, in order. Returns the recombined canvas.
Image finish_outpaint(OutpaintPlan plan, const std::vector<Image>& results);

// A1111's "Outpainting mk2" script: one side at a time (left, right, up, down), the image put on a
// canvas grown by that side's share (rounded up to multiples of 64), the new part filled with
// matched noise (pipeline/matched_noise), the strip next to the new edge (at most the run's width or
// height) inpainted over the "original" content, the result pasted back and cut to the grown size.
struct OutpaintMk2Settings {
    int pixels = 128;     // "Pixels to expand" (8-256), shared between opposite sides as Poor man's does
    int mask_blur = 8;    // the script's (0-64): its mask is inset by this, its runs blur by 4 x this
    OutpaintSides sides;
    double noise_q = 1.0;           // "Fall-off exponent (lower=higher detail)" (0-4)
    double color_variation = 0.05;  // "Color variation" (0-1)
};

enum class OutpaintSide { kLeft, kRight, kUp, kDown };

// One side's geometry for an image of w x h (all boxes x1, y1, x2, y2; rectangles inclusive as PIL
// draws them).
struct OutpaintMk2Step {
    OutpaintSide side = OutpaintSide::kLeft;
    int expand = 0;              // pixels added on this side
    int res_w = 0, res_h = 0;    // the grown size kept at the end
    int canvas_w = 0, canvas_h = 0;  // res rounded up to multiples of 64
    int paste_x = 0, paste_y = 0;    // where the image sits on the canvas
    std::array<int, 4> mask_rect{};  // black (kept) on the white mask
    std::array<int, 4> crop{};       // the strip that is inpainted
    int proc_w = 0, proc_h = 0;      // its size: the run's processing size
    std::array<int, 4> latent_rect{};  // black on the white latent mask, in the strip's coordinates
};

void validate_outpaint_mk2(const OutpaintMk2Settings& s);

// The sides that grow, in the script's order, with how much each grows (the 64-rounding shared as
// for Poor man's). process_w/h: the run's width and height (a strip is at most that big).
// Throws (one sentence) for a strip whose size is not a multiple of 8 or a mask the blur eats.
std::vector<OutpaintMk2Step> plan_outpaint_mk2(int w, int h, const OutpaintMk2Settings& s, int process_w, int process_h);

// The canvas (RGB) and mask (gray, 255 = new) of a step, for the matched noise.
std::pair<Image, Image> mk2_canvas(const Image& image, const OutpaintMk2Step& st);
// The strip's mask (cut from the step's mask) and latent mask, both gray at proc_w x proc_h.
std::pair<Image, Image> mk2_strip_masks(const Image& mask, const OutpaintMk2Step& st);
// The inpainted strip pasted into the noise-filled canvas, cut to res_w x res_h.
Image mk2_finish(const Image& noised_canvas, const Image& strip, const OutpaintMk2Step& st);

}  // namespace sdgimp::imaging

