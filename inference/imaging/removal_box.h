// Where object removal runs: IOPaint's "Crop" strategy for big images (the mask's bounding box grown
// by a margin of context, pushed back inside the image for more context at edges) and LaMa's
// size rule (sides padded to a multiple of 8 by mirroring). Torch-free.
#pragma once

#include <string>

#include "../image.h"
#include "inpaint_prep.h"

namespace sdgimp::imaging {

// IOPaint's crop around `bounds` (x1, y1, x2, y2) with `margin` pixels of context on each side.
Box removal_crop(const Box& bounds, int image_w, int image_h, int margin = 128);

// Right/bottom padding to multiples of `mod` by mirroring with the edge repeated (numpy "symmetric").
Image pad_symmetric(const Image& img, int mod);

// Where the user's LaMa TorchScript file is expected: $GIMP_DIFFUSION_LAMA, else
// ~/.local/share/gimp-diffusion/models/big-lama.pt.
std::string default_lama_path();

}  // namespace sdgimp::imaging
