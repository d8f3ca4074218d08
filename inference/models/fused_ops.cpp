#include "fused_ops.h"

#include <algorithm>
#include <vector>

#include <ATen/Parallel.h>

#include "../../kernels/cpu/cpu_kernels.h"
#include "cpu_gemm.h"
#include "module_slots.h"
#include "winograd_conv.h"

#ifdef GD_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif
#ifdef GD_CUDA_KERNELS
#include <c10/cuda/CUDAStream.h>

#include "../../kernels/cuda/cuda_kernels.h"
#endif

namespace sdgimp::models {

namespace {

namespace K = gd::kernels;

K::ParallelFor torch_parallel() {
    return [](int64_t n, const std::function<void(int64_t, int64_t)>& body) {
        at::parallel_for(0, n, 1, [&](int64_t b, int64_t e) { body(b, e); });
    };
}

// The activation as (batch, channels, pixels) in a layout the kernels read: NCHW-contiguous or
// channels-last-contiguous 4-D tensors, or contiguous 2/3-D ones.
bool kernel_layout(const torch::Tensor& x, K::GroupNormShape& s, int64_t groups) {
    if (x.dim() < 2 || x.size(1) % groups != 0) return false;
    s.batch = x.size(0);
    s.channels = x.size(1);
    s.pixels = x.numel() / std::max<int64_t>(1, s.batch * s.channels);
    s.groups = groups;
    if (x.is_contiguous()) {
        s.channels_last = false;
        return true;
    }
    if (x.dim() == 4 && x.is_contiguous(torch::MemoryFormat::ChannelsLast)) {
        s.channels_last = true;
        return true;
    }
    return false;
}

torch::Tensor reference_group_norm_act(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                                       const torch::Tensor& bias, double eps, bool silu) {
    auto y = torch::group_norm(x, groups, weight, bias, eps);
    return silu ? torch::silu(y) : y;
}

#ifdef GD_CUDA_KERNELS
K::DType kernel_dtype(torch::ScalarType t) {
    return t == torch::kHalf ? K::DType::kFloat16 : t == torch::kBFloat16 ? K::DType::kBFloat16 : K::DType::kFloat32;
}

void check_cuda(int err, const char* what) {
    TORCH_CHECK(err == 0, what, " CUDA kernel failed to launch (cudaError ", err, ")");
}
#endif

thread_local bool unfused_ops = false;

// The 16 bits of each bfloat16 value, as the CPU kernels take them (null for an undefined tensor).
const uint16_t* bf16_bits(const torch::Tensor& t) {
    return t.defined() ? reinterpret_cast<const uint16_t*>(t.data_ptr<at::BFloat16>()) : nullptr;
}
uint16_t* bf16_bits_out(torch::Tensor& t) { return reinterpret_cast<uint16_t*>(t.data_ptr<at::BFloat16>()); }

}  // namespace

UnfusedOpsGuard::UnfusedOpsGuard() : saved_(unfused_ops) { unfused_ops = true; }
UnfusedOpsGuard::~UnfusedOpsGuard() { unfused_ops = saved_; }

bool have_cuda_kernels() {
#ifdef GD_CUDA_KERNELS
    return true;
#else
    return false;
#endif
}

int64_t cuda_device_memory_used_bytes() {
#ifdef GD_CUDA_KERNELS
    return K::cuda::device_memory_used_bytes();
#else
    return -1;
#endif
}

CudaMemoryPeaks cuda_memory_peaks() {
    CudaMemoryPeaks p;
#ifdef GD_TORCH_CUDA
    // Index 0 of each statistic is the aggregate over the allocator's pools.
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(c10::cuda::current_device());
    p.allocated = stats.allocated_bytes[0].peak;
    p.reserved = stats.reserved_bytes[0].peak;
#endif
    return p;
}

torch::Tensor group_norm_act(const torch::Tensor& x, int64_t groups, const torch::Tensor& weight,
                             const torch::Tensor& bias, double eps, bool silu, bool fused, bool overwrite_input) {
    K::GroupNormShape s;
    const bool params_ok = (!weight.defined() || (weight.is_contiguous() && weight.scalar_type() == x.scalar_type())) &&
                           (!bias.defined() || (bias.is_contiguous() && bias.scalar_type() == x.scalar_type()));
    if (!fused || unfused_ops || !params_ok || !kernel_layout(x, s, groups) || torch::GradMode::is_enabled())
        return reference_group_norm_act(x, groups, weight, bias, eps, silu);
    const K::GroupNormParams p{static_cast<float>(eps), silu};
    if (x.is_cpu() && x.scalar_type() == torch::kFloat) {
        auto y = overwrite_input ? x : torch::empty_like(x);  // keeps the memory format
        K::group_norm_silu_cpu(x.data_ptr<float>(), weight.defined() ? weight.data_ptr<float>() : nullptr,
                               bias.defined() ? bias.data_ptr<float>() : nullptr, y.data_ptr<float>(), s, p,
                               torch_parallel());
        return y;
    }
    if (x.is_cpu() && x.scalar_type() == torch::kBFloat16) {
        auto y = overwrite_input ? x : torch::empty_like(x);
        K::group_norm_silu_cpu_bf16(bf16_bits(x), bf16_bits(weight), bf16_bits(bias), bf16_bits_out(y), s, p, torch_parallel());
        return y;
    }
#ifdef GD_CUDA_KERNELS
    const auto t = x.scalar_type();
    if (x.is_cuda() && (t == torch::kFloat || t == torch::kHalf || t == torch::kBFloat16) && K::cuda::group_norm_silu_supported(s)) {
        auto y = overwrite_input ? x : torch::empty_like(x);
        auto work = torch::empty({static_cast<int64_t>(K::cuda::group_norm_silu_workspace_bytes(s))},
                                 x.options().dtype(torch::kByte));
        check_cuda(K::cuda::group_norm_silu(x.data_ptr(), weight.defined() ? weight.data_ptr() : nullptr,
                                            bias.defined() ? bias.data_ptr() : nullptr, y.data_ptr(), work.data_ptr(), s,
                                            p, kernel_dtype(t), c10::cuda::getCurrentCUDAStream().stream()),
                   "GroupNorm");
        return y;
    }
#endif
    return reference_group_norm_act(x, groups, weight, bias, eps, silu);
}

torch::Tensor group_norm_act(const torch::Tensor& x, const torch::nn::GroupNorm& norm, bool silu) {
    const auto& o = norm->options;
    return group_norm_act(x, o.num_groups(), norm->weight, norm->bias, o.eps(), silu);
}

torch::Tensor group_norm_act_(torch::Tensor x, const torch::nn::GroupNorm& norm, bool silu) {
    const auto& o = norm->options;
    return group_norm_act(x, o.num_groups(), norm->weight, norm->bias, o.eps(), silu, true, true);
}

torch::Tensor linear_forward(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
    const int64_t in = x.size(-1), out_features = weight.size(0), rows = in ? x.numel() / in : 0;
    if (unfused_ops || !x.is_cpu() || x.scalar_type() != torch::kFloat || weight.scalar_type() != torch::kFloat ||
        !have_cpu_sgemm() || rows == 0 || torch::GradMode::is_enabled())
        return torch::linear(x, weight, bias);
    const auto x2 = x.reshape({rows, in}).contiguous();
    const auto w = weight.contiguous();
    if (rows <= (at::get_num_threads() > 1 ? 256 : 128)) {
        // Few rows (a prompt's 77 tokens, cross-attention keys): y^T = W x^T, so oneDNN splits the
        // long `out_features` side across threads, where y = x W^T ran on one thread only for widths
        // of 1024 and its multiples (OpenCLIP-H); the rows of x get 16 floats of padding so that a
        // 4 KiB stride does not map them onto the same cache sets. 2.5x on two threads, 1.2x on one.
        const int64_t ld = in + 16;
        auto xp = torch::empty({rows, ld}, x.options());
        xp.narrow(1, 0, in).copy_(x2);
        auto yt = torch::empty({out_features, rows}, x.options());
        if (bias.defined()) yt.copy_(bias.view({out_features, 1}).expand({out_features, rows}));
        TORCH_CHECK(cpu_sgemm(false, true, out_features, rows, in, w.data_ptr<float>(), in, xp.data_ptr<float>(), ld,
                              yt.data_ptr<float>(), rows, bias.defined()),
                    "oneDNN sgemm failed");
        auto sizes = x.sizes().vec();
        sizes.back() = out_features;
        return yt.t().contiguous().view(sizes);
    }
    // A fresh output, the bias copied into every row (expand().contiguous() would alias the bias
    // itself when rows == 1, and the product is accumulated onto it).
    auto y = torch::empty({rows, out_features}, x.options());
    if (bias.defined()) y.copy_(bias.expand({rows, out_features}));
    TORCH_CHECK(cpu_sgemm(false, true, rows, out_features, in, x2.data_ptr<float>(), in, w.data_ptr<float>(), in,
                          y.data_ptr<float>(), out_features, bias.defined()),
                "oneDNN sgemm failed");
    auto sizes = x.sizes().vec();
    sizes.back() = out_features;
    return y.view(sizes);
}

torch::Tensor conv2d_forward(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                             int64_t stride, int64_t pad, ConvWeightCache* cache) {
    if (cache) {
        if (auto y = cache->convolve(x, weight, bias, stride, pad, !unfused_ops); y.defined()) return y;
    } else if (!unfused_ops && !torch::GradMode::is_enabled() && winograd_applies(x, weight, stride, pad)) {
        return conv3x3_winograd(x, weight, bias);
    }
    const bool pointwise = weight.dim() == 4 && weight.size(2) == 1 && weight.size(3) == 1 && stride == 1 && pad == 0;
    if (!pointwise || unfused_ops || !x.is_cpu() || x.dim() != 4 || x.scalar_type() != torch::kFloat ||
        weight.scalar_type() != torch::kFloat || !have_cpu_sgemm() || torch::GradMode::is_enabled() ||
        x.size(1) != weight.size(1))
        return torch::conv2d(x, weight, bias, stride, pad);
    const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), out = weight.size(0);
    const auto w2 = weight.reshape({out, c}).contiguous();
    if (x.is_contiguous(torch::MemoryFormat::ChannelsLast)) {
        // NHWC: every pixel is a row of c values, so the convolution is (pixels x c) times w2^T.
        const auto y = linear_forward(x.permute({0, 2, 3, 1}).reshape({n * h * w, c}), w2, bias);
        return y.view({n, h, w, out}).permute({0, 3, 1, 2});
    }
    if (!x.is_contiguous()) return torch::conv2d(x, weight, bias, stride, pad);
    // NCHW: per image, (out x c) times (c x pixels), the bias added per output row.
    auto y = torch::empty({n, out, h, w}, x.options());
    if (bias.defined()) y.copy_(bias.view({1, out, 1, 1}).expand({n, out, h, w}));
    for (int64_t i = 0; i < n; ++i)
        TORCH_CHECK(cpu_sgemm(false, false, out, h * w, c, w2.data_ptr<float>(), c, x[i].data_ptr<float>(), h * w,
                              y[i].data_ptr<float>(), h * w, bias.defined()),
                    "oneDNN sgemm failed");
    return y;
}

torch::Tensor layer_norm(const torch::Tensor& x, const torch::nn::LayerNorm& norm) {
    const auto& w = norm->weight;
    const auto& b = norm->bias;
    const auto& shape = norm->options.normalized_shape();
    if (unfused_ops || !x.is_cpu() || x.scalar_type() != torch::kBFloat16 || !x.is_contiguous() || shape.size() != 1 ||
        x.size(-1) != shape[0] || torch::GradMode::is_enabled() || !w.defined() || !b.defined() ||
        w.scalar_type() != torch::kBFloat16 || b.scalar_type() != torch::kBFloat16)
        return torch::layer_norm(x, shape, w, b, norm->options.eps());
    auto y = torch::empty_like(x);
    const int64_t cols = x.size(-1);
    K::layer_norm_cpu_bf16(bf16_bits(x), bf16_bits(w), bf16_bits(b), bf16_bits_out(y), x.numel() / std::max<int64_t>(1, cols),
                           cols, static_cast<float>(norm->options.eps()), torch_parallel());
    return y;
}

torch::Tensor geglu(const torch::Tensor& x, bool fused) {
    const auto t = x.scalar_type();
    bool kernel = fused && !unfused_ops && x.is_contiguous() && !torch::GradMode::is_enabled() &&
                        ((x.is_cpu() && t == torch::kBFloat16) ||
                         (have_cuda_kernels() && x.is_cuda() && (t == torch::kFloat || t == torch::kHalf || t == torch::kBFloat16)));
    const int64_t inner = x.size(-1) / 2, rows = x.numel() / std::max<int64_t>(1, 2 * inner);
#ifdef GD_CUDA_KERNELS
    if (kernel && x.is_cuda() && !K::cuda::geglu_supported(rows, inner)) kernel = false;
#endif
    if (kernel) {
        auto sizes = x.sizes().vec();
        sizes.back() = inner;
        auto y = torch::empty(sizes, x.options());
        if (x.is_cpu()) {
            K::geglu_cpu_bf16(bf16_bits(x), bf16_bits_out(y), rows, inner, torch_parallel());
            return y;
        }
#ifdef GD_CUDA_KERNELS
        check_cuda(K::cuda::geglu(x.data_ptr(), y.data_ptr(), rows, inner, kernel_dtype(t),
                                  c10::cuda::getCurrentCUDAStream().stream()),
                   "GEGLU");
        return y;
#endif
    }
    // float32 on the CPU: LibTorch's vectorised exact erf (the scalar CPU kernel is the CUDA reference).
    auto parts = x.chunk(2, -1);
    return parts[0] * torch::gelu(parts[1]);
}

int parallel_for_threads() {
    const int64_t n = at::get_num_threads();
    std::vector<char> seen(static_cast<size_t>(n), 0);
    at::parallel_for(0, n, 1, [&](int64_t, int64_t) {
        const int t = at::get_thread_num();
        if (t >= 0 && t < n) seen[static_cast<size_t>(t)] = 1;
    });
    return static_cast<int>(std::count(seen.begin(), seen.end(), 1));
}

}  // namespace sdgimp::models
