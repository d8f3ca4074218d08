// CPU versions of the fused kernels: the reference the CUDA kernels are tested against, and the
// CPU engine's own float32 GroupNorm+SiLU (one read for the moments, one read and one write for the
// normalised, activated output, instead of GroupNorm's three passes plus SiLU's two).
#pragma once

#include <cstdint>
#include <functional>

#include "../kernel_shapes.h"

namespace gd::kernels {

// Runs body(begin, end) over [0, n) in chunks, possibly on several threads; the engine passes
// LibTorch's thread pool, tests may pass nothing (serial).
using ParallelFor = std::function<void(int64_t n, const std::function<void(int64_t begin, int64_t end)>& body)>;

// body over [0, n): through `parallel` when given, else in one call on this thread.
inline void run_parallel(const ParallelFor& parallel, int64_t n, const std::function<void(int64_t, int64_t)>& body) {
    if (parallel) {
        parallel(n, body);
    } else {
        body(0, n);
    }
}

// mean and rstd hold batch * groups values each (index n * groups + g). Sums run in double.
void group_norm_moments_cpu(const float* x, const GroupNormShape& s, float eps, float* mean, float* rstd,
                            const ParallelFor& parallel = {});

// y may be x itself (in place); no other overlap. gamma/beta may be null (1 and 0).
void group_norm_silu_cpu(const float* x, const float* gamma, const float* beta, float* y, const GroupNormShape& s,
                         const GroupNormParams& p, const ParallelFor& parallel = {});

// The same over bfloat16 storage (the 16 bits of each value; gamma/beta bfloat16 too): float
// arithmetic inside, one rounding to bfloat16 at the end (LibTorch rounds after the norm and again
// after SiLU).
void group_norm_silu_cpu_bf16(const uint16_t* x, const uint16_t* gamma, const uint16_t* beta, uint16_t* y,
                              const GroupNormShape& s, const GroupNormParams& p, const ParallelFor& parallel = {});

// GEGLU as in the SD transformer's feed-forward: x is (rows, 2 * inner), value half then gate half;
// y (rows, inner) = value * gelu(gate), with the exact (erf) GELU.
void geglu_cpu(const float* x, float* y, int64_t rows, int64_t inner, const ParallelFor& parallel = {});

// bfloat16 GEGLU (erf of Abramowitz & Stegun 7.1.26, 1.5e-7 off: far below bfloat16's step) and
// LayerNorm over the last dimension (two passes over each row in float; gamma/beta may be null).
void geglu_cpu_bf16(const uint16_t* x, uint16_t* y, int64_t rows, int64_t inner, const ParallelFor& parallel = {});
void layer_norm_cpu_bf16(const uint16_t* x, const uint16_t* gamma, const uint16_t* beta, uint16_t* y, int64_t rows,
                         int64_t cols, float eps, const ParallelFor& parallel = {});

// The float SiLU the fused kernel uses (a vectorisable exp, within 2 ulp of std::exp's result).
float silu_approx(float v);

// Attention for one head in float32 on AVX-512 (attention_kernel_available() says whether this CPU
// has it): out (n x dv) = softmax(q k^T) v with q (n x d, the scale already applied), k (m x d),
// v (m x dv), all row-major and dense. Query rows go in blocks of block_rows whose scores stay in
// the cache; scratch holds attention_scratch_floats(m, d, dv, block_rows) floats.
bool attention_kernel_available();
int64_t attention_scratch_floats(int64_t m, int64_t d, int64_t dv, int64_t block_rows);
void attention_head_f32(const float* q, const float* k, const float* v, float* out, int64_t n, int64_t m, int64_t d,
                        int64_t dv, int64_t block_rows, float* scratch);

// The same over bfloat16 storage on CPUs with AVX512_BF16 (attention_bf16_kernel_available()):
// products of bfloat16 pairs summed in float32, the soft-maxed weights rounded to bfloat16 (as
// LibTorch's bfloat16 softmax) before the second one, one rounding of the output. scratch holds
// attention_bf16_scratch_bytes(m, d, dv, block_rows) bytes, 4-byte aligned.
bool attention_bf16_kernel_available();
int64_t attention_bf16_scratch_bytes(int64_t m, int64_t d, int64_t dv, int64_t block_rows);
void attention_head_bf16(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* out, int64_t n, int64_t m,
                         int64_t d, int64_t dv, int64_t block_rows, void* scratch);

// Winograd F(2x2, 3x3) over channels-last (n, height, width, channels) float32 images, padding 1:
// tiles of 2x2 output pixels numbered image by image, row by row.
struct WinogradGeometry {
    int64_t batch = 1, height = 0, width = 0, channels = 0, out_channels = 0, tiles_y = 0, tiles_x = 0;
};
// v[xi * plane + t * channels + c] (16 planes of count x channels, `plane` floats apart) = B^T d B
// for tiles t0 .. t0 + count - 1, d each tile's 4x4 input patch (zeros: `channels` zeros standing in
// for pixels outside the image). A plane stride that is not a multiple of 4 KiB keeps the 16
// streams out of each other's cache sets.
void winograd_input_transform(const float* x, const WinogradGeometry& g, int64_t t0, int64_t count, const float* zeros,
                              float* v, int64_t plane);
// y's 2x2 pixels of each tile = A^T m A + bias from m[xi * plane + t * out_channels + k]; pixels
// past an odd edge are written to sink (out_channels floats).
void winograd_output_transform(const float* m, int64_t plane, const float* bias, const WinogradGeometry& g, int64_t t0,
                               int64_t count, float* sink, float* y);

}  // namespace gd::kernels
