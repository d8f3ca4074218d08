// A1111's "FP8 weight" (Settings > Optimizations): every convolution and linear layer of the UNet
// and the text encoder (not the VAE) stores its weight and bias as torch.float8_e4m3fn, and each
// call computes with those values. What changes the image is the rounding to 3 mantissa bits, so
// the layers here keep their dtype and hold the rounded values (exactly representable in float32,
// float16 and bfloat16); the unrounded tensors are kept for restore() and for LoRA's "Cache FP16
// weight for LoRA".
#pragma once

#include <unordered_map>
#include <vector>

#include <torch/torch.h>

#include "latent_diffusion.h"

namespace sdgimp::models {

// PyTorch's conversion of a float to float8_e4m3fn and back: round to nearest, ties to even, at 3
// mantissa bits above 2^-6 and in steps of 2^-9 below; magnitudes above 464 (and infinities, NaN)
// become NaN, as that format has no infinity.
float e4m3fn_round(float f);

// t's values rounded so (same dtype, device and memory layout).
torch::Tensor e4m3fn_rounded(const torch::Tensor& t);

class Fp8Weights {
public:
    // Rounds the weights and biases of every Conv2d and Linear of net's UNet and text encoder.
    // Throws sdgimp::Error naming the first layer that would become NaN (a value above 464), with
    // no layer changed.
    void apply(LatentDiffusion& net);
    // Every rounded layer back to the tensor it had.
    void restore();
    bool on() const { return !saved_.empty(); }
    // The tensor a rounded parameter held before (nullptr for one that was not rounded).
    const torch::Tensor* original_of(const torch::Tensor& param) const;

private:
    std::vector<std::pair<torch::Tensor, torch::Tensor>> saved_;  // parameter, its original data
    std::unordered_map<const void*, size_t> index_;              // parameter -> saved_ index
};

}  // namespace sdgimp::models
