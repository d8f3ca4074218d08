// A loaded Stable Diffusion checkpoint: config, module tree and the model's noise schedule, plus
// the small conversions every pipeline shares.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <torch/torch.h>

#include "../image.h"
#include "../model_config.h"
#include "../models/latent_diffusion.h"
#include "../models/state_loader.h"
#include "../sampling/denoiser.h"
#include "../sampling/schedules.h"
#include "cuda_graph_unet.h"
#include "vae_tiling.h"

namespace sdgimp::pipeline {

// What the samplers need of a model: the raw denoising network (for 9-channel models, given the
// conditioning channels to append) and its noise schedule. Tests plug closed-form toys in here.
struct LatentModel {
    std::function<sampling::ModelFn(const torch::Tensor& concat)> unet;
    sampling::ModelSchedule schedule;
    Prediction prediction = Prediction::kEps;
    int64_t latent_channels = 4;
    int64_t in_channels = 4;  // 9 for inpainting models
};

// What the pipelines need of the first stage: latents <-> images in [-1, 1].
struct ImageCodec {
    std::function<torch::Tensor(const torch::Tensor& latent)> decode_first_stage;
    std::function<std::pair<torch::Tensor, torch::Tensor>(const torch::Tensor& image)> encode_posterior;  // mean, std
    // The init latent (scaled) of an image in [-1, 1] (SDModel::encode_init_latent); unset: the
    // posterior sampled with eps(mean).
    std::function<torch::Tensor(const torch::Tensor& image, const std::function<torch::Tensor(const torch::Tensor&)>& eps)> encode_init_latent;
    double scale_factor = 0.18215;
    torch::Tensor init_latent(const torch::Tensor& image, const std::function<torch::Tensor(const torch::Tensor& mean)>& eps) const;
};

struct SDModel {
    ModelConfig cfg;
    mutable models::LatentDiffusion net{nullptr};  // forward() is non-const in LibTorch
    sampling::ModelSchedule schedule;
    models::LoadReport report;
    std::string path;
    VaeTiling vae_tiling;  // large images go through the VAE in blended tiles

    // The raw UNet call A1111 makes (apply_model); for 9-channel models `concat` holds the
    // mask and masked-image latent appended to the input channels. token_merging_ratio: A1111's
    // "Token merging ratio" (tomesd) for these calls.
    sampling::ModelFn unet_fn(const torch::Tensor& concat = {}, double token_merging_ratio = 0) const;
    torch::Tensor encode_text(const torch::Tensor& ids, int clip_skip = 1, const std::vector<models::TokenFix>& fixes = {}) const;
    // decode_first_stage: latent / scale_factor through the VAE decoder (output in ~[-1, 1]), or the
    // latent through TAESD's decoder while a run sets one (A1111's decode_first_stage).
    torch::Tensor decode_first_stage(const torch::Tensor& latent) const;
    // The VAE's decode alone, whatever the run's decode method (A1111's "Full" live preview).
    torch::Tensor vae_decode(const torch::Tensor& latent) const;
    // A1111's images_tensor_to_samples: the init latent of an image in [-1, 1], scaled: the VAE
    // posterior sampled with eps(mean), or TAESD's encoder's latent while a run sets one.
    torch::Tensor encode_init_latent(const torch::Tensor& image, const std::function<torch::Tensor(const torch::Tensor& mean)>& eps) const;
    // A1111's txt2img_image_conditioning of a 9-channel model: a full mask beside the latent of a
    // gray image (by the same encoder as encode_init_latent; the VAE's posterior mean stands in for
    // its unseeded sample).
    torch::Tensor txt2img_concat(int64_t height, int64_t width) const;
    // A1111's "VAE type for decode / encode: TAESD" for one run (set and cleared by FirstStageScope);
    // null: the model's own VAE.
    mutable torch::nn::Sequential taesd_decoder{nullptr}, taesd_encoder{nullptr};
    // Posterior moments of an image in [-1, 1]: mean and std.
    std::pair<torch::Tensor, torch::Tensor> encode_posterior(const torch::Tensor& image) const;
    // UNet and VAE decoder weights in this dtype (float32, bfloat16, or float16 on CUDA); calls
    // convert at the boundary.
    void set_precision(torch::ScalarType dtype);
    // The networks on this device. Every call still takes and returns CPU float32 tensors: the
    // samplers, noise and image conversions stay on the CPU (exactly A1111's arithmetic) and only the
    // networks' inputs and outputs cross, a few hundred KB per step.
    void set_device(torch::Device d);
    // UNet and VAE decoder convolution weights in channels-last layout (inputs follow at each call).
    void use_channels_last();
    // The text encoder at the precision it runs in on this device (see set_precision).
    void text_precision();
    // Captured CUDA graphs replay the weights' addresses: after weights are replaced (LoRA), the
    // next calls capture again.
    void reset_cuda_graphs();
    // A1111's "Tiling" for the next runs: the UNet's and VAE's convolutions pad circularly.
    void set_tiling(bool on);
    bool tiling = false;
    torch::ScalarType precision = torch::kFloat;
    torch::Device device = torch::kCPU;
    // On CUDA the UNet step replays from captured graphs ($GIMP_DIFFUSION_CUDA_GRAPHS=0: eager).
    std::shared_ptr<CudaGraphUNet> cuda_graph;
    // The prompt's hypernetworks in every UNet attention layer (converted to this model's device and
    // precision); `key` names the set, so an unchanged one costs nothing. nullptr / "": none.
    void set_hypernetworks(std::shared_ptr<const models::HypernetworkSet> set, const std::string& key);
    std::string hypernetwork_key;
    // Sampled with A1111's alpha overrides: its downcast (float16) alphas_cumprod and its "Zero
    // Terminal SNR" noise schedule instead of the model's own; its UNet calls merge tokens at
    // token_merging_ratio.
    LatentModel latent_model(bool downcast_alphas = false, bool zero_terminal_snr = false, double token_merging_ratio = 0) const;
    ImageCodec codec() const;
    // The run's Hypertile in this model's U-Net self-attention layers and VAE decoder (nullptr:
    // none); the run owns it and takes it out again (HypertileScope).
    void set_hypertile(models::Hypertile* h) const;
};

// An image from `decode`, never one with NaN or infinity: when it has them, `to_float32` (false
// when the decoder runs in float32 already) switches the decoder and it decodes again; an image
// that is still not finite is an Error.
torch::Tensor decode_checked(const std::function<torch::Tensor()>& decode, const std::function<bool()>& to_float32);

// Loads a checkpoint; throws sdgimp::Error with one sentence when it is not a usable SD model.
std::shared_ptr<SDModel> load_sd_model(const std::string& path, std::optional<Prediction> prediction = std::nullopt);

// A1111's "SD VAE": the first stage's weights replaced by a VAE file's (keys "encoder.", "decoder.",
// "quant_conv.", "post_quant_conv.", or a full checkpoint's "first_stage_model." ones), before
// set_precision / set_device. Throws sdgimp::Error naming the file when they do not fit.
void load_vae_weights(SDModel& m, const std::string& vae_path);

// A1111's automatic VAE: <checkpoint stem>.vae.pt, .vae.ckpt or .vae.safetensors beside it.
std::optional<std::string> vae_near_checkpoint(const std::string& checkpoint_path);

// A model of this layout with LibTorch's random initial weights: benchmarks need no checkpoint.
std::shared_ptr<SDModel> random_sd_model(const ModelConfig& cfg);

// A1111's conversion: clamp((x + 1) / 2, 0, 1), x255 truncated to uint8, (B, H, W, 3).
torch::Tensor to_uint8_images(const torch::Tensor& decoded);

// One (H, W, 3) uint8 image of to_uint8_images as an RGB Image, and an Image's RGB back as
// (1, 3, H, W) float32 in [0, 1] (a fourth channel is left out).
Image rgb_image(const torch::Tensor& hwc_uint8);
torch::Tensor unit_tensor(const Image& img);

}  // namespace sdgimp::pipeline
