// GroupNorm+SiLU, GEGLU and LayerNorm through the fused kernels where one fits the tensor (CPU
// float32/bfloat16; float32/float16/bfloat16 on CUDA builds), else through LibTorch's own ops: the
// same results either way.
#pragma once

#include <torch/torch.h>

namespace sdgimp::models {

// silu(norm(x)) for a GroupNorm module (or norm(x) alone when silu is false), NCHW or channels-last.
torch::Tensor group_norm_act(const torch::Tensor& x, const torch::nn::GroupNorm& norm, bool silu = true);

// The same, written over x when the fused kernel takes it (x is a temporary nobody reads again):
// saves a fresh output buffer, whose first touch costs as much as the kernel on large activations.
torch::Tensor group_norm_act_(torch::Tensor x, const torch::nn::GroupNorm& norm, bool silu = true);

// The functional form behind it; `fused` false forces LibTorch's ops (the tests' and the benchmark's
// baseline).
torch::Tensor group_norm_act(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                             const torch::Tensor& bias, double eps, bool silu, bool fused = true,
                             bool overwrite_input = false);

// A LayerNorm module over the last dimension: the bfloat16 CPU kernel for contiguous bfloat16 input,
// else the module itself.
torch::Tensor layer_norm(const torch::Tensor& x, const torch::nn::LayerNorm& norm);

// x (..., 2 * inner) -> value * gelu(gate) (..., inner): the SD transformer's GEGLU.
torch::Tensor geglu(const torch::Tensor& x, bool fused = true);

// While one lives, this thread's fused ops (and the oneDNN products) take LibTorch's ops: the benchmark's baseline
// in the same run.
class UnfusedOpsGuard {
public:
    UnfusedOpsGuard();
    ~UnfusedOpsGuard();
    UnfusedOpsGuard(const UnfusedOpsGuard&) = delete;
    UnfusedOpsGuard& operator=(const UnfusedOpsGuard&) = delete;

private:
    bool saved_;
};

// How many of LibTorch's threads at::parallel_for spreads a loop over in this engine's code: 1
// where the engine was compiled without OpenMP (LibTorch's headers then run every parallel_for
// serially, whatever at::get_num_threads() says).
int parallel_for_threads();

// Whether this build carries the CUDA kernels (a CUDA LibTorch and nvcc at build time).
bool have_cuda_kernels();

// Bytes in use on the current CUDA device (all processes, CUDA context included); -1 without CUDA.
int64_t cuda_device_memory_used_bytes();
// The most device memory this process's tensors have held at once (allocated: what PyTorch's
// max_memory_allocated reports) and what LibTorch's caching allocator reserved for them at most;
// bytes, -1 without a CUDA LibTorch. Neither counts the CUDA context and libraries (~0.5 GiB).
struct CudaMemoryPeaks {
    int64_t allocated = -1, reserved = -1;
};
CudaMemoryPeaks cuda_memory_peaks();

}  // namespace sdgimp::models
