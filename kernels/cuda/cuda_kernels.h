// Launchers of the CUDA kernels. Plain C++ (no CUDA headers) so the engine's torch glue and the
// tests include it with g++; pointers are device pointers, `stream` is a cudaStream_t (null = the
// default stream). Each returns the cudaError_t of the launch (0 = success).
#pragma once

#include <cstddef>
#include <cstdint>

#include "../kernel_shapes.h"

namespace gd::kernels::cuda {

// Whether group_norm_silu takes this shape (under 2^31 elements, at most 3072 channels, groups
// dividing channels); callers use another implementation otherwise.
bool group_norm_silu_supported(const GroupNormShape& s);

// Scratch the GroupNorm launcher needs (partial sums and the per-group moments), in bytes.
size_t group_norm_silu_workspace_bytes(const GroupNormShape& s);

// x, y, gamma and beta in `dtype` (gamma/beta may be null; y may be x); statistics in double,
// arithmetic in float.
int group_norm_silu(const void* x, const void* gamma, const void* beta, void* y, void* workspace,
                    const GroupNormShape& s, const GroupNormParams& p, DType dtype, void* stream);

// Whether geglu takes this shape (its input under 2^32 elements: 32-bit indexing).
bool geglu_supported(int64_t rows, int64_t inner);

// y (rows, inner) = x[:, :inner] * gelu_erf(x[:, inner:]) for x (rows, 2 * inner).
int geglu(const void* x, void* y, int64_t rows, int64_t inner, DType dtype, void* stream);

// Memory in use on the current device, by every process and context (cudaMemGetInfo), in bytes.
int64_t device_memory_used_bytes();

// Number of CUDA devices this process sees (0 when there is no driver or no device).
int device_count();

}  // namespace gd::kernels::cuda
