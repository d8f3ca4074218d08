// A1111's Hypertile (its built-in extension, from tfernd's HyperTile): the U-Net's self-attention
// layers, and the VAE decoder's middle attention, run over a grid of tiles instead of the whole
// latent. How many tiles is drawn per call from Python's random.Random, seeded with the run's
// first seed, among the largest few divisors of the token grid; A1111's quirks are kept (the token
// count is split into "h" x "w" with h = round(sqrt(hw * width / height)), so for images that are
// not square the rows it tiles are not the image's rows).
#pragma once

#include <array>
#include <functional>
#include <torch/torch.h>
#include <utility>
#include <vector>

#include "python_random.h"

namespace sdgimp::models {

struct HypertileSettings {
    bool unet = false, unet_second_pass = false;
    int unet_max_depth = 3, unet_max_tile = 256, unet_swap_size = 3;
    bool vae = false;
    int vae_max_depth = 3, vae_max_tile = 128, vae_swap_size = 3;
    bool any() const { return unet || unet_second_pass || vae; }
};

// The largest power of two dividing both sides (A1111's largest_tile_size_available).
int largest_tile_size(int width, int height);
// A1111's find_hw_candidates: a factor pair of hw for the aspect ratio width / height.
std::pair<int64_t, int64_t> hypertile_grid(int64_t hw, double aspect_ratio);
// get_divisors + random_divisor: value / d for one of the `max_options` smallest divisors d of
// value from min(min_value, value) up, chosen by randint.
int64_t random_divisor(PythonRandom& rng, int64_t value, int64_t min_value, int max_options);

// The state one run shares between its U-Net and VAE calls (A1111's module-level RNG and the
// layers' parameters as its script last configured them).
class Hypertile {
public:
    explicit Hypertile(const HypertileSettings& s) : s_(s) {}
    // The script's process(): seeded with the run's first seed, set up for the first pass's size.
    void start(int64_t seed, int width, int height);
    // Its before_hr(): the hires pass at the size it upscales to, seeded afresh when a U-Net
    // setting is on (the second-pass one turns the U-Net on for the rest of the run).
    void before_hires(int64_t seed, int width, int height);

    using Fn = std::function<torch::Tensor(const torch::Tensor&)>;
    // The self-attention at `depth` (0: the latent's own size, 3: the middle block) over x (B, hw, C).
    torch::Tensor unet_attention(const torch::Tensor& x, int depth, const Fn& attention);
    // The VAE decoder's middle attention block over x (B, C, H, W), the block's own norm included.
    torch::Tensor vae_attention(const torch::Tensor& x, const Fn& block);

    const HypertileSettings& settings() const { return s_; }
    // Every draw so far, in order: {depth, tiles down, tiles across}; the VAE's with depth -1.
    const std::vector<std::array<int64_t, 3>>& draws() const { return draws_; }

private:
    void configure(int width, int height, bool unet);
    HypertileSettings s_;
    PythonRandom rng_;
    bool unet_on_ = false;
    double aspect_ = 1.0;
    int unet_tile_ = 0, vae_tile_ = 0;
    std::vector<std::array<int64_t, 3>> draws_;
};

}  // namespace sdgimp::models
