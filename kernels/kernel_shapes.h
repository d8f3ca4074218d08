// Shapes and element types shared by the CPU reference kernels and the CUDA kernels. No torch, no
// CUDA headers: the engine, the tests and nvcc all include this.
#pragma once

#include <cstdint>

namespace gd::kernels {

// A (batch, channels, pixels) activation, stored NCHW (channels_last == false) or NHWC.
struct GroupNormShape {
    int64_t batch = 1, channels = 0, pixels = 0, groups = 32;
    bool channels_last = false;
    int64_t channels_per_group() const { return channels / groups; }
    int64_t elements() const { return batch * channels * pixels; }
};

// What GroupNorm (+ SiLU) computes, for both back ends:
//   y = silu?((x - mean[n, g]) * rstd[n, g] * gamma[c] + beta[c]),  rstd = 1 / sqrt(var + eps)
// with the biased variance over the group's channels and pixels (PyTorch's F.group_norm).
struct GroupNormParams {
    float eps = 1e-5f;
    bool silu = true;
};

enum class DType { kFloat32, kFloat16, kBFloat16 };

}  // namespace gd::kernels
