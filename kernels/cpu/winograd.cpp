// Winograd F(2x2, 3x3) input and output transforms over channels-last tiles (the matrix products
// between them are the caller's). The channel loop is innermost and contiguous, so each
// instruction-set clone runs it in full-width vectors.
#include "cpu_kernels.h"

namespace gd::kernels {

namespace {

void tile_origin(const WinogradGeometry& g, int64_t tile, int64_t& img, int64_t& ty, int64_t& tx) {
    const int64_t per_image = g.tiles_y * g.tiles_x;
    img = tile / per_image;
    ty = (tile % per_image) / g.tiles_x;
    tx = tile % g.tiles_x;
}

}  // namespace

#define GD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

GD_CLONES void winograd_input_transform(const float* x, const WinogradGeometry& g, int64_t t0, int64_t count,
                                        const float* zeros, float* v, int64_t plane) {
    const int64_t C = g.channels;
    for (int64_t t = 0; t < count; ++t) {
        int64_t img, ty, tx;
        tile_origin(g, t0 + t, img, ty, tx);
        const float* p[16];
        for (int i = 0; i < 4; ++i) {
            const int64_t y = 2 * ty - 1 + i;
            for (int j = 0; j < 4; ++j) {
                const int64_t xx = 2 * tx - 1 + j;
                p[i * 4 + j] = (y >= 0 && y < g.height && xx >= 0 && xx < g.width) ? x + ((img * g.height + y) * g.width + xx) * C : zeros;
            }
        }
        float* __restrict out = v + t * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
            float r[4][4];  // B^T d, row by row
            for (int j = 0; j < 4; ++j) {
                const float d0 = p[j][c], d1 = p[4 + j][c], d2 = p[8 + j][c], d3 = p[12 + j][c];
                r[0][j] = d0 - d2;
                r[1][j] = d1 + d2;
                r[2][j] = d2 - d1;
                r[3][j] = d1 - d3;
            }
            for (int i = 0; i < 4; ++i) {  // (B^T d) B
                out[(i * 4 + 0) * plane + c] = r[i][0] - r[i][2];
                out[(i * 4 + 1) * plane + c] = r[i][1] + r[i][2];
                out[(i * 4 + 2) * plane + c] = r[i][2] - r[i][1];
                out[(i * 4 + 3) * plane + c] = r[i][1] - r[i][3];
            }
        }
    }
}

GD_CLONES void winograd_output_transform(const float* m, int64_t plane, const float* bias, const WinogradGeometry& g,
                                         int64_t t0, int64_t count, float* sink, float* y) {
    const int64_t K = g.out_channels;
    for (int64_t t = 0; t < count; ++t) {
        int64_t img, ty, tx;
        tile_origin(g, t0 + t, img, ty, tx);
        float* q[4];
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) {
                const int64_t yy = 2 * ty + i, xx = 2 * tx + j;
                q[i * 2 + j] = (yy < g.height && xx < g.width) ? y + ((img * g.height + yy) * g.width + xx) * K : sink;
            }
        const float* in = m + t * K;
#pragma omp simd
        for (int64_t k = 0; k < K; ++k) {
            float r[2][4];  // A^T m
            for (int j = 0; j < 4; ++j) {
                const float m0 = in[j * plane + k], m1 = in[(4 + j) * plane + k], m2 = in[(8 + j) * plane + k],
                            m3 = in[(12 + j) * plane + k];
                r[0][j] = m0 + m1 + m2;
                r[1][j] = m1 - m2 - m3;
            }
            const float b = bias ? bias[k] : 0.0f;
            for (int i = 0; i < 2; ++i) {  // (A^T m) A
                q[i * 2][k] = r[i][0] + r[i][1] + r[i][2] + b;
                q[i * 2 + 1][k] = r[i][1] - r[i][2] - r[i][3] + b;
            }
        }
    }
}

}  // namespace gd::kernels
