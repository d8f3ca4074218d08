#include "winograd_conv.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "../../kernels/cpu/cpu_kernels.h"
#include "cpu_gemm.h"

namespace sdgimp::models {

namespace {

// Per-thread scratch kept between calls: fresh megabyte buffers on every call would be mapped
// and faulted in by the kernel each time, one thread after another.
float* scratch(std::vector<float>& buf, int64_t floats) {
    if (static_cast<int64_t>(buf.size()) < floats) buf.resize(static_cast<size_t>(floats));
    return buf.data();
}

}  // namespace

// U[xi][c][k] = (G g G^T)[xi] for g = weight[k][c], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1].
// Read through a (C, K) transpose so both the reads and the 16 output streams run contiguously.
torch::Tensor winograd_weights(const torch::Tensor& weight) {
    const auto w = weight.permute({1, 0, 2, 3}).contiguous();  // (C, K, 3, 3)
    const int64_t C = w.size(0), K = w.size(1);
    auto u = torch::empty({16, C, K}, w.options());
    const float* g = w.data_ptr<float>();
    float* U = u.data_ptr<float>();
    at::parallel_for(0, C, 8, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
            for (int64_t k = 0; k < K; ++k) {
                const float* f = g + (c * K + k) * 9;
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

bool winograd_applies(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride, int64_t pad) {
    if (stride != 1 || pad != 1 || !x.is_cpu() || x.dim() != 4 || weight.dim() != 4 || weight.size(2) != 3 ||
        weight.size(3) != 3 || x.scalar_type() != torch::kFloat || weight.scalar_type() != torch::kFloat ||
        x.size(1) != weight.size(1) || !x.is_contiguous(torch::MemoryFormat::ChannelsLast) || !have_cpu_sgemm())
        return false;
    static const bool enabled = !(std::getenv("GIMP_DIFFUSION_WINOGRAD") && std::string(std::getenv("GIMP_DIFFUSION_WINOGRAD")) == "0");
    if (!enabled) return false;
    const int64_t tiles = x.size(0) * ((x.size(2) + 1) / 2) * ((x.size(3) + 1) / 2);
    // The weight transform costs about what 2x2 output pixels do: worth it from a few hundred tiles.
    // 1.07-1.89x on every layer measured on one thread, 1.13-1.95x on two (the transforms split
    // over the threads since the engine is compiled with OpenMP; before, they ran on one thread and
    // only wide layers gained on two).
    return tiles >= 256;
}

torch::Tensor conv3x3_winograd(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                               const torch::Tensor& transformed) {
    gd::kernels::WinogradGeometry g;
    g.batch = x.size(0);
    g.channels = x.size(1);
    g.height = x.size(2);
    g.width = x.size(3);
    g.out_channels = weight.size(0);
    g.tiles_y = (g.height + 1) / 2;
    g.tiles_x = (g.width + 1) / 2;
    const int64_t C = g.channels, K = g.out_channels;
    const auto U = transformed.defined() ? transformed : winograd_weights(weight);
    TORCH_CHECK(U.size(0) == 16 && U.size(1) == C && U.size(2) == K, "Winograd weights of another layer");
    const auto b = bias.defined() ? bias.contiguous() : torch::Tensor();
    auto y = torch::empty({g.batch, K, g.height, g.width}, x.options().memory_format(torch::MemoryFormat::ChannelsLast));
    const float* xp = x.data_ptr<float>();
    const float* up = U.data_ptr<float>();
    const float* bp = b.defined() ? b.data_ptr<float>() : nullptr;
    float* yp = y.data_ptr<float>();
    // Tiles per block: the block's transformed inputs and products (16 x tiles x channels each)
    // about a megabyte each, the size that measured fastest on this project's machine.
    const int64_t tb = std::clamp<int64_t>(16384 / std::max(C, K), 16, 256);
    const int64_t total = g.batch * g.tiles_y * g.tiles_x, blocks = (total + tb - 1) / tb;
    const std::vector<float> zeros(static_cast<size_t>(C), 0.0f);
    // Plane strides padded by a cache line past the block's size: sixteen planes a power of two
    // apart would share cache sets and evict one another.
    const int64_t plane_v = tb * C + 16, plane_m = tb * K + 16;
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
        thread_local std::vector<float> v_buf, m_buf, sink_buf;
        float* V = scratch(v_buf, 16 * plane_v);
        float* M = scratch(m_buf, 16 * plane_m);
        float* sink = scratch(sink_buf, K);
        for (int64_t blk = b0; blk < b1; ++blk) {
            const int64_t t0 = blk * tb, n = std::min(tb, total - t0);
            gd::kernels::winograd_input_transform(xp, g, t0, n, zeros.data(), V, plane_v);
            for (int xi = 0; xi < 16; ++xi) {
                TORCH_CHECK(cpu_sgemm(false, false, n, K, C, V + xi * plane_v, C, up + xi * C * K, K, M + xi * plane_m, K),
                            "oneDNN sgemm failed");
            }
            gd::kernels::winograd_output_transform(M, plane_m, bp, g, t0, n, sink, yp);
        }
    });
    return y;
}

}  // namespace sdgimp::models
