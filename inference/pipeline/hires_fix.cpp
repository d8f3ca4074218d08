#include "hires_fix.h"

#include <ATen/ops/_upsample_bicubic2d_aa.h>
#include <ATen/ops/_upsample_bilinear2d_aa.h>
#include <ATen/ops/_upsample_nearest_exact2d.h>
#include <ATen/ops/upsample_bicubic2d.h>
#include <ATen/ops/upsample_bilinear2d.h>
#include <ATen/ops/upsample_nearest2d.h>

#include "../status.h"

namespace sdgimp::pipeline {

torch::Tensor upscale_latents(const torch::Tensor& samples, const std::string& mode, int64_t rows, int64_t cols) {
    if (rows < 1 || cols < 1) throw Error(ErrorCode::kInvalidRequest, "The hires size is too small for its latents.");
    const std::vector<int64_t> size = {rows, cols};
    // The float path: bicubic and antialiased kernels need it for half-precision latents on the CPU.
    const auto x = samples.to(torch::kFloat);
    torch::Tensor y;
    if (mode == "Latent") y = at::upsample_bilinear2d(x, size, false);
    else if (mode == "Latent (antialiased)") y = at::_upsample_bilinear2d_aa(x, size, false);
    else if (mode == "Latent (bicubic)") y = at::upsample_bicubic2d(x, size, false);
    else if (mode == "Latent (bicubic antialiased)") y = at::_upsample_bicubic2d_aa(x, size, false);
    else if (mode == "Latent (nearest)") y = at::upsample_nearest2d(x, size);
    else if (mode == "Latent (nearest-exact)") y = at::_upsample_nearest_exact2d(x, size);
    else throw Error(ErrorCode::kInvalidRequest, "Unknown latent upscale mode \"" + mode + "\".");
    return y.to(samples.dtype());
}

torch::Tensor truncate_latents(const torch::Tensor& x, int truncate_x, int truncate_y) {
    if (truncate_x == 0 && truncate_y == 0) return x;
    const int64_t h = x.size(2), w = x.size(3);
    return x.slice(2, truncate_y / 2, h - (truncate_y + 1) / 2).slice(3, truncate_x / 2, w - (truncate_x + 1) / 2);
}

}  // namespace sdgimp::pipeline
