// madebyollin's Tiny AutoEncoder (TAESD), as A1111 1.10 builds it for "VAE type for decode /
// encode: TAESD" and the "TAESD" live preview: plain nn.Sequential stacks of 3x3 convolutions, so a
// taesd_decoder.pth / taesd_encoder.pth (or .safetensors) loads key for key ("1.weight",
// "3.conv.0.weight", ...). It works in the scaled latent space: the decoder takes the sampler's
// latents as they are, the encoder returns them.
#pragma once

#include <string>
#include <torch/torch.h>

namespace sdgimp::models {

// Empty stacks of A1111's layout (LibTorch's initial weights).
torch::nn::Sequential taesd_decoder();
torch::nn::Sequential taesd_encoder();

// A stack of that layout with the file's weights, in float32 on the CPU; throws sdgimp::Error
// naming the file when it is not such a TAESD half (or is the other half).
torch::nn::Sequential load_taesd(const std::string& path, bool decoder);

// The decoder's image in [-1, 1] as A1111 forms it (output * 2 - 1) from (N, 4, h, w) latents, and
// the encoder's latents from images in [0, 1]; both run on the stack's device and return float32
// on the CPU.
torch::Tensor taesd_decode(torch::nn::Sequential decoder, const torch::Tensor& latent);
torch::Tensor taesd_encode(torch::nn::Sequential encoder, const torch::Tensor& image01);

}  // namespace sdgimp::models
