// One head of attention in float32 on AVX-512: scores for a block of query rows computed by a
// register-blocked kernel into a buffer that stays in the cache, soft-maxed there with a
// vectorised exp (no normalising pass: the products are divided by each row's sum afterwards),
// then multiplied by V. oneDNN's sgemm ran the two products at about half this core's speed for
// SD's head sizes (40 and 64 are thin for a general GEMM) and LibTorch's softmax took a third of
// the time on its own.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "attention_tiles.h"
#include "bf16_math.h"
#include "cpu_kernels.h"

namespace gd::kernels {

namespace {

#define GD_AVX512 __attribute__((target("avx512f")))

using attention_tiles::kQkCols;
using attention_tiles::kQkRows;
using attention_tiles::pv_rows;
using attention_tiles::round_up;

// s[r][0..31] = sum_kk q_r[kk] * kt[kk][0..31] for the first `rows` of kQkRows query rows.
GD_AVX512 void qk_tile(const float* const* qr, int rows, const float* kt, int64_t d, float* s, int64_t lds) {
    __m512 acc[kQkRows][2];
#pragma GCC unroll 12
    for (int r = 0; r < kQkRows; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t kk = 0; kk < d; ++kk) {
        const __m512 b0 = _mm512_loadu_ps(kt + kk * kQkCols), b1 = _mm512_loadu_ps(kt + kk * kQkCols + 16);
#pragma GCC unroll 12
        for (int r = 0; r < kQkRows; ++r) {
            const __m512 a = _mm512_set1_ps(qr[r][kk]);
            acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < kQkRows; ++r) {
        if (r >= rows) break;
        _mm512_storeu_ps(s + r * lds, acc[r][0]);
        _mm512_storeu_ps(s + r * lds + 16, acc[r][1]);
    }
}

// o[r][0 .. 16 NV) (+)= sum over kk in [k0, k1) of s[r][kk] * vp[kk][0 .. 16 NV).
template <int MR, int NV>
GD_AVX512 void pv_tile(const float* s, int64_t lds, int rows, const float* vp, int64_t ldv, int64_t k0, int64_t k1, float* o,
                       int64_t ldo, bool first) {
    __m512 acc[MR][NV];
    const float* sr[MR];
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
        sr[r] = s + std::min(r, rows - 1) * lds;  // rows past the block repeat its last (not stored)
#pragma GCC unroll 4
        for (int t = 0; t < NV; ++t) acc[r][t] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(o + std::min(r, rows - 1) * ldo + 16 * t);
    }
    for (int64_t kk = k0; kk < k1; ++kk) {
        __m512 b[NV];
#pragma GCC unroll 4
        for (int t = 0; t < NV; ++t) b[t] = _mm512_loadu_ps(vp + kk * ldv + 16 * t);
#pragma GCC unroll 12
        for (int r = 0; r < MR; ++r) {
            const __m512 a = _mm512_set1_ps(sr[r][kk]);
#pragma GCC unroll 4
            for (int t = 0; t < NV; ++t) acc[r][t] = _mm512_fmadd_ps(a, b[t], acc[r][t]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
        if (r >= rows) break;
#pragma GCC unroll 4
        for (int t = 0; t < NV; ++t) _mm512_storeu_ps(o + r * ldo + 16 * t, acc[r][t]);
    }
}

template <int NV>
GD_AVX512 void pv_block(const float* s, int64_t lds, int64_t rows, const float* vp, int64_t ldv, int64_t k0, int64_t k1,
                        float* o, int64_t ldo, bool first) {
    constexpr int mr = pv_rows<NV>();
    for (int64_t r = 0; r < rows; r += mr)
        pv_tile<mr, NV>(s + r * lds, lds, static_cast<int>(std::min<int64_t>(mr, rows - r)), vp, ldv, k0, k1, o + r * ldo, ldo, first);
}

// exp(x - max) in place over a row, returning the sum.
GD_AVX512 float exp_row(float* x, int64_t n) {
    float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < n; ++j) mx = x[j] > mx ? x[j] : mx;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < n; ++j) {
        const float e = detail::exp_poly(x[j] - mx);
        x[j] = e;
        sum += e;
    }
    return sum;
}

}  // namespace

bool attention_kernel_available() {
    static const bool ok = __builtin_cpu_supports("avx512f");
    return ok;
}

int64_t attention_scratch_floats(int64_t m, int64_t d, int64_t dv, int64_t block_rows) {
    const int64_t mp = round_up(std::max<int64_t>(m, 1), kQkCols), dvp = round_up(std::max<int64_t>(dv, 1), 16);
    return mp * d + mp * dvp + block_rows * mp + block_rows * dvp + block_rows;
}

GD_AVX512 void attention_head_f32(const float* q, const float* k, const float* v, float* out, int64_t n, int64_t m, int64_t d,
                                  int64_t dv, int64_t block_rows, float* scratch) {
    const int64_t mp = round_up(std::max<int64_t>(m, 1), kQkCols), dvp = round_up(std::max<int64_t>(dv, 1), 16);
    float* kt = scratch;              // K in tiles of 32 keys: kt[tile][kk][0..31]
    float* vp = kt + mp * d;          // V with rows and columns padded by zeros: vp[key][0 .. dvp)
    float* s = vp + mp * dvp;         // scores of one block of query rows: s[r][0 .. mp)
    float* o = s + block_rows * mp;   // the block's unnormalised output: o[r][0 .. dvp)
    float* sums = o + block_rows * dvp;
    for (int64_t t = 0; t < mp / kQkCols; ++t)
        for (int64_t kk = 0; kk < d; ++kk)
            for (int64_t c = 0; c < kQkCols; ++c) {
                const int64_t key = t * kQkCols + c;
                kt[(t * d + kk) * kQkCols + c] = key < m ? k[key * d + kk] : 0.0f;
            }
    for (int64_t key = 0; key < mp; ++key)
        for (int64_t c = 0; c < dvp; ++c) vp[key * dvp + c] = key < m && c < dv ? v[key * dv + c] : 0.0f;

    // Keys in chunks whose K tiles (and V rows) stay in the level-2 cache while every row of the
    // block passes over them.
    const int64_t key_chunk = std::max<int64_t>(kQkCols, (int64_t{64} << 10) / (4 * std::max(d, dvp)) / kQkCols * kQkCols);
    for (int64_t r0 = 0; r0 < n; r0 += block_rows) {
        const int64_t rows = std::min(block_rows, n - r0);
        for (int64_t c0 = 0; c0 < mp; c0 += key_chunk) {
            const int64_t c1 = std::min(mp, c0 + key_chunk);
            for (int64_t r = 0; r < rows; r += kQkRows) {
                const float* qr[kQkRows];
                const int nr = static_cast<int>(std::min<int64_t>(kQkRows, rows - r));
                for (int i = 0; i < kQkRows; ++i) qr[i] = q + (r0 + r + std::min(i, nr - 1)) * d;
                for (int64_t c = c0; c < c1; c += kQkCols) qk_tile(qr, nr, kt + c * d, d, s + r * mp + c, mp);
            }
        }
        for (int64_t r = 0; r < rows; ++r) {
            float* row = s + r * mp;
            // Padding keys take no weight: their V rows are zero and their exp is ~1e-38.
            for (int64_t c = m; c < mp; ++c) row[c] = -std::numeric_limits<float>::infinity();
            sums[r] = exp_row(row, mp);
        }
        for (int64_t k0 = 0; k0 < mp; k0 += key_chunk) {
            const int64_t k1 = std::min(mp, k0 + key_chunk);
            for (int64_t c = 0; c < dvp; c += 64) {
                const int nv = static_cast<int>(std::min<int64_t>(4, (dvp - c) / 16));
                const bool first = k0 == 0;
                switch (nv) {
                    case 1: pv_block<1>(s, mp, rows, vp + c, dvp, k0, k1, o + c, dvp, first); break;
                    case 2: pv_block<2>(s, mp, rows, vp + c, dvp, k0, k1, o + c, dvp, first); break;
                    case 3: pv_block<3>(s, mp, rows, vp + c, dvp, k0, k1, o + c, dvp, first); break;
                    default: pv_block<4>(s, mp, rows, vp + c, dvp, k0, k1, o + c, dvp, first); break;
                }
            }
        }
        for (int64_t r = 0; r < rows; ++r) {
            const float inv = 1.0f / sums[r];
            float* dst = out + (r0 + r) * dv;
            const float* src = o + r * dvp;
            for (int64_t c = 0; c < dv; ++c) dst[c] = src[c] * inv;
        }
    }
}

#undef GD_AVX512

}  // namespace gd::kernels
