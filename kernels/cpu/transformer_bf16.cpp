// bfloat16 kernels for the SD transformer blocks on the CPU, where LibTorch 1.13's own bfloat16
// GELU and LayerNorm run far below memory speed: one pass each, float arithmetic inside, one
// rounding to bfloat16 at the end.
#include <cmath>

#include "bf16_math.h"
#include "cpu_kernels.h"

namespace gd::kernels {

namespace {

using detail::gelu_as;
using detail::load;
using detail::store;

#define GD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

GD_CLONES void geglu_row_bf16(const uint16_t* value, const uint16_t* gate, uint16_t* y, int64_t n) {
    for (int64_t j = 0; j < n; ++j) y[j] = store<uint16_t>(load(value[j]) * gelu_as(load(gate[j])));
}

GD_CLONES void row_moments_bf16(const uint16_t* x, int64_t n, float& mean, float& var) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += load(x[i]);
    const float m = s / static_cast<float>(n);
    float q = 0;
#pragma omp simd reduction(+ : q)
    for (int64_t i = 0; i < n; ++i) {
        const float d = load(x[i]) - m;
        q += d * d;
    }
    mean = m;
    var = q / static_cast<float>(n);
}

GD_CLONES void row_normalise_bf16(const uint16_t* x, const uint16_t* gamma, const uint16_t* beta, uint16_t* y,
                                  int64_t n, float mean, float rstd) {
    if (gamma && beta) {
        for (int64_t i = 0; i < n; ++i) y[i] = store<uint16_t>((load(x[i]) - mean) * rstd * load(gamma[i]) + load(beta[i]));
    } else {
        for (int64_t i = 0; i < n; ++i) y[i] = store<uint16_t>((load(x[i]) - mean) * rstd);
    }
}

#undef GD_CLONES

}  // namespace

void geglu_cpu_bf16(const uint16_t* x, uint16_t* y, int64_t rows, int64_t inner, const ParallelFor& parallel) {
    run_parallel(parallel, rows, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) geglu_row_bf16(x + r * 2 * inner, x + r * 2 * inner + inner, y + r * inner, inner);
    });
}

void layer_norm_cpu_bf16(const uint16_t* x, const uint16_t* gamma, const uint16_t* beta, uint16_t* y, int64_t rows,
                         int64_t cols, float eps, const ParallelFor& parallel) {
    if (cols <= 0) return;
    run_parallel(parallel, rows, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            float mean = 0, var = 0;
            row_moments_bf16(x + r * cols, cols, mean, var);
            row_normalise_bf16(x + r * cols, gamma, beta, y + r * cols, cols, mean, 1.0f / std::sqrt(var + eps));
        }
    });
}

}  // namespace gd::kernels
