// GEGLU of the SD transformer feed-forward: one pass reading the projection's two halves and
// writing value * gelu(gate), instead of chunk + gelu + mul (three passes, two temporaries).
#include <cuda_runtime.h>

#include <algorithm>

#include "cuda_kernels.h"
#include "cuda_types.cuh"

namespace gd::kernels::cuda {

namespace {

template <typename T, int V>
struct alignas(sizeof(T) * V) Vec {
    T v[V];
};

// V outputs per thread step from V-wide loads of both halves; 32-bit indices (one division per
// vector: 64-bit division per element cost more than the memory traffic).
template <typename T, int V>
__global__ void geglu_kernel(const T* __restrict__ x, T* __restrict__ y, unsigned rows, unsigned inner) {
    const unsigned per_row = inner / V, vectors = rows * per_row;
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < vectors; i += gridDim.x * blockDim.x) {
        const unsigned r = i / per_row, j = (i - r * per_row) * V;
        const T* row = x + static_cast<size_t>(r) * 2 * inner;
        const Vec<T, V> value = *reinterpret_cast<const Vec<T, V>*>(row + j);
        const Vec<T, V> gate = *reinterpret_cast<const Vec<T, V>*>(row + inner + j);
        Vec<T, V> out;
#pragma unroll
        for (int k = 0; k < V; ++k) {
            const float g = to_float(gate.v[k]);
            out.v[k] = from_float<T>(to_float(value.v[k]) * 0.5f * g * (1.0f + erff(g * 0.70710678118654752f)));
        }
        reinterpret_cast<Vec<T, V>*>(y)[i] = out;
    }
}

template <typename T, int V>
void launch(const void* x, void* y, int64_t rows, int64_t inner, cudaStream_t st) {
    const int64_t vectors = rows * inner / V;
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((vectors + 255) / 256, 132 * 16));
    geglu_kernel<T, V><<<blocks, 256, 0, st>>>(static_cast<const T*>(x), static_cast<T*>(y), static_cast<unsigned>(rows),
                                              static_cast<unsigned>(inner));
}

}  // namespace

bool geglu_supported(int64_t rows, int64_t inner) {
    return rows >= 0 && inner >= 0 && rows * inner * 2 < (int64_t(1) << 32);
}

int geglu(const void* x, void* y, int64_t rows, int64_t inner, DType dtype, void* stream) {
    if (!geglu_supported(rows, inner)) return static_cast<int>(cudaErrorInvalidValue);
    if (rows * inner == 0) return 0;
    auto st = static_cast<cudaStream_t>(stream);
    return dispatch(dtype, [&](auto tag) {
        using T = decltype(tag);
        constexpr int V = 16 / sizeof(T);
        const bool vec = inner % V == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0;
        if (vec) launch<T, V>(x, y, rows, inner, st);
        else launch<T, 1>(x, y, rows, inner, st);
        return static_cast<int>(cudaGetLastError());
    });
}

}  // namespace gd::kernels::cuda
