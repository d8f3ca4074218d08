#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "bf16_math.h"
#include "cpu_kernels.h"

namespace gd::kernels {

namespace {

using detail::load;
using detail::silu_poly;
using detail::store;

// The loops, written once; each public variant below is compiled per instruction set (target_clones)
// with the body inlined into every clone.
template <typename T>
__attribute__((always_inline)) inline void affine_rows_body(const T* x, const float* a, const float* b, T* y,
                                                            int64_t rows, int64_t n, bool silu) {
    for (int64_t r = 0; r < rows; ++r, x += n, y += n) {
        if (silu) {
            for (int64_t i = 0; i < n; ++i) y[i] = store<T>(silu_poly(load(x[i]) * a[i] + b[i]));
        } else {
            for (int64_t i = 0; i < n; ++i) y[i] = store<T>(load(x[i]) * a[i] + b[i]);
        }
    }
}

template <typename T>
__attribute__((always_inline)) inline void affine_plane_body(const T* x, float a, float b, T* y, int64_t n, bool silu) {
    if (silu) {
        for (int64_t i = 0; i < n; ++i) y[i] = store<T>(silu_poly(load(x[i]) * a + b));
    } else {
        for (int64_t i = 0; i < n; ++i) y[i] = store<T>(load(x[i]) * a + b);
    }
}

template <typename T>
__attribute__((always_inline)) inline void sum_sumsq_body(const T* x, int64_t n, double& sum, double& sumsq) {
    double s = 0, q = 0;
#pragma omp simd reduction(+ : s, q)
    for (int64_t i = 0; i < n; ++i) {
        const double v = load(x[i]);
        s += v;
        q += v * v;
    }
    sum = s;
    sumsq = q;
}

template <typename T>
__attribute__((always_inline)) inline void accumulate_channels_body(const T* x, int64_t rows, int64_t c, double* sum,
                                                                    double* sumsq) {
    for (int64_t r = 0; r < rows; ++r, x += c) {
        for (int64_t i = 0; i < c; ++i) {
            const double v = load(x[i]);
            sum[i] += v;
            sumsq[i] += v * v;
        }
    }
}

#define GD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
// y = act(x * a + b) over NHWC pixels (rows of n channels, per-channel a, b) ...
GD_CLONES void affine_rows(const float* x, const float* a, const float* b, float* y, int64_t rows, int64_t n, bool silu) {
    affine_rows_body(x, a, b, y, rows, n, silu);
}
GD_CLONES void affine_rows(const uint16_t* x, const float* a, const float* b, uint16_t* y, int64_t rows, int64_t n,
                           bool silu) {
    affine_rows_body(x, a, b, y, rows, n, silu);
}
// ... or over one NCHW channel plane (one a, b).
GD_CLONES void affine_plane(const float* x, float a, float b, float* y, int64_t n, bool silu) {
    affine_plane_body(x, a, b, y, n, silu);
}
GD_CLONES void affine_plane(const uint16_t* x, float a, float b, uint16_t* y, int64_t n, bool silu) {
    affine_plane_body(x, a, b, y, n, silu);
}
GD_CLONES void sum_sumsq(const float* x, int64_t n, double& sum, double& sumsq) { sum_sumsq_body(x, n, sum, sumsq); }
GD_CLONES void sum_sumsq(const uint16_t* x, int64_t n, double& sum, double& sumsq) { sum_sumsq_body(x, n, sum, sumsq); }
GD_CLONES void accumulate_channels(const float* x, int64_t rows, int64_t c, double* sum, double* sumsq) {
    accumulate_channels_body(x, rows, c, sum, sumsq);
}
GD_CLONES void accumulate_channels(const uint16_t* x, int64_t rows, int64_t c, double* sum, double* sumsq) {
    accumulate_channels_body(x, rows, c, sum, sumsq);
}
#undef GD_CLONES

void check(const GroupNormShape& s) {
    if (s.groups <= 0 || s.channels <= 0 || s.channels % s.groups != 0 || s.batch < 0 || s.pixels < 0)
        throw std::invalid_argument("group norm: channels must be a positive multiple of groups");
}

// A fixed split of the pixels (not one per thread), so the sums add up in the same order on any
// number of threads and the result does not depend on the machine.
constexpr int64_t kPixelChunks = 64;

}  // namespace

float silu_approx(float v) { return silu_poly(v); }

namespace {

template <typename T>
void moments_impl(const T* x, const GroupNormShape& s, float eps, float* mean, float* rstd,
                            const ParallelFor& parallel) {
    check(s);
    const int64_t cpg = s.channels_per_group(), count = cpg * s.pixels;
    auto finish = [&](int64_t ng, double sum, double sumsq) {
        const double m = count ? sum / count : 0.0;
        const double var = count ? std::max(0.0, sumsq / count - m * m) : 0.0;
        mean[ng] = static_cast<float>(m);
        rstd[ng] = static_cast<float>(1.0 / std::sqrt(var + eps));
    };
    if (!s.channels_last) {
        run_parallel(parallel, s.batch * s.groups, [&](int64_t begin, int64_t end) {
            for (int64_t ng = begin; ng < end; ++ng) {
                double sum = 0, sumsq = 0;
                sum_sumsq(x + ng * count, count, sum, sumsq);
                finish(ng, sum, sumsq);
            }
        });
        return;
    }
    const int64_t c = s.channels, chunks = std::min<int64_t>(kPixelChunks, std::max<int64_t>(1, s.pixels));
    const int64_t per_chunk = (s.pixels + chunks - 1) / chunks;
    std::vector<double> partial(static_cast<size_t>(s.batch * chunks * c * 2), 0.0);
    run_parallel(parallel, s.batch * chunks, [&](int64_t begin, int64_t end) {
        for (int64_t job = begin; job < end; ++job) {
            const int64_t n = job / chunks, chunk = job % chunks;
            double* sum = partial.data() + job * c * 2;
            double* sumsq = sum + c;
            const int64_t p0 = chunk * per_chunk, p1 = std::min(s.pixels, p0 + per_chunk);
            if (p1 > p0) accumulate_channels(x + (n * s.pixels + p0) * c, p1 - p0, c, sum, sumsq);
        }
    });
    for (int64_t n = 0; n < s.batch; ++n) {
        for (int64_t g = 0; g < s.groups; ++g) {
            double sum = 0, sumsq = 0;
            for (int64_t chunk = 0; chunk < chunks; ++chunk) {
                const double* ps = partial.data() + (n * chunks + chunk) * c * 2;
                for (int64_t ch = g * cpg; ch < (g + 1) * cpg; ++ch) {
                    sum += ps[ch];
                    sumsq += ps[c + ch];
                }
            }
            finish(n * s.groups + g, sum, sumsq);
        }
    }
}

template <typename T>
void group_norm_silu_impl(const T* x, const T* gamma, const T* beta, T* y, const GroupNormShape& s,
                         const GroupNormParams& p, const ParallelFor& parallel) {
    check(s);
    const int64_t ng = s.batch * s.groups, cpg = s.channels_per_group(), c = s.channels;
    std::vector<float> mean(static_cast<size_t>(ng)), rstd(static_cast<size_t>(ng));
    moments_impl(x, s, p.eps, mean.data(), rstd.data(), parallel);
    // Per (n, c): y = x * a + b with a = rstd * gamma, b = beta - mean * a.
    std::vector<float> a(static_cast<size_t>(s.batch * c)), b(a.size());
    for (int64_t n = 0; n < s.batch; ++n) {
        for (int64_t ch = 0; ch < c; ++ch) {
            const int64_t k = n * s.groups + ch / cpg;
            const float scale = rstd[k] * (gamma ? load(gamma[ch]) : 1.0f);
            a[n * c + ch] = scale;
            b[n * c + ch] = (beta ? load(beta[ch]) : 0.0f) - mean[k] * scale;
        }
    }
    if (s.channels_last) {
        run_parallel(parallel, s.batch * s.pixels, [&](int64_t begin, int64_t end) {
            // Runs of pixels within one image share a and b.
            for (int64_t row = begin; row < end;) {
                const int64_t n = row / s.pixels, stop = std::min(end, (n + 1) * s.pixels);
                affine_rows(x + row * c, a.data() + n * c, b.data() + n * c, y + row * c, stop - row, c,
                                       p.silu);
                row = stop;
            }
        });
    } else {
        run_parallel(parallel, s.batch * c, [&](int64_t begin, int64_t end) {
            for (int64_t row = begin; row < end; ++row)
                affine_plane(x + row * s.pixels, a[row], b[row], y + row * s.pixels, s.pixels, p.silu);
        });
    }
}

}  // namespace

void group_norm_moments_cpu(const float* x, const GroupNormShape& s, float eps, float* mean, float* rstd,
                            const ParallelFor& parallel) {
    moments_impl(x, s, eps, mean, rstd, parallel);
}

void group_norm_silu_cpu(const float* x, const float* gamma, const float* beta, float* y, const GroupNormShape& s,
                         const GroupNormParams& p, const ParallelFor& parallel) {
    group_norm_silu_impl(x, gamma, beta, y, s, p, parallel);
}

void group_norm_silu_cpu_bf16(const uint16_t* x, const uint16_t* gamma, const uint16_t* beta, uint16_t* y,
                              const GroupNormShape& s, const GroupNormParams& p, const ParallelFor& parallel) {
    group_norm_silu_impl(x, gamma, beta, y, s, p, parallel);
}

}  // namespace gd::kernels
