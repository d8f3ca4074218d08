// The device and precision a model runs at, from their names in requests, checked against what
// this build's LibTorch and this machine offer.
#pragma once

#include <string>
#include <torch/torch.h>

namespace sdgimp {

// "cpu" (or empty), "cuda", "cuda:N"; throws sdgimp::Error with the fix when unavailable.
torch::Device parse_device(const std::string& name);

// "float32" (or empty), "bfloat16", "float16" (CUDA only); throws sdgimp::Error otherwise.
torch::ScalarType parse_precision(const std::string& name, const torch::Device& device);

}  // namespace sdgimp
