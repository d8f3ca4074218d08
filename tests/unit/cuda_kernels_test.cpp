// The CUDA kernels against their CPU reference versions, in float32, float16 and bfloat16, in both
// layouts. Needs a CUDA device: without one every test is reported skipped (meson shows SKIP), and
// tests/bench/gpu_bench.sh runs it on the GPU machine.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "../../kernels/cpu/cpu_kernels.h"
#include "../../kernels/cuda/cuda_kernels.h"

namespace {

namespace K = gd::kernels;

#define REQUIRE_DEVICE() \
    if (K::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine"

// Host-side rounding to the storage type, so the CPU reference sees the same inputs as the GPU.
float round_to(float v, K::DType t) {
    if (t == K::DType::kFloat16) return __half2float(__float2half_rn(v));
    if (t == K::DType::kBFloat16) return __bfloat162float(__float2bfloat16_rn(v));
    return v;
}

size_t elem_size(K::DType t) { return t == K::DType::kFloat32 ? 4 : 2; }

std::vector<unsigned char> pack(const std::vector<float>& v, K::DType t) {
    std::vector<unsigned char> out(v.size() * elem_size(t));
    for (size_t i = 0; i < v.size(); ++i) {
        if (t == K::DType::kFloat32) {
            std::memcpy(&out[i * 4], &v[i], 4);
        } else if (t == K::DType::kFloat16) {
            const __half h = __float2half_rn(v[i]);
            std::memcpy(&out[i * 2], &h, 2);
        } else {
            const __nv_bfloat16 h = __float2bfloat16_rn(v[i]);
            std::memcpy(&out[i * 2], &h, 2);
        }
    }
    return out;
}

std::vector<float> unpack(const std::vector<unsigned char>& b, K::DType t) {
    std::vector<float> out(b.size() / elem_size(t));
    for (size_t i = 0; i < out.size(); ++i) {
        if (t == K::DType::kFloat32) {
            std::memcpy(&out[i], &b[i * 4], 4);
        } else if (t == K::DType::kFloat16) {
            __half h;
            std::memcpy(&h, &b[i * 2], 2);
            out[i] = __half2float(h);
        } else {
            __nv_bfloat16 h;
            std::memcpy(&h, &b[i * 2], 2);
            out[i] = __bfloat162float(h);
        }
    }
    return out;
}

struct DeviceBuffer {
    void* p = nullptr;
    explicit DeviceBuffer(size_t bytes) { EXPECT_EQ(cudaMalloc(&p, std::max<size_t>(bytes, 1)), cudaSuccess); }
    ~DeviceBuffer() { cudaFree(p); }
};

std::vector<float> on_device(const std::vector<float>& host, K::DType t, DeviceBuffer& buf) {
    const auto bytes = pack(host, t);
    EXPECT_EQ(cudaMemcpy(buf.p, bytes.data(), bytes.size(), cudaMemcpyHostToDevice), cudaSuccess);
    return host;
}

std::vector<float> from_device(const DeviceBuffer& buf, size_t n, K::DType t) {
    std::vector<unsigned char> bytes(n * elem_size(t));
    EXPECT_EQ(cudaMemcpy(bytes.data(), buf.p, bytes.size(), cudaMemcpyDeviceToHost), cudaSuccess);
    return unpack(bytes, t);
}

// Relative tolerance of one rounding to the storage type, with room for the float arithmetic.
double tolerance(K::DType t) { return t == K::DType::kFloat32 ? 2e-5 : t == K::DType::kFloat16 ? 2e-3 : 1.6e-2; }

struct GnCase {
    int64_t n, c, pixels, groups;
    bool channels_last, silu;
    K::DType dtype;
};

class CudaGroupNorm : public ::testing::TestWithParam<GnCase> {};

TEST_P(CudaGroupNorm, MatchesCpuReference) {
    REQUIRE_DEVICE();
    const GnCase k = GetParam();
    const K::GroupNormShape s{k.n, k.c, k.pixels, k.groups, k.channels_last};
    std::mt19937 rng(7);
    std::normal_distribution<float> d(2.0f, 5.0f);
    std::vector<float> x(s.elements()), gamma(k.c), beta(k.c);
    for (auto& v : x) v = round_to(d(rng), k.dtype);
    for (auto& v : gamma) v = round_to(1.0f + 0.1f * d(rng), k.dtype);
    for (auto& v : beta) v = round_to(0.1f * d(rng), k.dtype);
    std::vector<float> ref(x.size());
    const K::GroupNormParams p{1e-6f, k.silu};
    K::group_norm_silu_cpu(x.data(), gamma.data(), beta.data(), ref.data(), s, p);

    const size_t es = elem_size(k.dtype);
    DeviceBuffer dx(x.size() * es), dy(x.size() * es), dg(gamma.size() * es), db(beta.size() * es),
        work(K::cuda::group_norm_silu_workspace_bytes(s));
    on_device(x, k.dtype, dx);
    on_device(gamma, k.dtype, dg);
    on_device(beta, k.dtype, db);
    ASSERT_EQ(K::cuda::group_norm_silu(dx.p, dg.p, db.p, dy.p, work.p, s, p, k.dtype, nullptr), 0);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const auto got = from_device(dy, x.size(), k.dtype);
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i)
        worst = std::max(worst, std::abs(double(got[i]) - ref[i]) / (std::abs(double(ref[i])) + 1.0));
    EXPECT_LT(worst, tolerance(k.dtype));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaGroupNorm,
    ::testing::Values(GnCase{1, 128, 96 * 96, 32, false, true, K::DType::kFloat32},
                      GnCase{1, 128, 96 * 96, 32, true, true, K::DType::kFloat32},
                      GnCase{2, 320, 37, 32, true, false, K::DType::kFloat32},
                      GnCase{2, 320, 12 * 12, 32, false, true, K::DType::kFloat16},
                      GnCase{2, 640, 24 * 24, 32, true, true, K::DType::kFloat16},
                      GnCase{1, 512, 48 * 48, 32, true, true, K::DType::kBFloat16},
                      GnCase{3, 64, 5, 8, false, false, K::DType::kBFloat16}));

class CudaGeglu : public ::testing::TestWithParam<K::DType> {};

TEST_P(CudaGeglu, MatchesCpuReference) {
    REQUIRE_DEVICE();
    const K::DType t = GetParam();
    const int64_t rows = 2 * 577, inner = 1280;
    std::mt19937 rng(3);
    std::normal_distribution<float> d(0.0f, 2.0f);
    std::vector<float> x(rows * 2 * inner), ref(rows * inner);
    for (auto& v : x) v = round_to(d(rng), t);
    K::geglu_cpu(x.data(), ref.data(), rows, inner);
    DeviceBuffer dx(x.size() * elem_size(t)), dy(ref.size() * elem_size(t));
    on_device(x, t, dx);
    ASSERT_EQ(K::cuda::geglu(dx.p, dy.p, rows, inner, t, nullptr), 0);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const auto got = from_device(dy, ref.size(), t);
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i)
        worst = std::max(worst, std::abs(double(got[i]) - ref[i]) / (std::abs(double(ref[i])) + 1.0));
    EXPECT_LT(worst, tolerance(t));
}

INSTANTIATE_TEST_SUITE_P(Types, CudaGeglu, ::testing::Values(K::DType::kFloat32, K::DType::kFloat16, K::DType::kBFloat16));

TEST(CudaKernels, RejectBadShapesWithoutLaunching) {
    // Holds without a device too: the shape check comes before any CUDA call.
    K::GroupNormShape s{1, 30, 4, 32, false};
    EXPECT_NE(K::cuda::group_norm_silu(nullptr, nullptr, nullptr, nullptr, nullptr, s, {}, K::DType::kFloat32, nullptr), 0);
    EXPECT_NE(K::cuda::geglu(nullptr, nullptr, -1, 4, K::DType::kFloat32, nullptr), 0);
}

}  // namespace

// Exit code 77 (meson's SKIP) when there is no device: a run here proves only that it builds.
int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    const int rc = RUN_ALL_TESTS();
    if (rc == 0 && K::cuda::device_count() == 0) {
        std::printf("no CUDA device: the GPU comparisons did not run\n");
        return 77;
    }
    return rc;
}
