// A1111's "Approx NN" live preview (modules/sd_vae_approx.py): eight unpadded convolutions with
// leaky ReLUs over the latent upsampled x2 (nearest) and zero-padded by 11, so a (4, h, w) latent
// gives a (3, 2h, 2w) image. Its weights are A1111's models/VAE-approx/model.pt (keys conv1..conv8).
#pragma once

#include <string>
#include <torch/torch.h>

#include "module_slots.h"

namespace sdgimp::models {

struct VaeApproxImpl : torch::nn::Module {
    VaeApproxImpl();
    // (N, 4, h, w) latents (the sampler's, unscaled) -> (N, 3, 2h, 2w), nominally in [-1, 1].
    torch::Tensor forward(const torch::Tensor& latent);
    Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, conv4{nullptr}, conv5{nullptr}, conv6{nullptr}, conv7{nullptr},
        conv8{nullptr};
};
TORCH_MODULE(VaeApprox);

// The network with the file's weights, float32 on the CPU; throws sdgimp::Error naming the file
// when it is not A1111's VAE-approx model of 4 latent channels.
VaeApprox load_vae_approx(const std::string& path);

// The preview image of one (4, h, w) latent: (3, 2h, 2w) in [0, 1] on the CPU, as A1111's
// single_sample_to_image forms it (x * 0.5 + 0.5, clamped).
torch::Tensor vae_approx_preview(VaeApprox net, const torch::Tensor& latent);

}  // namespace sdgimp::models
