// 3x3 stride-1 "same" convolutions on the CPU in float32 by Winograd's F(2x2, 3x3): each 2x2
// output tile costs 16 multiplies per channel pair instead of 36, the products done as 16 matrix
// products through oneDNN's sgemm. The RRDB upscalers and the VAE are almost all such
// convolutions, and LibTorch's direct oneDNN convolution already runs near this core's float32
// peak, so fewer multiplies is what is left to gain.
#pragma once

#include <torch/torch.h>

namespace sdgimp::models {

// Whether conv3x3_winograd takes these operands: float32 CPU tensors, x 4-D channels-last, weight
// (out, in, 3, 3), stride 1, padding 1, oneDNN's sgemm present.
bool winograd_applies(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride, int64_t pad);

// The weight in the transformed domain, (16, in, out): what every call multiplies by.
torch::Tensor winograd_weights(const torch::Tensor& weight);

// y = conv2d(x, weight, bias, stride 1, padding 1), channels-last in and out; `transformed`, when
// given, is winograd_weights(weight) made earlier (ConvWeightCache keeps it per layer).
torch::Tensor conv3x3_winograd(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                               const torch::Tensor& transformed = {});

}  // namespace sdgimp::models
