#include "attention.h"

#include "blas_threads.h"
#include "cpu_gemm.h"
#include "cpu/cpu_kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

namespace sdgimp::models {

namespace {

// Score block size in floats: small enough to stay in the cache with its softmax output.
constexpr int64_t kBlockElems = int64_t(2) << 20;
}  // namespace

torch::Tensor split_heads(const torch::Tensor& x, int64_t heads) {
    const int64_t b = x.size(0), n = x.size(1), c = x.size(2);
    return x.view({b, n, heads, c / heads}).transpose(1, 2);
}

torch::Tensor merge_heads(const torch::Tensor& x) {
    const int64_t b = x.size(0), h = x.size(1), n = x.size(2), d = x.size(3);
    return x.transpose(1, 2).reshape({b, n, h * d});
}

#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR >= 2
namespace {

// $GIMP_DIFFUSION_SDPA = flash | cudnn | efficient: only that fused CUDA attention kernel (and the
// math fallback) may run, to compare them. Returns whether the variable chose one.
bool sdpa_backend_from_env() {
    static const bool chosen = [] {
        const char* env = std::getenv("GIMP_DIFFUSION_SDPA");
        const std::string want = env ? env : "";
        if (want.empty()) return false;
        auto& ctx = at::globalContext();
        ctx.setSDPUseFlash(want == "flash");
        ctx.setSDPUseMemEfficient(want == "efficient");
#if TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 5
        ctx.setSDPUseCuDNN(want == "cudnn");
#endif
        return true;
    }();
    return chosen;
}

torch::Tensor fused_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& mask) {
#if TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 5
    const bool half = q.scalar_type() == torch::kHalf || q.scalar_type() == torch::kBFloat16;
    const int64_t d = q.size(-1);
    if (!sdpa_backend_from_env() && half && !mask.defined() && d % 8 == 0 && d <= 128) {
        // cuDNN's attention where it takes the shape (half precision, head size a multiple of 8 up
        // to 128): on an H200 the SD 2.1 UNet step ran 15.1 ms with it against 16.9 ms with
        // FlashAttention-2, LibTorch's first choice. The switches are the process's; restored after.
        struct OnlyCuDNN {
            at::Context& ctx = at::globalContext();
            const bool flash = ctx.userEnabledFlashSDP(), efficient = ctx.userEnabledMemEfficientSDP(), cudnn = ctx.userEnabledCuDNNSDP();
            OnlyCuDNN() {
                ctx.setSDPUseFlash(false);
                ctx.setSDPUseMemEfficient(false);
                ctx.setSDPUseCuDNN(true);
            }
            ~OnlyCuDNN() {
                ctx.setSDPUseFlash(flash);
                ctx.setSDPUseMemEfficient(efficient);
                ctx.setSDPUseCuDNN(cudnn);
            }
        } only_cudnn;
        return at::scaled_dot_product_attention(q, k, v);
    }
#endif
    return at::scaled_dot_product_attention(q, k, v, mask.defined() ? c10::optional<at::Tensor>(mask) : c10::nullopt);
}

}  // namespace
#endif

bool attention_scores_in_float32(const torch::Tensor& q) {
#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR >= 2
    return q.is_cuda();
#else
    (void)q;
    return false;
#endif
}

torch::Tensor attention_blocked_gemm(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                     const torch::Tensor& mask) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
    const int64_t b = q.size(0), h = q.size(1), n = q.size(2), m = k.size(2), dv = v.size(-1);
    // The scale goes on q (N x d) rather than on the scores (N x M): one small pass instead of a big one.
    const auto qf = (q * scale).contiguous().flatten(0, 1), kf = k.contiguous().flatten(0, 1), vf = v.contiguous().flatten(0, 1);
    // One head at a time, in blocks of query rows whose scores stay in the cache: the score matrix
    // is written, soft-maxed and read back without leaving it (the whole-batch version streams
    // gigabytes of scores through memory at 4096 tokens).
    const int64_t rows = std::clamp<int64_t>(attention_block_elems() / std::max<int64_t>(1, m), 1, n);
    const int64_t d = q.size(-1);
    auto out = torch::empty({b * h, n, dv}, q.options());
    // float32 products through oneDNN's sgemm (single-threaded inside this parallel region, and
    // concurrent calls really run concurrently); other dtypes through LibTorch with one BLAS thread.
    const bool dnnl = q.scalar_type() == torch::kFloat && k.scalar_type() == torch::kFloat &&
                      v.scalar_type() == torch::kFloat && have_cpu_sgemm();
    const SingleThreadedBlas blas_guard(!dnnl && at::get_num_threads() > 1);
    at::parallel_for(0, b * h, 1, [&](int64_t begin, int64_t end) {
        auto scores = torch::empty({rows, m}, q.options()), probs = torch::empty({rows, m}, q.options());
        for (int64_t i = begin; i < end; ++i) {
            const auto qi = qf[i], ki = kf[i], vi = vf[i];
            auto oi = out[i];
            for (int64_t r = 0; r < n; r += rows) {
                const int64_t e = std::min(n, r + rows);
                auto s = scores.slice(0, 0, e - r), p = probs.slice(0, 0, e - r);
                auto o = oi.slice(0, r, e);
                if (dnnl) {
                    // Shapes are valid by construction; a failure would leave scores unset, so check.
                    TORCH_CHECK(cpu_sgemm(false, true, e - r, m, d, qi.data_ptr<float>() + r * d, d, ki.data_ptr<float>(), d,
                              s.data_ptr<float>(), m),
                                "oneDNN sgemm failed");
                } else {
                    at::mm_out(s, qi.slice(0, r, e), ki.t());
                }
                if (mask.defined()) s.add_(mask.slice(0, r, e));
                at::_softmax_out(p, s, -1, false);
                if (dnnl) {
                    TORCH_CHECK(cpu_sgemm(false, false, e - r, dv, m, p.data_ptr<float>(), m, vi.data_ptr<float>(), dv,
                                          o.data_ptr<float>(), dv),
                                "oneDNN sgemm failed");
                } else {
                    at::mm_out(o, p, vi);
                }
            }
        }
    });
    return out.view({b, h, n, dv});
}

namespace {

bool attention_kernel_enabled() {
    static const bool on = [] {
        const char* e = std::getenv("GIMP_DIFFUSION_ATTN_KERNEL");
        return gd::kernels::attention_kernel_available() && !(e && std::string(e) == "0");
    }();
    return on;
}

bool attention_bf16_kernel_enabled() {
    static const bool on = attention_kernel_enabled() && gd::kernels::attention_bf16_kernel_available();
    return on;
}

// About 1 MiB of float scores per block of query rows, a multiple of the kernels' 12 rows.
int64_t kernel_block_rows(int64_t m) {
    const int64_t padded_keys = (std::max<int64_t>(m, 1) + 31) / 32 * 32;
    return std::clamp<int64_t>((int64_t{1} << 18) / padded_keys / 12 * 12, 12, 240);
}

// bfloat16 through AVX512_BF16 dot products (kernels/cpu/attention_bf16.cpp), heads in parallel:
// SD 1.5's 4096-token self-attention 0.35 s on one thread against 0.51 s for LibTorch's bfloat16
// products and softmax, and closer to the float32 result.
torch::Tensor attention_cpu_kernel_bf16(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
    const int64_t b = q.size(0), h = q.size(1), n = q.size(2), m = k.size(2), d = q.size(-1), dv = v.size(-1);
    // Scaled in bfloat16, as the products through LibTorch do.
    const auto qb = (q * scale).contiguous().flatten(0, 1), kb = k.contiguous().flatten(0, 1), vb = v.contiguous().flatten(0, 1);
    auto out = torch::empty({b * h, n, dv}, qb.options());
    const int64_t block_rows = kernel_block_rows(m);
    const int64_t scratch_floats = gd::kernels::attention_bf16_scratch_bytes(m, d, dv, block_rows) / 4 + 16;
    at::parallel_for(0, b * h, 1, [&](int64_t begin, int64_t end) {
        std::vector<float> scratch(static_cast<size_t>(scratch_floats));
        for (int64_t i = begin; i < end; ++i)
            gd::kernels::attention_head_bf16(static_cast<const uint16_t*>(qb[i].data_ptr()), static_cast<const uint16_t*>(kb[i].data_ptr()),
                                             static_cast<const uint16_t*>(vb[i].data_ptr()), static_cast<uint16_t*>(out[i].data_ptr()), n, m,
                                             d, dv, block_rows, scratch.data());
    });
    return out.view({b, h, n, dv});
}

// The AVX-512 kernel (kernels/cpu/attention_f32.cpp), heads in parallel; float16 inputs are
// computed in float32 and rounded once at the end.
torch::Tensor attention_cpu_kernel(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
    const int64_t b = q.size(0), h = q.size(1), n = q.size(2), m = k.size(2), d = q.size(-1), dv = v.size(-1);
    const auto qf = (q.to(torch::kFloat) * scale).contiguous().flatten(0, 1);
    const auto kf = k.to(torch::kFloat).contiguous().flatten(0, 1), vf = v.to(torch::kFloat).contiguous().flatten(0, 1);
    auto out = torch::empty({b * h, n, dv}, qf.options());
    const int64_t block_rows = kernel_block_rows(m);
    const int64_t scratch_floats = gd::kernels::attention_scratch_floats(m, d, dv, block_rows);
    at::parallel_for(0, b * h, 1, [&](int64_t begin, int64_t end) {
        std::vector<float> scratch(static_cast<size_t>(scratch_floats));
        for (int64_t i = begin; i < end; ++i)
            gd::kernels::attention_head_f32(qf[i].data_ptr<float>(), kf[i].data_ptr<float>(), vf[i].data_ptr<float>(),
                                            out[i].data_ptr<float>(), n, m, d, dv, block_rows, scratch.data());
    });
    return out.view({b, h, n, dv}).to(q.scalar_type());
}

}  // namespace

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& mask) {
#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR >= 2
    if (q.is_cuda()) return fused_attention(q, k, v, mask);
#endif
    const auto dt = q.scalar_type();
    const bool kernel_types = dt == k.scalar_type() && dt == v.scalar_type() &&
                              (dt == torch::kFloat || dt == torch::kHalf);
    if (q.is_cpu() && !mask.defined() && dt == torch::kBFloat16 && dt == k.scalar_type() && dt == v.scalar_type() &&
        attention_bf16_kernel_enabled())
        return attention_cpu_kernel_bf16(q, k, v);
    if (q.is_cpu() && !mask.defined() && kernel_types && attention_kernel_enabled()) return attention_cpu_kernel(q, k, v);
    return attention_blocked_gemm(q, k, v, mask);
}

torch::Tensor attention_unblocked(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
    const auto s = torch::matmul(q, k.transpose(-1, -2)).mul_(scale);
    return torch::matmul(s.softmax(-1), v);
}

int64_t attention_block_elems() {
    static const int64_t elems = [] {
        if (const char* e = std::getenv("GIMP_DIFFUSION_ATTN_BLOCK"); e && *e) return std::max<int64_t>(1024, std::atoll(e));
        return kBlockElems;
    }();
    return elems;
}

}  // namespace sdgimp::models
