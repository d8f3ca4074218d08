// The fused CPU kernels against LibTorch's own ops: GroupNorm(+SiLU) in both layouts, with and
// without affine parameters, odd sizes, on one thread and on several; GEGLU's reference version.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "../../kernels/cpu/cpu_kernels.h"
#include "models/attention.h"
#include "models/fused_ops.h"
#include "models/module_slots.h"
#include "models/conv_weight_cache.h"
#include "models/vae.h"
#include "models/winograd_conv.h"

namespace {

using sdgimp::models::group_norm_act;

double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
    return ((a - b).abs() / (b.abs() + 1.0)).max().item<double>();
}

struct Case {
    int64_t n, c, h, w, groups;
    bool channels_last, silu, affine;
};

class GroupNormSilu : public ::testing::TestWithParam<Case> {};

TEST_P(GroupNormSilu, MatchesLibTorch) {
    torch::NoGradGuard ng;
    const Case k = GetParam();
    torch::manual_seed(k.c * 31 + k.h);
    // An offset mean and a wide spread, like the VAE's activations, to test the moment arithmetic.
    auto x = torch::randn({k.n, k.c, k.h, k.w}) * 7.0 + 3.0;
    if (k.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    torch::Tensor w, b;
    if (k.affine) {
        w = torch::randn({k.c}) * 0.5 + 1.0;
        b = torch::randn({k.c}) * 0.3;
    }
    const auto ref = group_norm_act(x, k.groups, w, b, 1e-6, k.silu, /*fused=*/false);
    for (int threads : {1, 2}) {
        at::set_num_threads(threads);
        const auto got = group_norm_act(x, k.groups, w, b, 1e-6, k.silu);
        EXPECT_EQ(got.sizes(), ref.sizes());
        EXPECT_EQ(got.is_contiguous(torch::MemoryFormat::ChannelsLast), k.channels_last);
        EXPECT_LT(max_rel_diff(got, ref), 2e-6) << "threads " << threads;
    }
}

INSTANTIATE_TEST_SUITE_P(Shapes, GroupNormSilu,
                         ::testing::Values(Case{1, 128, 64, 64, 32, false, true, true},
                                           Case{1, 128, 64, 64, 32, true, true, true},
                                           Case{2, 320, 13, 9, 32, true, true, true},
                                           Case{2, 320, 13, 9, 32, false, false, true},
                                           Case{3, 64, 5, 7, 8, true, false, false},
                                           Case{1, 96, 1, 1, 32, true, true, true},
                                           Case{1, 32, 130, 3, 1, false, true, false}));

TEST(GroupNormSilu, SameResultOnAnyThreadCount) {
    torch::NoGradGuard ng;
    auto x = (torch::randn({1, 256, 48, 40}) * 4).contiguous(torch::MemoryFormat::ChannelsLast);
    at::set_num_threads(1);
    const auto one = group_norm_act(x, 32, {}, {}, 1e-5, true);
    at::set_num_threads(2);
    const auto two = group_norm_act(x, 32, {}, {}, 1e-5, true);
    EXPECT_TRUE(torch::equal(one, two));
}

TEST(GroupNormSilu, ModuleFormUsesTheModulesParameters) {
    torch::NoGradGuard ng;
    torch::nn::GroupNorm norm(torch::nn::GroupNormOptions(8, 64).eps(1e-5));
    norm->weight.uniform_(0.5, 1.5);
    norm->bias.uniform_(-0.2, 0.2);
    const auto x = torch::randn({2, 64, 6, 6});
    EXPECT_LT(max_rel_diff(group_norm_act(x, norm), torch::silu(norm->forward(x))), 2e-6);
    EXPECT_LT(max_rel_diff(group_norm_act(x, norm, false), norm->forward(x)), 2e-6);
}

TEST(GroupNormSilu, Bfloat16WithinOneRoundingOfLibTorch) {
    torch::NoGradGuard ng;
    for (bool cl : {false, true}) {
        auto x = (torch::randn({2, 320, 12, 10}) * 3 + 1).to(torch::kBFloat16);
        if (cl) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
        const auto w = (torch::rand({320}) + 0.5).to(torch::kBFloat16), b = (torch::rand({320}) - 0.5).to(torch::kBFloat16);
        const auto got = group_norm_act(x, 32, w, b, 1e-5, true);
        EXPECT_EQ(got.scalar_type(), torch::kBFloat16);
        EXPECT_EQ(got.is_contiguous(torch::MemoryFormat::ChannelsLast), cl);
        // Exact arithmetic on the same bfloat16 inputs, then LibTorch's two-rounding result: ours
        // (one rounding) is at least as close to the exact value.
        const auto exact = torch::silu(torch::group_norm(x.to(torch::kDouble), 32, w.to(torch::kDouble), b.to(torch::kDouble), 1e-5));
        const auto lib = torch::silu(torch::group_norm(x, 32, w, b, 1e-5));
        const double ours_err = (got.to(torch::kDouble) - exact).abs().max().item<double>();
        const double lib_err = (lib.to(torch::kDouble) - exact).abs().max().item<double>();
        EXPECT_LE(ours_err, lib_err * 1.01 + 1e-12);
        // Within one bfloat16 rounding of the exact value (LibTorch's own channels-last bfloat16
        // GroupNorm is not: it is why the fused kernel takes that case).
        EXPECT_LT(max_rel_diff(got.to(torch::kDouble), exact), 4.0e-3);
    }
}

TEST(GroupNormSilu, OtherDtypesAndLayoutsFallBackToLibTorch) {
    torch::NoGradGuard ng;
    const auto x = torch::randn({1, 64, 8, 8}).to(torch::kDouble);
    EXPECT_TRUE(torch::equal(group_norm_act(x, 32, {}, {}, 1e-5, true),
                             torch::silu(torch::group_norm(x, 32, {}, {}, 1e-5))));
    const auto strided = torch::randn({1, 64, 8, 16}).slice(3, 0, 16, 2);  // neither layout
    EXPECT_LT(max_rel_diff(group_norm_act(strided, 32, {}, {}, 1e-5, true),
                           torch::silu(torch::group_norm(strided, 32, {}, {}, 1e-5))),
              2e-6);
}

TEST(GroupNormSilu, RejectsChannelsThatDoNotSplitIntoGroups) {
    gd::kernels::GroupNormShape s;
    s.channels = 30;
    s.groups = 32;
    s.pixels = 4;
    std::vector<float> x(120), y(120);
    EXPECT_THROW(gd::kernels::group_norm_silu_cpu(x.data(), nullptr, nullptr, y.data(), s, {}), std::invalid_argument);
}

TEST(SiluApprox, WithinAFewUlpOfTheExactFunction) {
    double worst = 0;
    for (float v = -100.0f; v <= 100.0f; v += 0.0137f) {
        const double exact = v / (1.0 + std::exp(-static_cast<double>(v)));
        const double got = gd::kernels::silu_approx(v);
        if (std::abs(exact) < 1e-30) {
            EXPECT_LT(std::abs(got - exact), 1e-33) << v;  // far left: both are zero for any image
        } else {
            worst = std::max(worst, std::abs(got - exact) / std::abs(exact));
        }
    }
    EXPECT_LT(worst, 4 * 1.2e-7);
}

TEST(Geglu, ReferenceKernelMatchesLibTorch) {
    torch::NoGradGuard ng;
    const auto x = torch::randn({2, 77, 2 * 160}) * 3;
    const auto ref = sdgimp::models::geglu(x, /*fused=*/false);
    auto y = torch::empty({2, 77, 160});
    gd::kernels::geglu_cpu(x.data_ptr<float>(), y.data_ptr<float>(), 2 * 77, 160);
    EXPECT_LT(max_rel_diff(y, ref), 2e-6);
    EXPECT_LT(max_rel_diff(sdgimp::models::geglu(x), ref), 1e-7);
}

// The bfloat16 transformer kernels: each result within one bfloat16 rounding (plus the float
// arithmetic) of the exact value computed in double from the same bfloat16 inputs, and no further
// from it than LibTorch's own bfloat16 ops.
double max_err_vs(const torch::Tensor& got, const torch::Tensor& exact) {
    return ((got.to(torch::kDouble) - exact).abs() / (exact.abs() + 1e-2)).max().item<double>();
}

TEST(TransformerBf16, GegluWithinOneRounding) {
    torch::NoGradGuard ng;
    const auto x = (torch::randn({2, 300, 2 * 640}) * 3).to(torch::kBFloat16);
    const auto got = sdgimp::models::geglu(x);
    ASSERT_EQ(got.scalar_type(), torch::kBFloat16);
    const auto xd = x.to(torch::kDouble).chunk(2, -1);
    const auto exact = xd[0] * 0.5 * xd[1] * (1 + torch::erf(xd[1] / std::sqrt(2.0)));
    const auto lib = sdgimp::models::geglu(x, /*fused=*/false);
    EXPECT_LT(max_err_vs(got, exact), 4.0e-3);
    EXPECT_LE(max_err_vs(got, exact), max_err_vs(lib, exact) * 1.05 + 1e-6);
}

TEST(TransformerBf16, LayerNormWithinOneRounding) {
    torch::NoGradGuard ng;
    torch::nn::LayerNorm norm(torch::nn::LayerNormOptions({320}).eps(1e-5));
    norm->weight.uniform_(0.5, 1.5);
    norm->bias.uniform_(-0.3, 0.3);
    norm->to(torch::kBFloat16);
    const auto x = (torch::randn({2, 257, 320}) * 4 + 2).to(torch::kBFloat16);
    const auto got = sdgimp::models::layer_norm(x, norm);
    ASSERT_EQ(got.scalar_type(), torch::kBFloat16);
    const auto exact = torch::layer_norm(x.to(torch::kDouble), {320}, norm->weight.to(torch::kDouble),
                                         norm->bias.to(torch::kDouble), 1e-5);
    EXPECT_LT(max_err_vs(got, exact), 4.0e-3);
    EXPECT_LE(max_err_vs(got, exact), max_err_vs(norm->forward(x), exact) * 1.05 + 1e-6);
    // float32 input goes through the module unchanged.
    torch::nn::LayerNorm n32(torch::nn::LayerNormOptions({320}));
    const auto x32 = torch::randn({3, 320});
    EXPECT_TRUE(torch::equal(sdgimp::models::layer_norm(x32, n32), n32->forward(x32)));
}

// float32 products through oneDNN's sgemm (when the process has it) give LibTorch's results, and
// leave the layer's parameters untouched (a one-row input once accumulated into the bias itself).
TEST(CpuGemm, LinearMatchesLibTorchAndKeepsItsParameters) {
    torch::NoGradGuard ng;
    torch::manual_seed(7);  // the same inputs every run
    for (int threads : {1, 2}) {
        at::set_num_threads(threads);
        // Up to 128 rows (256 on several threads) take the transposed product with padded rows.
        for (int64_t rows : {1, 2, 7, 77, 200, 1000}) {
            for (int64_t in : {96, 1024}) {
                const auto x = torch::randn({rows, in}), w = torch::randn({48, in}), b = torch::randn({48});
                const auto w0 = w.clone(), b0 = b.clone();
                // float32 sums of `in` products taken in another order (measured up to 6.6e-5 at 1024
                // over unseeded inputs; a wrong product is off by order 1).
                const double tol = 4e-6 * std::sqrt(static_cast<double>(in));
                for (int rep = 0; rep < 2; ++rep) {
                    EXPECT_LT(max_rel_diff(sdgimp::models::linear_forward(x, w, b), torch::linear(x, w0, b0)), tol)
                        << rows << " x " << in;
                    EXPECT_LT(max_rel_diff(sdgimp::models::linear_forward(x.unsqueeze(0), w, {}),
                                           torch::linear(x.unsqueeze(0), w0, {})),
                              tol);
                }
                EXPECT_TRUE(torch::equal(w, w0));
                EXPECT_TRUE(torch::equal(b, b0));
            }
        }
        const auto strided = torch::randn({2, 96, 5}).transpose(1, 2);
        const auto w = torch::randn({48, 96});
        EXPECT_LT(max_rel_diff(sdgimp::models::linear_forward(strided, w, {}), torch::linear(strided, w, {})), 1e-5);
    }
}

TEST(CpuGemm, PointwiseConvolutionsMatchLibTorch) {
    torch::NoGradGuard ng;
    for (int threads : {1, 2}) {
        at::set_num_threads(threads);
        for (bool cl : {false, true}) {
            auto x = torch::randn({2, 24, 9, 7});
            if (cl) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
            const auto w = torch::randn({10, 24, 1, 1}), b = torch::randn({10});
            const auto got = sdgimp::models::conv2d_forward(x, w, b, 1, 0);
            EXPECT_EQ(got.is_contiguous(torch::MemoryFormat::ChannelsLast), cl);
            EXPECT_LT(max_rel_diff(got, torch::conv2d(x, w, b)), 1e-5);
            EXPECT_LT(max_rel_diff(sdgimp::models::conv2d_forward(x, w, {}, 1, 0), torch::conv2d(x, w)), 1e-5);
            // Not pointwise: LibTorch's own convolution.
            const auto w3 = torch::randn({10, 24, 3, 3});
            EXPECT_TRUE(torch::equal(sdgimp::models::conv2d_forward(x, w3, b, 1, 1), torch::conv2d(x, w3, b, 1, 1)));
        }
    }
}

TEST(CpuGemm, BlockedAttentionMatchesTheTextbookVersion) {
    torch::NoGradGuard ng;
    for (int threads : {1, 2}) {
        at::set_num_threads(threads);
        // (batch, heads, queries, keys, head size, value size): SD 1.5's and 2.1's head sizes at
        // 4096 / 1024 / 77 keys, SD 1.5's 80 and 160 at its deeper levels, odd sizes that leave
        // partial tiles of 12 rows, 32 keys and 16 value columns, and the VAE's single 512-wide head.
        for (auto sh : std::vector<std::array<int64_t, 6>>{{2, 8, 64, 77, 40, 40},
                                                           {1, 5, 1024, 1024, 64, 64},
                                                           {3, 2, 10, 10, 8, 8},
                                                           {1, 2, 300, 4096, 40, 40},
                                                           {2, 1, 37, 65, 80, 80},
                                                           {1, 2, 25, 33, 160, 160},
                                                           {1, 1, 1, 1, 3, 5},
                                                           {2, 3, 250, 77, 24, 72},
                                                           {1, 1, 50, 300, 512, 512}}) {  // the VAE's one head
            // q from a transposed projection, as split_heads gives it.
            const auto q = torch::randn({sh[0], sh[2], sh[1], sh[4]}).transpose(1, 2);
            const auto k = torch::randn({sh[0], sh[1], sh[3], sh[4]}), v = torch::randn({sh[0], sh[1], sh[3], sh[5]});
            const auto want = sdgimp::models::attention_unblocked(q, k, v);
            EXPECT_LT((sdgimp::models::attention(q, k, v) - want).abs().max().item<double>(), 1e-5);
            EXPECT_LT((sdgimp::models::attention_blocked_gemm(q, k, v) - want).abs().max().item<double>(), 1e-5);
            // bfloat16 inputs: computed in float32, rounded once (half a bfloat16 step of |v| <= ~4).
            const auto qb = q.to(torch::kBFloat16), kb = k.to(torch::kBFloat16), vb = v.to(torch::kBFloat16);
            const auto got_b = sdgimp::models::attention(qb, kb, vb);
            EXPECT_EQ(got_b.scalar_type(), torch::kBFloat16);
            const auto want_b = sdgimp::models::attention_unblocked(qb.to(torch::kFloat), kb.to(torch::kFloat), vb.to(torch::kFloat));
            EXPECT_LT((got_b.to(torch::kFloat) - want_b).abs().max().item<double>(), 0.02);
        }
        // Scores far apart (one key dominates) and all equal (uniform weights) stay finite and exact.
        const auto q = torch::full({1, 1, 4, 16}, 3.0), k = torch::cat({torch::full({1, 1, 1, 16}, 4.0), torch::zeros({1, 1, 50, 16})}, 2);
        const auto v = torch::randn({1, 1, 51, 16});
        EXPECT_LT((sdgimp::models::attention(q, k, v) - sdgimp::models::attention_unblocked(q, k, v)).abs().max().item<double>(), 1e-5);
        const auto z = torch::zeros({1, 1, 4, 16});
        EXPECT_LT((sdgimp::models::attention(z, torch::zeros({1, 1, 50, 16}), v.narrow(2, 0, 50)) -
                   v.narrow(2, 0, 50).mean(2, true).expand({1, 1, 4, 16}))
                      .abs()
                      .max()
                      .item<double>(),
                  1e-5);
    }
}

TEST(CpuGemm, ParallelLoopsRunOnSeveralThreads) {
    // LibTorch's parallel_for runs serially in code compiled without OpenMP; the engine's loops
    // (attention heads, Winograd transforms, GroupNorm, upscaler tiles) count on it splitting.
    at::set_num_threads(2);
#ifdef _OPENMP
    EXPECT_EQ(sdgimp::models::parallel_for_threads(), 2);
#else
    EXPECT_EQ(sdgimp::models::parallel_for_threads(), 1);
#endif
    at::set_num_threads(1);
    EXPECT_EQ(sdgimp::models::parallel_for_threads(), 1);
}

TEST(Winograd, MatchesLibTorchsConvolution) {
    torch::NoGradGuard ng;
    struct Shape { int64_t n, c, k, h, w; bool bias; };
    // Odd and even sizes (tiles past the edge), few and many channels, a batch, with and without bias.
    for (int threads : {1, 2}) {
        at::set_num_threads(threads);
        for (const auto& s : {Shape{1, 64, 32, 33, 47, true}, Shape{2, 24, 40, 32, 32, false}, Shape{1, 3, 64, 40, 40, true},
                              Shape{1, 128, 8, 17, 65, true}}) {
            const auto x = torch::randn({s.n, s.c, s.h, s.w}).contiguous(torch::MemoryFormat::ChannelsLast);
            const auto w = torch::randn({s.k, s.c, 3, 3}).contiguous(torch::MemoryFormat::ChannelsLast);
            const auto b = s.bias ? torch::randn({s.k}) : torch::Tensor();
            if (threads == 1) {
                ASSERT_TRUE(sdgimp::models::winograd_applies(x, w, 1, 1));
            }
            const auto ref = torch::conv2d(x, w, b, 1, 1);
            const auto got = sdgimp::models::conv3x3_winograd(x, w, b);
            EXPECT_TRUE(got.is_contiguous(torch::MemoryFormat::ChannelsLast));
            EXPECT_LT(((got - ref).abs().max() / ref.abs().max()).item<double>(), 1e-5);
            EXPECT_TRUE(torch::equal(got, sdgimp::models::conv3x3_winograd(x, w, b)));  // the same on any call
            if (threads == 1) {
                EXPECT_TRUE(torch::equal(got, sdgimp::models::conv2d_forward(x, w, b, 1, 1)));
            }
        }
    }
}

TEST(Winograd, LeavesOtherConvolutionsToLibTorch) {
    at::set_num_threads(1);
    const auto x = torch::randn({1, 16, 64, 64});
    const auto w = torch::randn({8, 16, 3, 3});
    const auto cl = x.contiguous(torch::MemoryFormat::ChannelsLast);
    EXPECT_TRUE(sdgimp::models::winograd_applies(cl, w, 1, 1));
    EXPECT_FALSE(sdgimp::models::winograd_applies(x, w, 1, 1));    // NCHW input
    EXPECT_FALSE(sdgimp::models::winograd_applies(cl, w, 2, 1));   // strided
    EXPECT_FALSE(sdgimp::models::winograd_applies(cl, w, 1, 0));   // no padding
    EXPECT_FALSE(sdgimp::models::winograd_applies(cl.to(torch::kBFloat16), w.to(torch::kBFloat16), 1, 1));
    EXPECT_FALSE(sdgimp::models::winograd_applies(cl.narrow(2, 0, 8).narrow(3, 0, 8).contiguous(torch::MemoryFormat::ChannelsLast), w, 1, 1));  // too few tiles
    // The same choice on several threads (the transforms split over them too).
    at::set_num_threads(2);
    EXPECT_TRUE(sdgimp::models::winograd_applies(cl, w, 1, 1));
    EXPECT_FALSE(sdgimp::models::winograd_applies(cl.narrow(2, 0, 8).narrow(3, 0, 8).contiguous(torch::MemoryFormat::ChannelsLast), w, 1, 1));
    at::set_num_threads(1);
    {
        sdgimp::models::UnfusedOpsGuard unfused;  // the benchmarks' baseline: LibTorch's convolution
        EXPECT_TRUE(torch::equal(sdgimp::models::conv2d_forward(cl, w, {}, 1, 1), torch::conv2d(cl, w, {}, 1, 1)));
    }
}

// A layer's cached weight form gives LibTorch's convolution in each form it takes, follows the
// weight when it is changed in place or replaced, and leaves other operands to the caller.
TEST(ConvWeightCache, EveryFormMatchesLibTorch) {
    torch::NoGradGuard ng;
    using Form = sdgimp::models::ConvWeightCache::Form;
    struct Shape { int64_t n, c, k, h, stride; Form form; };
    at::set_num_threads(1);
    for (const auto& s : {Shape{2, 64, 96, 8, 1, Form::kPrepacked},    // 128 output pixels
                          Shape{1, 32, 48, 24, 2, Form::kPrepacked},   // a downsampling layer
                          Shape{1, 16, 8, 40, 1, Form::kWinograd},     // 400 tiles on one thread
                          Shape{1, 8, 8, 80, 2, Form::kChannelsLast}}) {  // 1600 output pixels, strided
        for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
            const auto x = torch::randn({s.n, s.c, s.h, s.h}).to(dtype).contiguous(torch::MemoryFormat::ChannelsLast);
            auto w = torch::randn({s.k, s.c, 3, 3}).to(dtype).contiguous(torch::MemoryFormat::ChannelsLast);
            const auto b = torch::randn({s.k}).to(dtype);
            Form want = s.form;
            if (dtype == torch::kBFloat16 && want == Form::kWinograd) want = Form::kChannelsLast;  // float32 only
            const double tol = dtype == torch::kFloat ? 1e-5 : 1e-2;
            sdgimp::models::ConvWeightCache cache;
            for (int rep = 0; rep < 2; ++rep) {
                const auto got = cache.convolve(x, w, b, s.stride, 1, true);
                ASSERT_TRUE(got.defined());
                EXPECT_EQ(cache.form(), want) << s.c << " " << s.h;
                EXPECT_TRUE(got.is_contiguous(torch::MemoryFormat::ChannelsLast));
                const auto ref = torch::conv2d(x.to(torch::kFloat), w.to(torch::kFloat), b.to(torch::kFloat), s.stride, 1);
                EXPECT_LT(((got.to(torch::kFloat) - ref).abs().max() / ref.abs().max()).item<double>(), tol)
                    << s.c << " " << s.h << " " << dtype;
                if (rep == 0) {
                    w.mul_(-0.5);  // in place: the cached form must be made again
                } else {
                    w.set_data(torch::randn({s.k, s.c, 3, 3}).to(dtype));  // replaced, now NCHW
                    const auto again = cache.convolve(x, w, b, s.stride, 1, true);
                    const auto ref2 = torch::conv2d(x.to(torch::kFloat), w.to(torch::kFloat), b.to(torch::kFloat), s.stride, 1);
                    EXPECT_LT(((again.to(torch::kFloat) - ref2).abs().max() / ref2.abs().max()).item<double>(), tol);
                }
            }
        }
    }
    // 1x1 weights, mixed types: the caller's own convolution.
    sdgimp::models::ConvWeightCache cache;
    const auto x = torch::randn({1, 8, 8, 8});
    const auto w = torch::randn({8, 8, 3, 3});
    const auto cl = x.contiguous(torch::MemoryFormat::ChannelsLast);
    EXPECT_FALSE(cache.convolve(cl, torch::randn({8, 8, 1, 1}), {}, 1, 0, true).defined());
    EXPECT_FALSE(cache.convolve(cl, w.to(torch::kBFloat16), {}, 1, 1, true).defined());
    EXPECT_EQ(cache.form(), sdgimp::models::ConvWeightCache::Form::kNone);
    // The benchmarks' baseline: LibTorch's convolution with a channels-last weight, kept apart.
    const auto base = torch::conv2d(cl, w.contiguous(torch::MemoryFormat::ChannelsLast), {}, 1, 1);
    EXPECT_TRUE(torch::equal(cache.convolve(cl, w, {}, 1, 1, false), base));
    EXPECT_EQ(cache.form(), sdgimp::models::ConvWeightCache::Form::kNone);
    // An NCHW input is convolved in channels-last, as oneDNN does with a channels-last weight.
    const auto from_nchw = cache.convolve(x, w, {}, 1, 1, true);
    EXPECT_TRUE(from_nchw.is_contiguous(torch::MemoryFormat::ChannelsLast));
    EXPECT_LT(((from_nchw - base).abs().max() / base.abs().max()).item<double>(), 1e-5);
    EXPECT_TRUE(torch::equal(cache.convolve(cl, w, {}, 1, 1, false), base));  // alternating with the baseline
    {
        torch::AutoGradMode grad(true);  // gradients wanted: LibTorch's own
        EXPECT_FALSE(cache.convolve(cl, w, {}, 1, 1, true).defined());
    }
}

// A model that leaves the CPU drops its layers' kept forms.
TEST(ConvWeightCache, ClearedWithTheModel) {
    torch::NoGradGuard ng;
    sdgimp::models::Conv2d conv(16, 16, 3, 1, 1);
    auto seq = torch::nn::Sequential(conv);
    sdgimp::models::init_random_weights(*seq);
    const auto x = torch::randn({1, 16, 8, 8}).contiguous(torch::MemoryFormat::ChannelsLast);
    const auto y = conv->forward(x);
    EXPECT_EQ(conv->cache.form(), sdgimp::models::ConvWeightCache::Form::kPrepacked);
    EXPECT_LT(((y - torch::conv2d(x, conv->weight, conv->bias, 1, 1)).abs().max()).item<double>(), 1e-4);
    sdgimp::models::clear_conv_weight_forms(*seq);
    EXPECT_EQ(conv->cache.form(), sdgimp::models::ConvWeightCache::Form::kNone);
    EXPECT_TRUE(torch::equal(conv->forward(x), y));
}

// The decoder's upsampling convolution in bands of rows gives the whole-tensor result, bands that
// do not divide the height included (float32: 260 rows, eight of 32 and one of 4).
TEST(VaeUpsampleBands, SameAsTheWholeTensor) {
    torch::NoGradGuard ng;
    at::set_num_threads(1);
    sdgimp::models::Conv2d conv(128, 64, 3, 1, 1);
    auto seq = torch::nn::Sequential(conv);
    sdgimp::models::init_random_weights(*seq);
    for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
        conv->to(dtype);
        // Just past the 32 MiB of upsampled values where bands start.
        const int64_t side = dtype == torch::kFloat ? 130 : 184;
        const auto x = torch::randn({1, 128, side, side}).to(dtype).contiguous(torch::MemoryFormat::ChannelsLast);
        EXPECT_EQ(sdgimp::models::upsample2x_band_rows(x, conv), dtype == torch::kFloat ? 32 : 46);
        EXPECT_EQ(sdgimp::models::upsample2x_band_rows(x.narrow(2, 0, side - 8), conv), 0);  // under 32 MiB
        torch::Tensor whole, banded;
        {
            sdgimp::models::UpsampleBandsGuard off(false);
            EXPECT_EQ(sdgimp::models::upsample2x_band_rows(x, conv), 0);
            whole = sdgimp::models::upsample2x_conv(x, conv);
        }
        banded = sdgimp::models::upsample2x_conv(x, conv);
        ASSERT_EQ(banded.sizes(), whole.sizes());
        EXPECT_EQ(banded.size(2), 2 * side);
        EXPECT_TRUE(banded.is_contiguous(torch::MemoryFormat::ChannelsLast));
        const auto ref = torch::conv2d(torch::nn::functional::interpolate(x.to(torch::kFloat),
                                                                          torch::nn::functional::InterpolateFuncOptions()
                                                                              .scale_factor(std::vector<double>{2.0, 2.0})
                                                                              .mode(torch::kNearest)),
                                       conv->weight.to(torch::kFloat), conv->bias.to(torch::kFloat), 1, 1);
        const double scale = ref.abs().max().item<double>();
        const double tol = dtype == torch::kFloat ? 1e-5 : 1e-2;
        EXPECT_LT((banded.to(torch::kFloat) - ref).abs().max().item<double>() / scale, tol) << dtype;
        EXPECT_LT((whole.to(torch::kFloat) - ref).abs().max().item<double>() / scale, tol) << dtype;
    }
}

// Several threads through one layer (upscaler tiles in parallel) get the same results.
TEST(ConvWeightCache, OneLayerOnSeveralThreads) {
    torch::NoGradGuard ng;
    sdgimp::models::ConvWeightCache cache;
    const auto w = torch::randn({32, 32, 3, 3});
    const auto x = torch::randn({1, 32, 8, 8}).contiguous(torch::MemoryFormat::ChannelsLast);
    const auto ref = cache.convolve(x, w, {}, 1, 1, true);
    std::vector<torch::Tensor> out(8);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < out.size(); ++i)
        threads.emplace_back([&, i] {
            torch::NoGradGuard ng2;
            out[i] = cache.convolve(x, w, {}, 1, 1, true);
        });
    for (auto& t : threads) t.join();
    for (const auto& o : out) EXPECT_TRUE(torch::equal(o, ref));
}

}  // namespace
