#include <cmath>

#include "cpu_kernels.h"

namespace gd::kernels {

void geglu_cpu(const float* x, float* y, int64_t rows, int64_t inner, const ParallelFor& parallel) {
    run_parallel(parallel, rows, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            const float* value = x + r * 2 * inner;
            const float* gate = value + inner;
            for (int64_t j = 0; j < inner; ++j) {
                const double g = gate[j];
                y[r * inner + j] = static_cast<float>(value[j] * (0.5 * g * (1.0 + std::erf(g * M_SQRT1_2))));
            }
        }
    });
}

}  // namespace gd::kernels
