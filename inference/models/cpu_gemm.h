// Row-major float32 matrix products on the CPU through oneDNN's sgemm when this process has it
// (Debian's LibTorch links libdnnl): it follows LibTorch's OpenMP threads and runs single-threaded
// inside parallel regions, where OpenBLAS, LibTorch's BLAS, neither scales with the thread count
// nor runs concurrent calls in parallel (two threads measured slower than one).
#pragma once

#include <cstdint>

namespace sdgimp::models {

// C (m x n, row stride ldc) = A' B' (+ C when accumulate), A' = A or A^T (trans_a), B' likewise.
// Returns false, computing nothing, when oneDNN's sgemm is not available.
bool cpu_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
               const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate = false);

bool have_cpu_sgemm();

}  // namespace sdgimp::models
