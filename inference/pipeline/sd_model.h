// A loaded Stable Diffusion checkpoint: config, module tree and the model's noise schedule, plus
// the small conversions every pipeline shares.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <torch/torch.h>

#include "../model_config.h"
#include "../models/latent_diffusion.h"
#include "../models/state_loader.h"
#include "../sampling/denoiser.h"
#include "../sampling/schedules.h"
#include "vae_tiling.h"

namespace sdgimp::pipeline {

struct SDModel {
    ModelConfig cfg;
    mutable models::LatentDiffusion net{nullptr};  // forward() is non-const in LibTorch
    sampling::ModelSchedule schedule;
    models::LoadReport report;
    std::string path;
    VaeTiling vae_tiling;  // large images go through the VAE in blended tiles

    // The raw UNet call A1111 makes (apply_model); for 9-channel models `concat` holds the
    // mask and masked-image latent appended to the input channels.
    sampling::ModelFn unet_fn(const torch::Tensor& concat = {}) const;
    torch::Tensor encode_text(const torch::Tensor& ids, int clip_skip = 1) const;
    // decode_first_stage: latent / scale_factor through the VAE decoder (output in ~[-1, 1]).
    torch::Tensor decode_first_stage(const torch::Tensor& latent) const;
    // Posterior moments of an image in [-1, 1]: mean and std.
    std::pair<torch::Tensor, torch::Tensor> encode_posterior(const torch::Tensor& image) const;
};

// Loads a checkpoint; throws sdgimp::Error with one sentence when it is not a usable SD model.
std::shared_ptr<SDModel> load_sd_model(const std::string& path, std::optional<Prediction> prediction = std::nullopt);

// A1111's conversion: clamp((x + 1) / 2, 0, 1), x255 truncated to uint8, (B, H, W, 3).
torch::Tensor to_uint8_images(const torch::Tensor& decoded);

}  // namespace sdgimp::pipeline
