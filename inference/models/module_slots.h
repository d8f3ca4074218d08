// Helpers that make LibTorch module trees mirror checkpoint keys: "in_layers.0", "out.2", ...
#pragma once

#include <string>
#include <torch/torch.h>

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

inline torch::nn::Conv2d conv2d(int64_t in, int64_t out, int64_t k, int64_t stride = 1, int64_t pad = 0) {
    return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(pad));
}

inline torch::nn::GroupNorm group_norm(int64_t channels, double eps, int64_t groups = 32) {
    return torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels).eps(eps));
}

inline torch::nn::Linear linear(int64_t in, int64_t out, bool bias = true) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

inline torch::nn::LayerNorm layer_norm(int64_t dim, double eps = 1e-5) {
    return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(eps));
}

}  // namespace sdgimp::models
