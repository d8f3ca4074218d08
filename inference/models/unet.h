// ldm's openaimodel.UNetModel (SD 1.x, 2.x and the 9-channel inpainting variants); every size
// comes from UNetConfig, which comes from the checkpoint.
#pragma once

#include <torch/torch.h>

#include "../model_config.h"
#include "module_slots.h"
#include "unet_blocks.h"

namespace sdgimp::models {

struct UNetImpl : torch::nn::Module {
    explicit UNetImpl(const UNetConfig& cfg);
    // x: (B, in_channels, h, w); t: (B) float timesteps; context: (B, 77k, context_dim);
    // token_merging_ratio: A1111's "Token merging ratio" for this call (0: none).
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& context,
                          double token_merging_ratio = 0);

    Slots time_embed, out;
    Linear time_lin1{nullptr}, time_lin2{nullptr};
    torch::nn::GroupNorm out_norm{nullptr};
    Conv2d out_conv{nullptr};
    torch::nn::ModuleList input_blocks, output_blocks;
    TimestepBlock middle_block{nullptr};
    UNetConfig cfg;
    // Shared with every SpatialTransformer: the token merging of each call (set as it starts) and
    // the run's Hypertile while one is installed (set_hypertile).
    std::shared_ptr<AttentionCall> attention_call = std::make_shared<AttentionCall>();
};
TORCH_MODULE(UNet);

// Sinusoidal embedding of float timesteps, cos half first, as the original code does.
torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim);

}  // namespace sdgimp::models
