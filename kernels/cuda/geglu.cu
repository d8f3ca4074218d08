// GEGLU of the SD transformer feed-forward: one pass reading the projection's two halves and
// writing value * gelu(gate), instead of chunk + gelu + mul (three passes, two temporaries).
#include <cuda_runtime.h>

#include <algorithm>

#include "cuda_kernels.h"
#include "cuda_types.cuh"

namespace gd::kernels::cuda {

namespace {

template <typename T>
__global__ void geglu_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t inner) {
    const int64_t total = rows * inner;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = i / inner, j = i % inner;
        const float value = to_float(x[r * 2 * inner + j]);
        const float gate = to_float(x[r * 2 * inner + inner + j]);
        y[i] = from_float<T>(value * 0.5f * gate * (1.0f + erff(gate * 0.70710678118654752f)));
    }
}

}  // namespace

int geglu(const void* x, void* y, int64_t rows, int64_t inner, DType dtype, void* stream) {
    if (rows < 0 || inner < 0) return static_cast<int>(cudaErrorInvalidValue);
    if (rows * inner == 0) return 0;
    const int64_t blocks = std::min<int64_t>((rows * inner + 255) / 256, 65535 * 8);
    return dispatch(dtype, [&](auto tag) {
        using T = decltype(tag);
        geglu_kernel<T><<<static_cast<unsigned>(blocks), 256, 0, static_cast<cudaStream_t>(stream)>>>(
            static_cast<const T*>(x), static_cast<T*>(y), rows, inner);
        return static_cast<int>(cudaGetLastError());
    });
}

}  // namespace gd::kernels::cuda
