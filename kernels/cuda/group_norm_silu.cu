// GroupNorm (+ SiLU) in three launches: partial sums over slices of each (batch, group), the
// moments per group, then one pass that normalises, applies gamma/beta and SiLU and writes y.
// Splitting each group over several blocks keeps all SMs busy even at batch 1 with 32 groups.
#include <cuda_runtime.h>

#include <algorithm>

#include "../kernel_shapes.h"
#include "cuda_kernels.h"
#include "cuda_types.cuh"

namespace gd::kernels::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kSlices = 16;  // blocks per (batch, group) for the sums

template <typename T>
__global__ void partial_sums(const T* __restrict__ x, GroupNormShape s, double* __restrict__ partial) {
    const int64_t ng = blockIdx.y, n = ng / s.groups, g = ng % s.groups;
    const int64_t cpg = s.channels / s.groups, count = cpg * s.pixels;
    const int64_t per_slice = (count + kSlices - 1) / kSlices;
    const int64_t begin = blockIdx.x * per_slice, end = min(count, begin + per_slice);
    double sum = 0, sumsq = 0;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
        // i runs over the group's (channel, pixel) pairs in storage order.
        int64_t idx;
        if (s.channels_last) {
            const int64_t p = i / cpg, c = g * cpg + i % cpg;
            idx = (n * s.pixels + p) * s.channels + c;
        } else {
            idx = (n * s.channels + g * cpg) * s.pixels + i;
        }
        const double v = to_float(x[idx]);
        sum += v;
        sumsq += v * v;
    }
    __shared__ double ssum[kThreads], ssq[kThreads];
    ssum[threadIdx.x] = sum;
    ssq[threadIdx.x] = sumsq;
    __syncthreads();
    for (int stride = kThreads / 2; stride > 0; stride /= 2) {
        if (threadIdx.x < stride) {
            ssum[threadIdx.x] += ssum[threadIdx.x + stride];
            ssq[threadIdx.x] += ssq[threadIdx.x + stride];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        partial[(ng * kSlices + blockIdx.x) * 2] = ssum[0];
        partial[(ng * kSlices + blockIdx.x) * 2 + 1] = ssq[0];
    }
}

__global__ void moments(const double* __restrict__ partial, int64_t groups_total, int64_t count, float eps,
                        float* __restrict__ mean, float* __restrict__ rstd) {
    const int64_t ng = blockIdx.x * blockDim.x + threadIdx.x;
    if (ng >= groups_total) return;
    double sum = 0, sumsq = 0;
    for (int k = 0; k < kSlices; ++k) {
        sum += partial[(ng * kSlices + k) * 2];
        sumsq += partial[(ng * kSlices + k) * 2 + 1];
    }
    const double m = count ? sum / count : 0.0;
    const double var = count ? fmax(0.0, sumsq / count - m * m) : 0.0;
    mean[ng] = static_cast<float>(m);
    rstd[ng] = static_cast<float>(rsqrt(var + eps));
}

template <typename T>
__global__ void normalise(const T* x, const T* __restrict__ gamma, const T* __restrict__ beta, T* y, GroupNormShape s, bool silu, const float* __restrict__ mean,
                          const float* __restrict__ rstd) {
    const int64_t total = s.batch * s.channels * s.pixels, cpg = s.channels / s.groups;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        int64_t n, c;
        if (s.channels_last) {
            c = i % s.channels;
            n = i / (s.channels * s.pixels);
        } else {
            c = (i / s.pixels) % s.channels;
            n = i / (s.channels * s.pixels);
        }
        const int64_t k = n * s.groups + c / cpg;
        float v = (to_float(x[i]) - mean[k]) * rstd[k];
        if (gamma) v *= to_float(gamma[c]);
        if (beta) v += to_float(beta[c]);
        if (silu) v = v / (1.0f + __expf(-v));
        y[i] = from_float<T>(v);
    }
}

}  // namespace

size_t group_norm_silu_workspace_bytes(const GroupNormShape& s) {
    const size_t ng = static_cast<size_t>(s.batch * s.groups);
    return ng * kSlices * 2 * sizeof(double) + ng * 2 * sizeof(float);
}

int group_norm_silu(const void* x, const void* gamma, const void* beta, void* y, void* workspace,
                    const GroupNormShape& s, const GroupNormParams& p, DType dtype, void* stream) {
    if (s.groups <= 0 || s.channels % s.groups != 0) return static_cast<int>(cudaErrorInvalidValue);
    if (s.elements() == 0) return 0;
    auto st = static_cast<cudaStream_t>(stream);
    const int64_t ng = s.batch * s.groups;
    auto* partial = static_cast<double*>(workspace);
    auto* mean = reinterpret_cast<float*>(partial + ng * kSlices * 2);
    float* rstd = mean + ng;
    return dispatch(dtype, [&](auto tag) {
        using T = decltype(tag);
        partial_sums<T><<<dim3(kSlices, static_cast<unsigned>(ng)), kThreads, 0, st>>>(static_cast<const T*>(x), s, partial);
        moments<<<static_cast<unsigned>((ng + 127) / 128), 128, 0, st>>>(partial, ng, s.channels_per_group() * s.pixels,
                                                                          p.eps, mean, rstd);
        const int64_t blocks = std::min<int64_t>((s.elements() + kThreads - 1) / kThreads, 65535 * 8);
        normalise<T><<<static_cast<unsigned>(blocks), kThreads, 0, st>>>(
            static_cast<const T*>(x), static_cast<const T*>(gamma), static_cast<const T*>(beta), static_cast<T*>(y), s,
            p.silu, mean, rstd);
        return static_cast<int>(cudaGetLastError());
    });
}

int64_t device_memory_used_bytes() {
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) return -1;
    return static_cast<int64_t>(total_b - free_b);
}

int device_count() {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

}  // namespace gd::kernels::cuda
