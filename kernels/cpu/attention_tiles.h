// The tiling both attention kernels share (attention_f32.cpp, attention_bf16.cpp): 12 query rows x
// 32 keys per score tile (24 accumulators), and for the second product as many rows as keep the
// accumulators of NV 16-wide value columns at 24 or fewer.
#pragma once

#include <cstdint>

namespace gd::kernels::attention_tiles {

constexpr int kQkRows = 12;
constexpr int kQkCols = 32;

template <int NV>
constexpr int pv_rows() {
    return NV <= 2 ? 12 : NV == 3 ? 8 : 6;
}

inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

}  // namespace gd::kernels::attention_tiles
