#include "winograd_conv.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "../../kernels/cpu/cpu_kernels.h"
#include "blas_threads.h"
#include "cpu_gemm.h"

namespace sdgimp::models {

namespace {

// U[xi][c][k] = (G g G^T)[xi] for g = weight[k][c], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1].
torch::Tensor transform_weights(const torch::Tensor& weight) {
    const auto w = weight.contiguous();  // (K, C, 3, 3)
    const int64_t K = w.size(0), C = w.size(1);
    auto u = torch::empty({16, C, K}, w.options());
    const float* g = w.data_ptr<float>();
    float* U = u.data_ptr<float>();
    at::parallel_for(0, K, 16, [&](int64_t k0, int64_t k1) {
        for (int64_t k = k0; k < k1; ++k) {
            for (int64_t c = 0; c < C; ++c) {
                const float* f = g + (k * C + c) * 9;
                float t[4][3];  // G g
                for (int j = 0; j < 3; ++j) {
                    t[0][j] = f[j];
                    t[1][j] = 0.5f * (f[j] + f[3 + j] + f[6 + j]);
                    t[2][j] = 0.5f * (f[j] - f[3 + j] + f[6 + j]);
                    t[3][j] = f[6 + j];
                }
                for (int i = 0; i < 4; ++i) {  // (G g) G^T
                    const float r[4] = {t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]), 0.5f * (t[i][0] - t[i][1] + t[i][2]), t[i][2]};
                    for (int j = 0; j < 4; ++j) U[((i * 4 + j) * C + c) * K + k] = r[j];
                }
            }
        }
    });
    return u;
}

}  // namespace

bool winograd_applies(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride, int64_t pad) {
    if (stride != 1 || pad != 1 || !x.is_cpu() || x.dim() != 4 || weight.dim() != 4 || weight.size(2) != 3 ||
        weight.size(3) != 3 || x.scalar_type() != torch::kFloat || weight.scalar_type() != torch::kFloat ||
        x.size(1) != weight.size(1) || !x.is_contiguous(torch::MemoryFormat::ChannelsLast) || !have_cpu_sgemm())
        return false;
    // The weight transform costs about what 2x2 output pixels do: worth it from a few hundred tiles.
    return x.size(0) * ((x.size(2) + 1) / 2) * ((x.size(3) + 1) / 2) >= 256;
}

torch::Tensor conv3x3_winograd(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
    gd::kernels::WinogradGeometry g;
    g.batch = x.size(0);
    g.channels = x.size(1);
    g.height = x.size(2);
    g.width = x.size(3);
    g.out_channels = weight.size(0);
    g.tiles_y = (g.height + 1) / 2;
    g.tiles_x = (g.width + 1) / 2;
    const int64_t C = g.channels, K = g.out_channels;
    const auto U = transform_weights(weight);
    const auto b = bias.defined() ? bias.contiguous() : torch::Tensor();
    auto y = torch::empty({g.batch, K, g.height, g.width}, x.options().memory_format(torch::MemoryFormat::ChannelsLast));
    const float* xp = x.data_ptr<float>();
    const float* up = U.data_ptr<float>();
    const float* bp = b.defined() ? b.data_ptr<float>() : nullptr;
    float* yp = y.data_ptr<float>();
    // Tiles per block: the block's transformed inputs and products (16 x tiles x channels each)
    // stay within about half a megabyte, near this core's L2.
    const int64_t tb = std::clamp<int64_t>(8192 / std::max(C, K), 16, 128);
    const int64_t total = g.batch * g.tiles_y * g.tiles_x, blocks = (total + tb - 1) / tb;
    const std::vector<float> zeros(static_cast<size_t>(C), 0.0f);
    const SingleThreadedBlas blas_guard(at::get_num_threads() > 1);
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
        std::vector<float> V(static_cast<size_t>(16 * tb * C)), M(static_cast<size_t>(16 * tb * K)), sink(static_cast<size_t>(K));
        for (int64_t blk = b0; blk < b1; ++blk) {
            const int64_t t0 = blk * tb, n = std::min(tb, total - t0);
            gd::kernels::winograd_input_transform(xp, g, t0, n, zeros.data(), V.data());
            for (int xi = 0; xi < 16; ++xi) {
                TORCH_CHECK(cpu_sgemm(false, false, n, K, C, V.data() + xi * n * C, C, up + xi * C * K, K, M.data() + xi * n * K, K),
                            "oneDNN sgemm failed");
            }
            gd::kernels::winograd_output_transform(M.data(), bp, g, t0, n, sink.data(), yp);
        }
    });
    return y;
}

}  // namespace sdgimp::models
