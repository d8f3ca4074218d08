// A1111 1.10's "Soft inpainting" (its built-in soft-inpainting extension): a partly masked area
// keeps part of the original. While sampling, the original and denoised latents are blended by a
// mask that weakens as the noise falls, their vectors' lengths interpolated separately so partial
// blends keep their contrast; the final latent is left unblended. Afterwards each image gets its
// own composite mask from how far its latents moved from the original's, so unchanged pixels stay
// the user's own.
#pragma once

#include <optional>
#include <vector>

#include <torch/torch.h>

#include "../image.h"
#include "../imaging/inpaint_prep.h"
#include "../request.h"

namespace sdgimp::pipeline {

// A1111's six settings (its UI names in the comments), defaults as A1111's.
struct SoftInpaintSettings {
    double mask_blend_power = 1;               // "Schedule bias"
    double mask_blend_scale = 0.5;             // "Preservation strength"
    double inpaint_detail_preservation = 4;    // "Transition contrast boost"
    double composite_mask_influence = 0;       // "Mask influence"
    double composite_difference_threshold = 0.5;  // "Difference threshold"
    double composite_difference_contrast = 2;  // "Difference contrast"
};

SoftInpaintSettings soft_inpaint_settings(const GenerateRequest& r);

// The blend mask of one step: nmask (1 = regenerate) to the power sigma^power * scale; `sigma` is
// what the denoiser is called with (a timestep for DDIM, PLMS and UniPC, as in A1111).
torch::Tensor soft_step_nmask(const SoftInpaintSettings& s, const torch::Tensor& nmask, const torch::Tensor& sigma);

// a (original) to b (denoised) by t per element, each latent vector's length set to the
// t-interpolation of the two lengths to the power inpaint_detail_preservation (in float64).
// a, b, t: (B, C, h, w).
torch::Tensor soft_latent_blend(const SoftInpaintSettings& s, const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& t);

// A1111's weighted histogram filter on a float image (h x w): per pixel, the kernel-weighted
// values of its window sorted, and the mean of the part between the two percentiles of the
// weight stack (at least min_width wide).
std::vector<float> weighted_histogram_filter(const std::vector<float>& img, int w, int h, const std::vector<double>& kernel,
                                             int kernel_radius, double percentile_min, double percentile_max, double min_width);

// The 5x5 kernel A1111 filters with: a Gaussian of deviation 1.5 tapered to 0 one pixel past radius 2.
std::vector<double> soft_inpaint_kernel();

// One image's composite mask (gray, 255 = the generated pixel shows), at the overlay's size:
// nmask_latent (h, w) the latent mask, init and samples (C, h, w) the original and final latents,
// width x height the processing size; "only masked" puts it into paste_to of an overlay_w x
// overlay_h mask (0 outside).
Image soft_composite_mask(const SoftInpaintSettings& s, const torch::Tensor& nmask_latent, const torch::Tensor& init,
                          const torch::Tensor& samples, int width, int height, const std::optional<imaging::Box>& paste_to,
                          int overlay_w, int overlay_h);

}  // namespace sdgimp::pipeline
