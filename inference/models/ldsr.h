// LDSR, A1111's "LDSR" upscaler: the latent-diffusion x4 super-resolution model (CompVis'
// LatentDiffusion with a VQ-f4 first stage, the low-resolution picture concatenated to the latent)
// sampled as A1111's extension does: 100 DDIM steps at eta 1 over overlapping 128-latent tiles
// blended by their distance to the tile border, decoded in the matching 512-pixel tiles.
// Every size comes from the checkpoint's shapes (model.ckpt / model.safetensors); project.yaml
// beside it, when present, gives the schedule and the attention heads as A1111 reads them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "../image.h"
#include "../io/raw_tensor.h"
#include "../model_config.h"
#include "unet.h"
#include "vae.h"

namespace sdgimp::models {

// ldm's delta_border clipped to [0.01, 0.5]: each pixel of an h x w tile weighted by its distance to
// the tile's nearest edge (row / (h - 1), column / (w - 1)), float32 as ldm computes it. (h, w).
torch::Tensor ldsr_tile_weighting(int64_t h, int64_t w);

// ldm's split_input_params path (Unfold, the model per crop, the crops times the weighting, Fold,
// divided by the folded weighting): fn over the ks x ks crops of x every `stride` (row by row; ks and
// stride cut to the picture where it is smaller), each returning a crop uf times larger, blended
// into one (B, C', H*uf, W*uf). Throws sdgimp::Error for a picture the crops do not cover.
torch::Tensor ldsr_fold_crops(const torch::Tensor& x, int64_t ks, int64_t stride, int64_t uf,
                              const std::function<torch::Tensor(const torch::Tensor& crop, int64_t index)>& fn);

// ldm's DDIM sampling parameters for `steps` "uniform" steps (timesteps 1, 1 + c, ... with
// c = 1000 // steps, so steps that do not divide 1000 give a few more) at `eta`: alphas, the previous
// ones (the first alpha for the first), sigmas, each rounded to float32 as ldm's buffers are.
struct DdimSchedule {
    std::vector<int64_t> timesteps;
    std::vector<float> alphas, alphas_prev, sigmas, sqrt_one_minus_alphas;
};
DdimSchedule ddim_schedule(const std::vector<float>& alphas_cumprod, int steps, double eta);

// ldm's "linear" schedule (sampling::ModelSchedule::linear's alphas_cumprod) as float32 values.
std::vector<float> linear_alphas_cumprod(double linear_start, double linear_end, int n);

// One DDIM step of ldm's p_sample_ddim (eps prediction): pred_x0, the direction to x_t and
// sigma * noise; returns x_prev.
torch::Tensor ddim_step(const torch::Tensor& x, const torch::Tensor& eps, const DdimSchedule& s, size_t index,
                        const torch::Tensor& noise);

struct VqFirstStageImpl : torch::nn::Module {
    VqFirstStageImpl(const VAEConfig& c, int64_t n_embed);
    // taming's VectorQuantizer2 (nearest codebook entry by squared distance, z + (z_q - z)), then
    // post_quant_conv and the decoder: VQModelInterface.decode.
    torch::Tensor decode(const torch::Tensor& h);
    torch::Tensor quantize_codes(const torch::Tensor& h);
    VaeDecoder decoder{nullptr};
    Conv2d post_quant_conv{nullptr};
    torch::nn::Embedding embedding{nullptr};  // quantize.embedding
};
TORCH_MODULE(VqFirstStage);

struct LdsrRun {
    int steps = 100;        // A1111's "LDSR processing steps" (ldsr_steps)
    uint64_t seed = 0;      // A1111 draws from torch's global generator; here a fixed seed repeats a result
    std::function<void(int done, int total)> progress;
    std::function<bool()> cancelled;
};

class Ldsr {
public:
    // Whether a checkpoint's keys are an LDSR model's (a UNet under model.diffusion_model and a
    // first stage with a codebook).
    static bool is_layout(const io::TensorMap& tensors);
    // Throws sdgimp::Error naming the file and what does not fit.
    static std::unique_ptr<Ldsr> load(const std::string& path);
    static std::unique_ptr<Ldsr> from_tensors(const io::TensorMap& tensors, const std::string& path, const nlohmann::json* yaml);

    // The UNet's noise prediction for latent z and the low-resolution picture lr (both (B, 3, h, w),
    // lr in [-1, 1]) at timestep t: DiffusionWrapper's concat.
    torch::Tensor eps(const torch::Tensor& z, const torch::Tensor& lr, int64_t t);
    // The same over ldm's 128-latent crops (apply_model with split_input_params).
    torch::Tensor eps_tiled(const torch::Tensor& z, const torch::Tensor& lr, int64_t t);
    // decode_first_stage with patch_distributed_vq: 128-latent crops decoded and blended.
    torch::Tensor decode_tiled(const torch::Tensor& z);
    // The DDIM loop from noise for the padded low-resolution picture lr.
    torch::Tensor sample(const torch::Tensor& lr, const LdsrRun& run);
    // A1111's super_resolution: the picture brought to target_scale / 4 of its size (Lanczos), padded
    // at the right and bottom with its edge pixels to multiples of 64 (128 at least), sampled,
    // decoded, clamped, truncated to 8 bits and cut to 4x the unpadded size.
    Image super_resolution(const Image& rgb, double target_scale, const LdsrRun& run);

    UNet unet{nullptr};
    VqFirstStage first_stage{nullptr};
    std::vector<float> alphas_cumprod;
    double scale_factor = 1.0;
};

}  // namespace sdgimp::models
