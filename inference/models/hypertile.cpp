#include "hypertile.h"

#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "../status.h"

namespace sdgimp::models {

int largest_tile_size(int width, int height) {
    const int g = std::gcd(width, height);
    if (g <= 0) return 1;
    int t = 1;
    while (g % (t * 2) == 0) t *= 2;
    return t;
}

std::pair<int64_t, int64_t> hypertile_grid(int64_t hw, double aspect_ratio) {
    // Python's round() rounds halves to even, as nearbyint does in the default mode.
    auto h = static_cast<int64_t>(std::nearbyint(std::sqrt(static_cast<double>(hw) * aspect_ratio)));
    auto w = static_cast<int64_t>(std::nearbyint(std::sqrt(static_cast<double>(hw) / aspect_ratio)));
    if (h * w == hw) return {h, w};
    if (h > 0 && hw % h == 0) return {h, hw / h};
    if (w > 0 && hw % w == 0) return {hw / w, w};
    // iterative_closest_divisors: the pair (i, hw / i) whose ratio (hw / i) / i is closest.
    int64_t best = -1;
    double best_diff = 0;
    for (int64_t i = 2; i <= hw; ++i) {
        if (hw % i) continue;
        const double diff = std::abs(static_cast<double>(hw / i) / static_cast<double>(i) - aspect_ratio);
        if (best < 0 || diff < best_diff) { best = i; best_diff = diff; }
    }
    if (best < 0) return {h, w};
    return {best, hw / best};
}

int64_t random_divisor(PythonRandom& rng, int64_t value, int64_t min_value, int max_options) {
    max_options = std::max(1, max_options);
    min_value = std::max<int64_t>(1, std::min(min_value, value));
    std::vector<int64_t> ns;
    for (int64_t i = min_value; i <= value && static_cast<int>(ns.size()) < max_options; ++i)
        if (value % i == 0) ns.push_back(value / i);
    return ns[static_cast<size_t>(rng.randint(0, static_cast<int64_t>(ns.size()) - 1))];
}

void Hypertile::configure(int width, int height, bool unet) {
    aspect_ = static_cast<double>(width) / height;
    const int largest = largest_tile_size(width, height);
    unet_tile_ = std::min(largest, s_.unet_max_tile);
    vae_tile_ = std::min(largest, s_.vae_max_tile);
    unet_on_ = unet;
}

void Hypertile::start(int64_t seed, int width, int height) {
    rng_.seed_with(seed);
    configure(width, height, s_.unet);
}

void Hypertile::before_hires(int64_t seed, int width, int height) {
    const bool on = s_.unet_second_pass || s_.unet;
    if (on) rng_.seed_with(seed);
    configure(width, height, on);
}

torch::Tensor Hypertile::unet_attention(const torch::Tensor& x, int depth, const Fn& attention) {
    if (!unet_on_ || depth > s_.unet_max_depth) return attention(x);
    const int64_t b = x.size(0), hw = x.size(1), c = x.size(2);
    const auto [h, w] = hypertile_grid(hw, aspect_);
    if (h * w != hw)
        throw Error(ErrorCode::kInvalidRequest, "Hypertile cannot lay " + std::to_string(hw) +
                                                    " tokens out as a grid for this image's shape; turn Hypertile U-Net off for this size.");
    const int64_t tile = std::max(128, unet_tile_) / 8 * (int64_t{1} << depth);
    const int64_t nh = random_divisor(rng_, h, tile, s_.unet_swap_size);
    const int64_t nw = random_divisor(rng_, w, tile, s_.unet_swap_size);
    draws_.push_back({depth, nh, nw});
    if (nh * nw == 1) return attention(x);
    const int64_t th = h / nh, tw = w / nw;
    const auto tiles = x.reshape({b, nh, th, nw, tw, c}).permute({0, 1, 3, 2, 4, 5}).reshape({b * nh * nw, th * tw, c});
    const auto out = attention(tiles);
    const int64_t co = out.size(2);
    return out.reshape({b, nh, nw, th, tw, co}).permute({0, 1, 3, 2, 4, 5}).reshape({b, hw, co});
}

torch::Tensor Hypertile::vae_attention(const torch::Tensor& x, const Fn& block) {
    if (!s_.vae || s_.vae_max_depth < 0) return block(x);
    const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    const int64_t tile = std::max(128, vae_tile_) / 8;
    const int64_t nh = random_divisor(rng_, h, tile, s_.vae_swap_size);
    const int64_t nw = random_divisor(rng_, w, tile, s_.vae_swap_size);
    draws_.push_back({-1, nh, nw});
    if (nh * nw == 1) return block(x);
    const int64_t th = h / nh, tw = w / nw;
    const auto tiles = x.reshape({b, c, nh, th, nw, tw}).permute({0, 2, 4, 1, 3, 5}).reshape({b * nh * nw, c, th, tw});
    const auto out = block(tiles);
    return out.reshape({b, nh, nw, c, th, tw}).permute({0, 3, 1, 4, 2, 5}).reshape({b, c, h, w});
}

}  // namespace sdgimp::models
