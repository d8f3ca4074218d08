#include "cpu_gemm.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>

namespace sdgimp::models {

namespace {

// oneDNN's C API (dnnl.h, stable since 1.x): row-major sgemm, status 0 on success.
using SgemmFn = int (*)(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                        int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

SgemmFn sgemm_fn() {
    static const SgemmFn fn = [] {
        // GIMP_DIFFUSION_BLAS=openblas keeps LibTorch's own BLAS (the benchmark's baseline).
        if (const char* e = std::getenv("GIMP_DIFFUSION_BLAS"); e && std::strcmp(e, "openblas") == 0) return SgemmFn{};
        return reinterpret_cast<SgemmFn>(dlsym(RTLD_DEFAULT, "dnnl_sgemm"));
    }();
    return fn;
}

}  // namespace

bool have_cpu_sgemm() { return sgemm_fn() != nullptr; }

bool cpu_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
               const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
    const SgemmFn fn = sgemm_fn();
    if (!fn) return false;
    return fn(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, 1.0f, a, lda, b, ldb, accumulate ? 1.0f : 0.0f, c, ldc) == 0;
}

}  // namespace sdgimp::models
