// A1111's Hires. fix between its two passes: the first pass's latents enlarged in latent space
// (the "Latent" modes) and the hires size's latent crop.
#pragma once

#include <string>
#include <torch/torch.h>

namespace sdgimp::pipeline {

// torch's interpolate as A1111's latent_upscale_modes name it: "Latent" (bilinear), "Latent
// (antialiased)", "Latent (bicubic)", "Latent (bicubic antialiased)", "Latent (nearest)",
// "Latent (nearest-exact)"; align_corners off. samples: (B, C, h, w) → (B, C, rows, cols).
torch::Tensor upscale_latents(const torch::Tensor& samples, const std::string& mode, int64_t rows, int64_t cols);

// A1111's truncate: truncate_y rows and truncate_x columns off, the smaller half at the start.
torch::Tensor truncate_latents(const torch::Tensor& x, int truncate_x, int truncate_y);

}  // namespace sdgimp::pipeline
