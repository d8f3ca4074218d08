#include "latent_diffusion.h"

namespace sdgimp::models {

LatentDiffusionImpl::LatentDiffusionImpl(const ModelConfig& c) : cfg(c) {
    if (c.has_unet) {
        auto model = register_module("model", std::make_shared<torch::nn::Module>());
        unet = model->register_module("diffusion_model", UNet(c.unet));
    }
    if (c.has_vae) vae = register_module("first_stage_model", AutoencoderKL(c.vae));
    if (c.has_text) text = register_module("cond_stage_model", TextEncoder(c.text));
}

}  // namespace sdgimp::models
