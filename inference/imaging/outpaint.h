// A1111's "Poor man's outpainting" img2img script as a planner: the image put on a larger canvas
// (its size rounded up to multiples of 64), a mask of the new border (blurred by the runs) and a
// sharper latent mask, the canvas cut into overlapping tiles of the run's size; the tiles that
// reach the border are inpainted one by one (by the caller) and recombined.
#pragma once

#include <string>
#include <vector>

#include "../image.h"
#include "grid.h"

namespace sdgimp::imaging {

struct OutpaintSettings {
    int pixels = 128;   // "Pixels to expand" (8-256): also the tiles' overlap
    int mask_blur = 4;  // the script's "Mask blur" (0-64); its runs blur the mask by twice this
    bool left = true, right = true, up = true, down = true;  // "Outpainting direction"
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
void set_outpaint_directions(const std::string& list, OutpaintSettings* s);
std::string outpaint_directions(const OutpaintSettings& s);

// Throws sdgimp::Error (one sentence) for settings the script cannot run with.
void validate_outpaint(const OutpaintSettings& s);

OutpaintPlan plan_outpaint(const Image& image, const OutpaintSettings& s);

// results: one RGB image at the tile size per work tile, in order. Returns the recombined canvas.
Image finish_outpaint(OutpaintPlan plan, const std::vector<Image>& results);

}  // namespace sdgimp::imaging
