// Element loads and stores in float for the three storage types the kernels take.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace gd::kernels::cuda {

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// Calls f.template operator()<T>() with the storage type named by `dtype`.
template <typename F>
int dispatch(DType dtype, F&& f) {
    switch (dtype) {
        case DType::kFloat32: return f(float{});
        case DType::kFloat16: return f(__half{});
        case DType::kBFloat16: return f(__nv_bfloat16{});
    }
    return static_cast<int>(cudaErrorInvalidValue);
}

}  // namespace gd::kernels::cuda
