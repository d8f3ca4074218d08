// A1111's per-image random sources: every image of a batch owns a generator seeded with its seed;
// the first draw is the initial latent noise, later draws feed ancestral/SDE samplers.
#pragma once

#include <cstdint>
#include <string>
#include <torch/torch.h>
#include <vector>

namespace sdgimp::sampling {

enum class NoiseSource { kCPU, kNV };

// One generator of either kind; randn() draws one tensor of `shape`.
class SeededGenerator {
public:
    SeededGenerator(NoiseSource src, uint64_t seed);
    torch::Tensor randn(c10::IntArrayRef shape);

private:
    NoiseSource src_;
    at::Generator cpu_;
    uint64_t seed_ = 0, offset_ = 0;  // NV: Philox key and per-call offset
};

// A1111's "NV" source: Philox4x32-10 + Box-Muller as CUDA's randn, computed on the CPU.
torch::Tensor nv_randn(uint64_t seed, uint64_t offset, int64_t n);

// A1111's variation seed: subseed noise mixed in with strength, and "resize seed from" (noise drawn
// for another size, pasted centred).
struct Variation {
    std::vector<uint64_t> subseeds;  // per image
    double strength = 0;
    int resize_from_w = 0, resize_from_h = 0;  // <= 0: off
};

// A1111's per-image seeds of one batch: seed + i, except that with a variation strength every image
// keeps the main seed (only the subseeds advance).
std::vector<uint64_t> batch_seeds(uint64_t seed, int count, double variation_strength);

// slerp(val, low, high) per (channel, column), norms over the H axis of a (C, H, W) tensor.
torch::Tensor slerp(double val, const torch::Tensor& low, const torch::Tensor& high);

class ImageRNG {
public:
    // eta_noise_seed_delta != 0 re-seeds every generator with seed + delta after the first draw.
    ImageRNG(NoiseSource src, std::vector<uint64_t> seeds, std::vector<int64_t> shape, int64_t eta_noise_seed_delta = 0,
             Variation variation = {});
    torch::Tensor first();  // (B, C, H, W)
    torch::Tensor next();

private:
    NoiseSource src_;
    std::vector<uint64_t> seeds_;
    std::vector<int64_t> shape_;
    int64_t ensd_;
    std::vector<SeededGenerator> gens_;
    Variation var_;
};

}  // namespace sdgimp::sampling
