// GroupNorm (+ SiLU) in three launches: partial sums over slices of pixels, then per-channel
// coefficients (y = (x - mean) * a + beta with a = rstd * gamma, per batch and channel), then one
// pass that applies them and SiLU.
// The passes are shaped by the layout so every warp reads consecutive addresses: channels-last
// sums run threads across channels (the group's channels are a few scattered elements per pixel
// there), NCHW sums run threads along each group's contiguous span. Index arithmetic is 32-bit and
// once per vector of elements (64-bit division per element cost more than the memory traffic).
// Sums are in double, per thread and then in a fixed order, so results are deterministic.
#include <cuda_runtime.h>

#include <algorithm>

#include "../kernel_shapes.h"
#include "cuda_kernels.h"
#include "cuda_types.cuh"

namespace gd::kernels::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kTargetBlocks = 512;  // sum blocks in flight: a few per SM on the largest GPUs

// Pixel slices per image for the sums: enough blocks to fill the GPU, each with some work.
int64_t sum_slices(const GroupNormShape& s) {
    const int64_t per_image = std::max<int64_t>(1, kTargetBlocks / std::max<int64_t>(1, s.batch * (s.channels_last ? 1 : s.groups)));
    return std::max<int64_t>(1, std::min<int64_t>(per_image, s.pixels / 16));
}

// Channels-last sums: block (slice, n); thread t owns channels t, t + blockDim, ... across the
// slice's pixels (coalesced rows), then the block adds its channels up per group.
// partial[((n * groups + g) * slices + slice) * 2 + {0, 1}] = sum, sum of squares.
template <typename T>
__global__ void sums_channels_last(const T* __restrict__ x, GroupNormShape s, int64_t slices, double* __restrict__ partial) {
    extern __shared__ double sh[];  // 2 * channels
    const int64_t n = blockIdx.y, slice = blockIdx.x;
    const int64_t per = (s.pixels + slices - 1) / slices, p0 = slice * per, p1 = min(s.pixels, p0 + per);
    const int C = static_cast<int>(s.channels);
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        double sum = 0, sq = 0;
        const T* px = x + (n * s.pixels + p0) * C + c;
        for (int64_t p = p0; p < p1; ++p, px += C) {
            const double v = to_float(*px);
            sum += v;
            sq += v * v;
        }
        sh[c] = sum;
        sh[C + c] = sq;
    }
    __syncthreads();
    const int cpg = static_cast<int>(s.channels / s.groups);
    for (int g = threadIdx.x; g < s.groups; g += blockDim.x) {
        double sum = 0, sq = 0;
        for (int c = g * cpg; c < (g + 1) * cpg; ++c) {
            sum += sh[c];
            sq += sh[C + c];
        }
        partial[((n * s.groups + g) * slices + slice) * 2] = sum;
        partial[((n * s.groups + g) * slices + slice) * 2 + 1] = sq;
    }
}

// NCHW sums: block (slice, n * groups + g) over a contiguous part of the group's span.
template <typename T>
__global__ void sums_nchw(const T* __restrict__ x, GroupNormShape s, int64_t slices, double* __restrict__ partial) {
    const int64_t ng = blockIdx.y, slice = blockIdx.x;
    const int64_t count = (s.channels / s.groups) * s.pixels;
    const int64_t per = (count + slices - 1) / slices, b = slice * per, e = min(count, b + per);
    const T* base = x + ng * count;  // (n, g) is one contiguous span in NCHW
    double sum = 0, sq = 0;
    for (int64_t i = b + threadIdx.x; i < e; i += blockDim.x) {
        const double v = to_float(base[i]);
        sum += v;
        sq += v * v;
    }
    __shared__ double ssum[kThreads], ssq[kThreads];
    ssum[threadIdx.x] = sum;
    ssq[threadIdx.x] = sq;
    __syncthreads();
    for (int stride = kThreads / 2; stride > 0; stride /= 2) {
        if (threadIdx.x < stride) {
            ssum[threadIdx.x] += ssum[threadIdx.x + stride];
            ssq[threadIdx.x] += ssq[threadIdx.x + stride];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        partial[(ng * slices + slice) * 2] = ssum[0];
        partial[(ng * slices + slice) * 2 + 1] = ssq[0];
    }
}

// One block per image: the groups' moments, then per channel m = its group's mean,
// a = rstd * gamma[c], b = beta[c] (the mean is kept apart so x - m loses nothing to cancellation).
template <typename T>
__global__ void coefficients(const double* __restrict__ partial, GroupNormShape s, int64_t slices, float eps,
                             const T* __restrict__ gamma, const T* __restrict__ beta, float* __restrict__ m,
                             float* __restrict__ a, float* __restrict__ b) {
    extern __shared__ float moments[];  // mean[groups], rstd[groups]
    const int64_t n = blockIdx.x;
    const double count = static_cast<double>((s.channels / s.groups) * s.pixels);
    for (int g = threadIdx.x; g < s.groups; g += blockDim.x) {
        double sum = 0, sq = 0;
        const double* pg = partial + (n * s.groups + g) * slices * 2;
        for (int64_t k = 0; k < slices; ++k) {
            sum += pg[2 * k];
            sq += pg[2 * k + 1];
        }
        const double mean = count > 0 ? sum / count : 0.0;
        const double var = count > 0 ? fmax(0.0, sq / count - mean * mean) : 0.0;
        moments[g] = static_cast<float>(mean);
        moments[s.groups + g] = static_cast<float>(rsqrt(var + eps));
    }
    __syncthreads();
    const int cpg = static_cast<int>(s.channels / s.groups);
    for (int c = threadIdx.x; c < s.channels; c += blockDim.x) {
        const int g = c / cpg;
        const float r = moments[s.groups + g], scale = gamma ? r * to_float(gamma[c]) : r;
        m[n * s.channels + c] = moments[g];
        a[n * s.channels + c] = scale;
        b[n * s.channels + c] = beta ? to_float(beta[c]) : 0.0f;
    }
}

template <typename T, int V>
struct alignas(sizeof(T) * V) Vec {
    T v[V];
};

// y = silu?((x - m) * a + b) in vectors of V elements. Channels-last: a vector is V channels of one
// pixel (channels % V == 0); NCHW: V pixels of one channel (pixels % V == 0).
template <typename T, int V, bool ChannelsLast>
__global__ void apply(const T* x, T* y, GroupNormShape s, bool silu, const float* __restrict__ m, const float* __restrict__ a,
                      const float* __restrict__ b, unsigned vectors) {
    const unsigned C = static_cast<unsigned>(s.channels), P = static_cast<unsigned>(s.pixels);
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < vectors; i += gridDim.x * blockDim.x) {
        unsigned coef;  // index of the first element's (n, c) in a and b
        if (ChannelsLast) {
            const unsigned per_row = C / V, row = i / per_row, cv = i - row * per_row;
            coef = (row / P) * C + cv * V;
        } else {
            coef = i / (P / V);  // the (n, c) row: n * C + c
        }
        Vec<T, V> in = reinterpret_cast<const Vec<T, V>*>(x)[i], out;
#pragma unroll
        for (int k = 0; k < V; ++k) {
            const unsigned ci = ChannelsLast ? coef + k : coef;
            float v = (to_float(in.v[k]) - m[ci]) * a[ci] + b[ci];
            if (silu) v = v / (1.0f + __expf(-v));
            out.v[k] = from_float<T>(v);
        }
        reinterpret_cast<Vec<T, V>*>(y)[i] = out;
    }
}

template <typename T, int V, bool ChannelsLast>
void launch_apply(const void* x, void* y, const GroupNormShape& s, bool silu, const float* m, const float* a, const float* b,
                  cudaStream_t st) {
    const unsigned vectors = static_cast<unsigned>(s.elements() / V);
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((vectors + kThreads - 1) / kThreads, 132 * 16));
    apply<T, V, ChannelsLast><<<blocks, kThreads, 0, st>>>(static_cast<const T*>(x), static_cast<T*>(y), s, silu, m, a, b, vectors);
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

}  // namespace

bool group_norm_silu_supported(const GroupNormShape& s) {
    // 32-bit indexing in the apply pass; each image's channel sums fit in shared memory.
    return s.groups > 0 && s.channels % s.groups == 0 && s.elements() < (int64_t(1) << 31) &&
           s.channels * 2 * int64_t(sizeof(double)) <= 48 * 1024;
}

size_t group_norm_silu_workspace_bytes(const GroupNormShape& s) {
    const size_t ng = static_cast<size_t>(s.batch * s.groups);
    return ng * static_cast<size_t>(sum_slices(s)) * 2 * sizeof(double) + static_cast<size_t>(s.batch * s.channels) * 3 * sizeof(float);
}

int group_norm_silu(const void* x, const void* gamma, const void* beta, void* y, void* workspace,
                    const GroupNormShape& s, const GroupNormParams& p, DType dtype, void* stream) {
    if (!group_norm_silu_supported(s)) return static_cast<int>(cudaErrorInvalidValue);
    if (s.elements() == 0) return 0;
    auto st = static_cast<cudaStream_t>(stream);
    const int64_t ng = s.batch * s.groups, slices = sum_slices(s);
    auto* partial = static_cast<double*>(workspace);
    auto* m = reinterpret_cast<float*>(partial + ng * slices * 2);
    float* a = m + s.batch * s.channels;
    float* b = a + s.batch * s.channels;
    return dispatch(dtype, [&](auto tag) {
        using T = decltype(tag);
        const T* xt = static_cast<const T*>(x);
        if (s.channels_last) {
            sums_channels_last<T><<<dim3(static_cast<unsigned>(slices), static_cast<unsigned>(s.batch)), kThreads,
                                    s.channels * 2 * sizeof(double), st>>>(xt, s, slices, partial);
        } else {
            sums_nchw<T><<<dim3(static_cast<unsigned>(slices), static_cast<unsigned>(ng)), kThreads, 0, st>>>(xt, s, slices, partial);
        }
        coefficients<T><<<static_cast<unsigned>(s.batch), kThreads, s.groups * 2 * sizeof(float), st>>>(
            partial, s, slices, p.eps, static_cast<const T*>(gamma), static_cast<const T*>(beta), m, a, b);
        // 16-byte vectors where the layout and the pointers allow, else single elements.
        constexpr int V = 16 / sizeof(T);
        const int64_t run = s.channels_last ? s.channels : s.pixels;
        const bool vec = run % V == 0 && aligned(x, 16) && aligned(y, 16);
        if (s.channels_last) {
            if (vec) launch_apply<T, V, true>(x, y, s, p.silu, m, a, b, st);
            else launch_apply<T, 1, true>(x, y, s, p.silu, m, a, b, st);
        } else {
            if (vec) launch_apply<T, V, false>(x, y, s, p.silu, m, a, b, st);
            else launch_apply<T, 1, false>(x, y, s, p.silu, m, a, b, st);
        }
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
