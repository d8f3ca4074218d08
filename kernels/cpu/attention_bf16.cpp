// One head of attention over bfloat16 q, k, v on CPUs with AVX512_BF16: the same blocking as the
// float32 kernel (attention_f32.cpp), with both products as dot products of bfloat16 pairs
// accumulated in float32 (vdpbf16ps: twice the multiplies of a float32 FMA per instruction). The
// soft-maxed scores are rounded to bfloat16 before the second product, as LibTorch's bfloat16
// softmax output is; sums, maxima and the final division stay in float32.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "attention_tiles.h"
#include "bf16_math.h"
#include "cpu_kernels.h"

// GCC 10 and clang 9 brought the AVX512_BF16 intrinsics; an older compiler builds the stub at the
// end, which reports the kernel unavailable.
#if (defined(__clang__) && __clang_major__ >= 9) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 10)
#define GD_HAVE_BF16_INTRINSICS 1
#else
#define GD_HAVE_BF16_INTRINSICS 0
#endif

namespace gd::kernels {

#if GD_HAVE_BF16_INTRINSICS

namespace {

#define GD_BF16 __attribute__((target("avx512f,avx512bf16")))

using attention_tiles::kQkCols;
using attention_tiles::kQkRows;
using attention_tiles::pv_rows;
using attention_tiles::round_up;

// Two consecutive bfloat16 values as one 32-bit word, to broadcast a pair.
inline int32_t pair_at(const uint16_t* p) {
    int32_t w;
    std::memcpy(&w, p, sizeof w);
    return w;
}

// s[r][0..31] = q_r . k_c over pairs of the head dimension; kt holds each pair index j as
// 32 keys x 2 values.
GD_BF16 void qk_tile_bf16(const uint16_t* const* qr, int rows, const uint16_t* kt, int64_t pairs, float* s, int64_t lds) {
    __m512 acc[kQkRows][2];
#pragma GCC unroll 12
    for (int r = 0; r < kQkRows; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t j = 0; j < pairs; ++j) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(kt + j * 2 * kQkCols);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(kt + j * 2 * kQkCols + 32);
#pragma GCC unroll 12
        for (int r = 0; r < kQkRows; ++r) {
            const __m512bh a = (__m512bh)_mm512_set1_epi32(pair_at(qr[r] + 2 * j));
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < kQkRows; ++r) {
        if (r >= rows) break;
        _mm512_storeu_ps(s + r * lds, acc[r][0]);
        _mm512_storeu_ps(s + r * lds + 16, acc[r][1]);
    }
}

// o[r][0 .. 16 NV) (+)= sum over key pairs j in [j0, j1) of p[r][2j..2j+1] . v[2j..2j+1][...];
// vp holds each key pair as (columns x 2 values).
template <int MR, int NV>
GD_BF16 void pv_tile_bf16(const uint16_t* p, int64_t ldp, int rows, const uint16_t* vp, int64_t ldv, int64_t j0, int64_t j1,
                          float* o, int64_t ldo, bool first) {
    __m512 acc[MR][NV];
    const uint16_t* pr[MR];
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
        pr[r] = p + std::min(r, rows - 1) * ldp;
#pragma GCC unroll 4
        for (int t = 0; t < NV; ++t) acc[r][t] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(o + std::min(r, rows - 1) * ldo + 16 * t);
    }
    for (int64_t j = j0; j < j1; ++j) {
        __m512bh b[NV];
#pragma GCC unroll 4
        for (int t = 0; t < NV; ++t) b[t] = (__m512bh)_mm512_loadu_si512(vp + j * 2 * ldv + 32 * t);
#pragma GCC unroll 12
        for (int r = 0; r < MR; ++r) {
            const __m512bh a = (__m512bh)_mm512_set1_epi32(pair_at(pr[r] + 2 * j));
#pragma GCC unroll 4
            for (int t = 0; t < NV; ++t) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], a, b[t]);
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
GD_BF16 void pv_block_bf16(const uint16_t* p, int64_t ldp, int64_t rows, const uint16_t* vp, int64_t ldv, int64_t j0, int64_t j1,
                           float* o, int64_t ldo, bool first) {
    constexpr int mr = pv_rows<NV>();
    for (int64_t r = 0; r < rows; r += mr)
        pv_tile_bf16<mr, NV>(p + r * ldp, ldp, static_cast<int>(std::min<int64_t>(mr, rows - r)), vp, ldv, j0, j1, o + r * ldo, ldo,
                             first);
}

// exp(x - max) of a row, rounded to bfloat16 into p; returns the sum of the rounded values (the
// weights the second product really applies).
GD_BF16 float exp_row_bf16(const float* x, uint16_t* p, int64_t n) {
    float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < n; ++j) mx = x[j] > mx ? x[j] : mx;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < n; ++j) {
        const uint16_t e = detail::store<uint16_t>(detail::exp_poly(x[j] - mx));
        p[j] = e;
        sum += detail::load(e);
    }
    return sum;
}

}  // namespace

bool attention_bf16_kernel_available() {
    static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
    return ok;
}

int64_t attention_bf16_scratch_bytes(int64_t m, int64_t d, int64_t dv, int64_t block_rows) {
    const int64_t mp = round_up(std::max<int64_t>(m, 1), kQkCols), dp = round_up(d, 2), dvp = round_up(std::max<int64_t>(dv, 1), 16);
    const int64_t halves = mp * dp + mp * dvp + block_rows * mp + block_rows * dp;
    const int64_t floats = block_rows * mp + block_rows * dvp + block_rows;
    return round_up(halves * 2, 64) + floats * 4;
}

GD_BF16 void attention_head_bf16(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* out, int64_t n, int64_t m,
                                 int64_t d, int64_t dv, int64_t block_rows, void* scratch) {
    const int64_t mp = round_up(std::max<int64_t>(m, 1), kQkCols), dp = round_up(d, 2), dvp = round_up(std::max<int64_t>(dv, 1), 16);
    const int64_t pairs = dp / 2;
    auto* kt = static_cast<uint16_t*>(scratch);  // kt[tile][pair][key of 32][2]
    uint16_t* vp = kt + mp * dp;                   // vp[key pair][column][2]
    uint16_t* p = vp + mp * dvp;                   // the block's rounded weights: p[r][0 .. mp)
    uint16_t* qpad = p + block_rows * mp;          // the block's queries, the head dimension padded to pairs
    auto* s = reinterpret_cast<float*>(reinterpret_cast<char*>(scratch) + round_up((mp * dp + mp * dvp + block_rows * mp + block_rows * dp) * 2, 64));
    float* o = s + block_rows * mp;
    float* sums = o + block_rows * dvp;
    for (int64_t t = 0; t < mp / kQkCols; ++t)
        for (int64_t j = 0; j < pairs; ++j)
            for (int64_t c = 0; c < kQkCols; ++c)
                for (int e = 0; e < 2; ++e) {
                    const int64_t key = t * kQkCols + c, dim = 2 * j + e;
                    kt[((t * pairs + j) * kQkCols + c) * 2 + e] = key < m && dim < d ? k[key * d + dim] : 0;
                }
    for (int64_t j = 0; j < mp / 2; ++j)
        for (int64_t c = 0; c < dvp; ++c)
            for (int e = 0; e < 2; ++e) {
                const int64_t key = 2 * j + e;
                vp[(j * dvp + c) * 2 + e] = key < m && c < dv ? v[key * dv + c] : 0;
            }

    const int64_t key_chunk = std::max<int64_t>(kQkCols, (int64_t{32} << 10) / (2 * std::max(dp, dvp)) / kQkCols * kQkCols);
    for (int64_t r0 = 0; r0 < n; r0 += block_rows) {
        const int64_t rows = std::min(block_rows, n - r0);
        for (int64_t r = 0; r < rows; ++r) {
            std::memcpy(qpad + r * dp, q + (r0 + r) * d, static_cast<size_t>(d) * 2);
            if (dp > d) qpad[r * dp + d] = 0;
        }
        for (int64_t c0 = 0; c0 < mp; c0 += key_chunk) {
            const int64_t c1 = std::min(mp, c0 + key_chunk);
            for (int64_t r = 0; r < rows; r += kQkRows) {
                const uint16_t* qr[kQkRows];
                const int nr = static_cast<int>(std::min<int64_t>(kQkRows, rows - r));
                for (int i = 0; i < kQkRows; ++i) qr[i] = qpad + (r + std::min(i, nr - 1)) * dp;
                for (int64_t c = c0; c < c1; c += kQkCols) qk_tile_bf16(qr, nr, kt + c * dp, pairs, s + r * mp + c, mp);
            }
        }
        for (int64_t r = 0; r < rows; ++r) {
            float* row = s + r * mp;
            for (int64_t c = m; c < mp; ++c) row[c] = -std::numeric_limits<float>::infinity();
            sums[r] = exp_row_bf16(row, p + r * mp, mp);
        }
        for (int64_t k0 = 0; k0 < mp; k0 += key_chunk) {
            const int64_t k1 = std::min(mp, k0 + key_chunk);
            for (int64_t c = 0; c < dvp; c += 64) {
                const int nv = static_cast<int>(std::min<int64_t>(4, (dvp - c) / 16));
                const bool first = k0 == 0;
                switch (nv) {
                    case 1: pv_block_bf16<1>(p, mp, rows, vp + 2 * c, dvp, k0 / 2, k1 / 2, o + c, dvp, first); break;
                    case 2: pv_block_bf16<2>(p, mp, rows, vp + 2 * c, dvp, k0 / 2, k1 / 2, o + c, dvp, first); break;
                    case 3: pv_block_bf16<3>(p, mp, rows, vp + 2 * c, dvp, k0 / 2, k1 / 2, o + c, dvp, first); break;
                    default: pv_block_bf16<4>(p, mp, rows, vp + 2 * c, dvp, k0 / 2, k1 / 2, o + c, dvp, first); break;
                }
            }
        }
        for (int64_t r = 0; r < rows; ++r) {
            const float inv = 1.0f / sums[r];
            uint16_t* dst = out + (r0 + r) * dv;
            const float* src = o + r * dvp;
            for (int64_t c = 0; c < dv; ++c) dst[c] = detail::store<uint16_t>(src[c] * inv);
        }
    }
}

#undef GD_BF16

#else

bool attention_bf16_kernel_available() { return false; }
int64_t attention_bf16_scratch_bytes(int64_t, int64_t, int64_t, int64_t) { return 0; }
void attention_head_bf16(const uint16_t*, const uint16_t*, const uint16_t*, uint16_t*, int64_t, int64_t, int64_t, int64_t,
                         int64_t, void*) {}

#endif

}  // namespace gd::kernels
