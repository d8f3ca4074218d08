// Helpers that make LibTorch module trees mirror checkpoint keys: "in_layers.0", "out.2", ...
#pragma once

#include <string>
#include <torch/torch.h>

#include "conv_weight_cache.h"

namespace sdgimp::models {

// A module whose children sit at numeric slots, like an nn.Sequential with gaps for the
// parameter-free layers (SiLU, Dropout) that the original code kept in the sequence.
struct SlotsImpl : torch::nn::Module {
    template <typename M>
    M add(int slot, M m) {
        return register_module(std::to_string(slot), m);
    }
};
TORCH_MODULE(Slots);

// torch::conv2d, except that a float32 1x1 convolution on the CPU is the matrix product it is, done
// by oneDNN's sgemm (LibTorch 1.13 sends those to a single-threaded OpenBLAS path), and that other
// channels-last CPU convolutions given a layer's `cache` keep their weight in the form they run
// fastest in (models/conv_weight_cache.h).
torch::Tensor conv2d_forward(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                             int64_t stride, int64_t pad, ConvWeightCache* cache = nullptr);

// x padded by p on every side with the pixels of the opposite side (PyTorch's padding_mode
// "circular"), in x's memory layout.
torch::Tensor circular_pad(const torch::Tensor& x, int64_t p);

// Convolution and linear layers whose parameters start uninitialised: every value comes from the
// checkpoint (a missing key is a load error), so LibTorch's random initialisation, 5-6 s for SD 2.1,
// is skipped. init_random_weights() fills them for benchmarks.
struct Conv2dImpl : torch::nn::Module {
    Conv2dImpl(int64_t in, int64_t out, int64_t k, int64_t stride_ = 1, int64_t pad_ = 0, bool with_bias = true)
        : stride(stride_), pad(pad_) {
        weight = register_parameter("weight", torch::empty({out, in, k, k}));
        if (with_bias) bias = register_parameter("bias", torch::empty({out}));
    }
    torch::Tensor forward(const torch::Tensor& x) {
        if (circular && pad > 0) return conv2d_forward(circular_pad(x, pad), weight, bias, stride, 0, &cache);
        return conv2d_forward(x, weight, bias, stride, pad, &cache);
    }
    torch::Tensor weight, bias;
    int64_t stride, pad;
    bool circular = false;  // padding_mode "circular" (A1111's Tiling); set_circular_padding()
    ConvWeightCache cache;
};
TORCH_MODULE(Conv2d);

// x @ weight^T + bias; float32 on the CPU through oneDNN's sgemm (models/cpu_gemm.h), which scales
// with LibTorch's threads where OpenBLAS does not.
torch::Tensor linear_forward(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

struct LinearImpl : torch::nn::Module {
    LinearImpl(int64_t in, int64_t out, bool with_bias = true) {
        weight = register_parameter("weight", torch::empty({out, in}));
        if (with_bias) bias = register_parameter("bias", torch::empty({out}));
    }
    torch::Tensor forward(const torch::Tensor& x) { return linear_forward(x, weight, bias); }
    torch::Tensor weight, bias;
};
TORCH_MODULE(Linear);

struct EmbeddingImpl : torch::nn::Module {
    EmbeddingImpl(int64_t count, int64_t dim) { weight = register_parameter("weight", torch::empty({count, dim})); }
    torch::Tensor forward(const torch::Tensor& ids) { return torch::embedding(weight, ids); }
    torch::Tensor weight;
};
TORCH_MODULE(Embedding);

inline Conv2d conv2d(int64_t in, int64_t out, int64_t k, int64_t stride = 1, int64_t pad = 0) {
    return Conv2d(in, out, k, stride, pad);
}

inline torch::nn::GroupNorm group_norm(int64_t channels, double eps, int64_t groups = 32) {
    return torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels).eps(eps));
}

inline Linear linear(int64_t in, int64_t out, bool bias = true) { return Linear(in, out, bias); }

// LibTorch's default initialisation (uniform within 1 / sqrt(fan_in)) for every weight of two or
// more dimensions and its bias: random models for benchmarks.
void init_random_weights(torch::nn::Module& m);

// Every 4-D weight of the module in channels-last layout (oneDNN and cuDNN convolve it without a reorder).
void channels_last_weights(torch::nn::Module& m);

// Drops every Conv2d's kept weight form (models/conv_weight_cache.h): the weights moved off the CPU.
void clear_conv_weight_forms(torch::nn::Module& m);

// A1111's "Tiling": every Conv2d of the module pads circularly (on) or with zeros (off), so the
// image the networks make wraps round at its borders and tiles without seams.
void set_circular_padding(torch::nn::Module& m, bool on);

inline torch::nn::LayerNorm layer_norm(int64_t dim, double eps = 1e-5) {
    return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(eps));
}

}  // namespace sdgimp::models
