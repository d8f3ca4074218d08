// The whole Stable Diffusion checkpoint as one module tree whose names are the file's keys:
// model.diffusion_model (UNet), first_stage_model (VAE), cond_stage_model (text encoder).
#pragma once

#include <torch/torch.h>

#include "../model_config.h"
#include "clip_text.h"
#include "unet.h"
#include "vae.h"

namespace sdgimp::models {

struct LatentDiffusionImpl : torch::nn::Module {
    explicit LatentDiffusionImpl(const ModelConfig& c);
    UNet unet{nullptr};
    AutoencoderKL vae{nullptr};
    TextEncoder text{nullptr};
    ModelConfig cfg;
};
TORCH_MODULE(LatentDiffusion);

}  // namespace sdgimp::models
