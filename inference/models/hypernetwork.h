// Hypernetworks as A1111 1.10 runs them (<hypernet:name:multiplier>): small per-width MLPs that
// rewrite the context of every UNet attention layer before its key and value projections,
// k = to_k(ctx + mlp_k(ctx) * m), v = to_v(ctx + mlp_v(ctx) * m). Self-attention passes its own
// input as the context, so a file with entries for 320/640/1280 changes those layers too.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace sdgimp::models {

// One MLP of a hypernetwork file, built from the file's own layer structure exactly as A1111's
// HypernetworkModule lays out its Sequential (linear, activation, layer norm, dropout).
struct HypernetworkMlp {
    struct Step {
        enum class Op { kLinear, kActivation, kLayerNorm } op;
        torch::Tensor weight, bias;  // linear (out, in) + (out); layer norm (n) + (n); PReLU's slope
        std::string activation;      // A1111's name: "relu", "swish", "gelu", ...
    };
    std::vector<Step> steps;
    // x + mlp(x) * multiplier
    torch::Tensor forward(const torch::Tensor& x, double multiplier) const;
};

struct Hypernetwork {
    std::string name, path;
    std::map<int64_t, std::array<HypernetworkMlp, 2>> layers;  // context width -> (key, value) MLPs
    // A copy whose weights live on `device` as `dtype` (layer norms stay float32, as under autocast).
    Hypernetwork to(torch::Device device, torch::ScalarType dtype) const;
};

// Reads a hypernetwork .pt (torch.save zip or legacy stream). Throws sdgimp::Error in one sentence
// naming the file when it is not one, uses an activation A1111 cannot build, or its tensors do not
// match its own layer structure.
Hypernetwork load_hypernetwork(const std::string& path, const std::string& name);

// The networks a prompt turned on, in prompt order, with their multipliers.
struct HypernetworkSet {
    std::vector<std::pair<std::shared_ptr<const Hypernetwork>, double>> nets;
    // A1111's apply_hypernetworks: each network in turn rewrites the key and value contexts, chosen
    // by the key context's width; a network without that width leaves them as they are.
    std::pair<torch::Tensor, torch::Tensor> apply(const torch::Tensor& context) const;
};

// Every attention layer of `unet` uses `set` from now on (nullptr: none).
void set_hypernetworks(torch::nn::Module& unet, std::shared_ptr<const HypernetworkSet> set);

}  // namespace sdgimp::models
