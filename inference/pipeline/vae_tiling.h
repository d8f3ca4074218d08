// VAE decode / encode in overlapping tiles, blended with linear ramps over the overlaps, so a
// 2048x2048 (or larger) image needs the memory of one tile instead of the whole activation stack.
// GroupNorm statistics are per tile, so a tiled result differs slightly from the whole-image pass;
// the ramps keep that difference free of seams.
#pragma once

#include <functional>
#include <torch/torch.h>

namespace sdgimp::pipeline {

struct VaeTiling {
    // Latent tiles (decode) of tile x tile with `overlap` latent pixels shared between neighbours;
    // encode uses the same sizes times 8 in image pixels.
    int tile = 64, overlap = 16;
    // Tiling starts when the latent has more than this many pixels (128 x 128 = a 1024 x 1024 image).
    int64_t min_area = 128 * 128;
    bool enabled = true;
    bool applies(int64_t latent_h, int64_t latent_w) const {
        return enabled && latent_h * latent_w > min_area && (latent_h > tile || latent_w > tile);
    }
};

// Runs fn over tiles of x (N, C, H, W), each tile `tile` x `tile` (clipped to x; 2 x overlap < tile) on a grid with at
// least `overlap` shared pixels, and blends fn's outputs, which are `scale` times larger (8 for
// decode) or smaller (1/8 for encode: pass scale_num 1, scale_den 8).
torch::Tensor run_tiled(const std::function<torch::Tensor(const torch::Tensor&)>& fn, const torch::Tensor& x, int tile,
                        int overlap, int scale_num, int scale_den);

}  // namespace sdgimp::pipeline
