// ldm's AutoencoderKL: encoder, decoder and the quant convs, with parameter names as in the checkpoint.
#pragma once

#include <torch/torch.h>

#include "hypertile.h"

#include "../model_config.h"
#include "module_slots.h"

namespace sdgimp::models {

struct VaeResnetBlockImpl : torch::nn::Module {
    VaeResnetBlockImpl(int64_t in, int64_t out);
    torch::Tensor forward(torch::Tensor x);
    torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
    Conv2d conv1{nullptr}, conv2{nullptr}, nin_shortcut{nullptr};
};
TORCH_MODULE(VaeResnetBlock);

struct VaeAttnBlockImpl : torch::nn::Module {
    explicit VaeAttnBlockImpl(int64_t ch);
    torch::Tensor forward(const torch::Tensor& x);
    torch::nn::GroupNorm norm{nullptr};
    Conv2d q{nullptr}, k{nullptr}, v{nullptr}, proj_out{nullptr};
    // The run's Hypertile while one is installed on the decoder's middle block (not owned).
    Hypertile* hypertile = nullptr;

private:
    torch::Tensor forward_whole(const torch::Tensor& x);
};
TORCH_MODULE(VaeAttnBlock);

// "mid": block_1, attn_1, block_2
struct VaeMidImpl : torch::nn::Module {
    explicit VaeMidImpl(int64_t ch);
    torch::Tensor forward(torch::Tensor x);
    VaeResnetBlock block_1{nullptr}, block_2{nullptr};
    VaeAttnBlock attn_1{nullptr};
};
TORCH_MODULE(VaeMid);

// One resolution level: "block.N" plus "downsample.conv" / "upsample.conv".
// The decoder's 2x nearest upsampling and the 3x3 convolution after it run over bands of output
// rows once the upsampled tensor would pass 32 MiB: it never exists whole, only one band of it at a
// time (a quarter of the decoder's peak at 768 px). The result equals the whole-tensor one up to
// the convolution's rounding. The guard turns the bands off on this thread (benchmark baseline).
class UpsampleBandsGuard {
public:
    explicit UpsampleBandsGuard(bool enabled);
    ~UpsampleBandsGuard();
    UpsampleBandsGuard(const UpsampleBandsGuard&) = delete;
    UpsampleBandsGuard& operator=(const UpsampleBandsGuard&) = delete;

private:
    bool saved_;
};

torch::Tensor upsample2x_conv(const torch::Tensor& x, Conv2d& conv);
// Output rows per band for this input, 0 where the whole tensor is convolved at once.
int64_t upsample2x_band_rows(const torch::Tensor& x, const Conv2d& conv);

struct VaeLevelImpl : torch::nn::Module {
    torch::nn::ModuleList block;
    Conv2d resample{nullptr};
    bool down = false;
    torch::Tensor forward(torch::Tensor x);
};
TORCH_MODULE(VaeLevel);

struct VaeEncoderImpl : torch::nn::Module {
    explicit VaeEncoderImpl(const VAEConfig& c);
    torch::Tensor forward(const torch::Tensor& x);
    Conv2d conv_in{nullptr}, conv_out{nullptr};
    torch::nn::ModuleList down;
    VaeMid mid{nullptr};
    torch::nn::GroupNorm norm_out{nullptr};
};
TORCH_MODULE(VaeEncoder);

struct VaeDecoderImpl : torch::nn::Module {
    explicit VaeDecoderImpl(const VAEConfig& c);
    torch::Tensor forward(const torch::Tensor& z);
    Conv2d conv_in{nullptr}, conv_out{nullptr};
    torch::nn::ModuleList up;
    VaeMid mid{nullptr};
    torch::nn::GroupNorm norm_out{nullptr};
};
TORCH_MODULE(VaeDecoder);

struct AutoencoderKLImpl : torch::nn::Module {
    explicit AutoencoderKLImpl(const VAEConfig& c);
    // image in [-1, 1] -> moments (mean and logvar stacked on channels)
    torch::Tensor encode_moments(const torch::Tensor& image);
    torch::Tensor decode(const torch::Tensor& z);
    VaeEncoder encoder{nullptr};
    VaeDecoder decoder{nullptr};
    Conv2d quant_conv{nullptr}, post_quant_conv{nullptr};
    VAEConfig cfg;
};
TORCH_MODULE(AutoencoderKL);

}  // namespace sdgimp::models
