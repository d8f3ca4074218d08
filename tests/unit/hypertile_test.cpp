// A1111's Hypertile: Python's random.Random (values CPython gives for these seeds), the grid and
// divisor rules with A1111's quirks, the tile counts a UNet draws call after call (the sequences
// A1111's hypertile.py draws with CPython's generator for the same sizes and settings), and the
// tiling itself against the attention written out tile by tile with loops.
#include <gtest/gtest.h>

#include "models/hypertile.h"
#include "models/python_random.h"
#include "models/unet.h"
#include "models/vae.h"

using namespace sdgimp;
using models::Hypertile;
using models::HypertileSettings;
using models::PythonRandom;

namespace {

using Draws = std::vector<std::array<int64_t, 3>>;

// Plain softmax(x x^T / sqrt(c)) x over one sequence, (n, c).
torch::Tensor self_attention(const torch::Tensor& x) {
    const auto s = torch::matmul(x, x.transpose(-1, -2)) / std::sqrt(static_cast<double>(x.size(-1)));
    return torch::matmul(torch::softmax(s, -1), x);
}

}  // namespace

TEST(PythonRandom, MatchesCPython) {
    PythonRandom r(42);
    EXPECT_EQ(r.getrandbits(32), 2746317213u);
    EXPECT_EQ(r.getrandbits(32), 478163327u);
    EXPECT_EQ(r.getrandbits(32), 107420369u);
    r.seed_with(0);
    EXPECT_EQ(r.getrandbits(32), 3626764237u);
    EXPECT_EQ(r.getrandbits(32), 1654615998u);
    r.seed_with((int64_t{1} << 40) + 5);  // two 32-bit key words
    EXPECT_EQ(r.getrandbits(32), 2166296868u);
    EXPECT_EQ(r.getrandbits(32), 2220160828u);
    r.seed_with(3331645590);
    std::vector<int64_t> coin, three;
    for (int i = 0; i < 12; ++i) coin.push_back(r.randint(0, 1));
    for (int i = 0; i < 6; ++i) three.push_back(r.randint(0, 2));
    EXPECT_EQ(coin, (std::vector<int64_t>{1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1}));
    EXPECT_EQ(three, (std::vector<int64_t>{1, 0, 0, 1, 2, 1}));
    EXPECT_EQ(r.randint(0, 0), 0);  // still one draw, as CPython's _randbelow(1) makes
    EXPECT_EQ(r.getrandbits(32), 3520408562u);
}

TEST(Hypertile, GridAndDivisorsAsA1111) {
    // "h" is round(sqrt(hw * width / height)): the image's width in tokens for a landscape image.
    EXPECT_EQ(models::hypertile_grid(6144, 1.5), (std::pair<int64_t, int64_t>{96, 64}));
    EXPECT_EQ(models::hypertile_grid(6144, 2.0 / 3.0), (std::pair<int64_t, int64_t>{64, 96}));
    EXPECT_EQ(models::hypertile_grid(6144, 1.0), (std::pair<int64_t, int64_t>{96, 64}));
    EXPECT_EQ(models::hypertile_grid(5000, 1.3), (std::pair<int64_t, int64_t>{50, 100}));
    EXPECT_EQ(models::hypertile_grid(1024, 0.6), (std::pair<int64_t, int64_t>{64, 16}));
    EXPECT_EQ(models::largest_tile_size(512, 512), 512);
    EXPECT_EQ(models::largest_tile_size(768, 512), 256);
    EXPECT_EQ(models::largest_tile_size(520, 512), 8);
    EXPECT_EQ(models::largest_tile_size(1024, 640), 128);
    PythonRandom r(5);
    std::vector<int64_t> a, b;
    for (int i = 0; i < 8; ++i) a.push_back(models::random_divisor(r, 96, 32, 3));
    for (int i = 0; i < 6; ++i) b.push_back(models::random_divisor(r, 64, 16, 3));
    EXPECT_EQ(a, (std::vector<int64_t>{1, 2, 1, 2, 1, 1, 1, 1}));
    EXPECT_EQ(b, (std::vector<int64_t>{4, 2, 4, 1, 4, 4}));
}

TEST(Hypertile, TheUNetDrawsAsA1111) {
    torch::NoGradGuard ng;
    // SD's layout (attention in input blocks 1, 2, 4, 5, 7, 8, the middle, output blocks 3-11)
    // with small widths.
    UNetConfig c;
    c.model_channels = 32;
    c.channel_mult = {1, 2, 4, 4};
    c.num_res_blocks = 2;
    c.attention_resolutions = {4, 2, 1};
    c.context_dim = 16;
    c.num_head_channels = 16;
    c.use_linear_in_transformer = true;
    models::UNet unet(c);
    models::init_random_weights(*unet);
    struct Case {
        int64_t seed;
        int width, height, swap, max_tile, max_depth;
        Draws want;  // two UNet calls
    };
    const std::vector<Case> cases = {
        {1234, 512, 512, 3, 256, 3,
         {{0, 1, 2}, {0, 2, 2}, {1, 1, 1}, {1, 1, 1}, {2, 1, 1}, {2, 1, 1}, {3, 1, 1}, {2, 1, 1}, {2, 1, 1}, {2, 1, 1}, {1, 1, 1},
          {1, 1, 1}, {1, 1, 1}, {0, 2, 1}, {0, 2, 1}, {0, 1, 1}, {0, 1, 2}, {0, 2, 1}, {1, 1, 1}, {1, 1, 1}, {2, 1, 1}, {2, 1, 1},
          {3, 1, 1}, {2, 1, 1}, {2, 1, 1}, {2, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {0, 1, 1}, {0, 2, 2}, {0, 1, 2}}},
        {3331645590, 768, 512, 3, 256, 3,
         {{0, 2, 1}, {0, 3, 2}, {1, 1, 1}, {1, 1, 1}, {2, 1, 1}, {2, 1, 1}, {3, 1, 1}, {2, 1, 1}, {2, 1, 1}, {2, 1, 1}, {1, 1, 1},
          {1, 1, 1}, {1, 1, 1}, {0, 1, 1}, {0, 3, 1}, {0, 1, 1}, {0, 1, 1}, {0, 2, 1}, {1, 1, 1}, {1, 1, 1}, {2, 1, 1}, {2, 1, 1},
          {3, 1, 1}, {2, 1, 1}, {2, 1, 1}, {2, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {0, 2, 2}, {0, 3, 2}, {0, 3, 1}}},
        // Portrait, tiles of at most 128 px, five choices, depths 0 and 1 only.
        {77, 512, 768, 5, 128, 1,
         {{0, 2, 3}, {0, 4, 4}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {0, 4, 4}, {0, 1, 2}, {0, 4, 3},
          {0, 2, 6}, {0, 4, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {0, 4, 4}, {0, 1, 3}, {0, 4, 6}}},
    };
    for (const auto& k : cases) {
        SCOPED_TRACE(std::to_string(k.seed) + " " + std::to_string(k.width) + "x" + std::to_string(k.height));
        HypertileSettings s;
        s.unet = true;
        s.unet_swap_size = k.swap;
        s.unet_max_tile = k.max_tile;
        s.unet_max_depth = k.max_depth;
        Hypertile ht(s);
        ht.start(k.seed, k.width, k.height);
        unet->attention_call->hypertile = &ht;
        const auto x = torch::randn({2, 4, k.height / 8, k.width / 8}), t = torch::tensor({500.f, 500.f}), ctx = torch::randn({2, 5, 16});
        const auto first = unet->forward(x, t, ctx);
        (void)unet->forward(x, t, ctx);
        unet->attention_call->hypertile = nullptr;
        EXPECT_EQ(ht.draws(), k.want);
        EXPECT_TRUE(torch::isfinite(first).all().item<bool>());
        // It changes the step only where it tiled.
        const auto plain = unet->forward(x, t, ctx);
        const bool tiled = std::any_of(k.want.begin(), k.want.begin() + static_cast<long>(k.want.size() / 2),
                                       [](const auto& d) { return d[1] * d[2] > 1; });
        EXPECT_EQ(!torch::allclose(first, plain, 1e-5, 1e-6), tiled);
    }
    // Off: nothing drawn, the plain UNet.
    Hypertile off(HypertileSettings{});
    off.start(1, 512, 512);
    unet->attention_call->hypertile = &off;
    const auto x = torch::randn({1, 4, 64, 64}), t = torch::tensor({300.f}), ctx = torch::randn({1, 5, 16});
    const auto y = unet->forward(x, t, ctx);
    unet->attention_call->hypertile = nullptr;
    EXPECT_TRUE(off.draws().empty());
    EXPECT_TRUE(torch::equal(y, unet->forward(x, t, ctx)));
}

TEST(Hypertile, TilesAreTheAttentionOfEachTile) {
    torch::manual_seed(11);
    HypertileSettings s;
    s.unet = true;
    s.unet_swap_size = 8;
    s.unet_max_tile = 128;
    Hypertile ht(s);
    ht.start(2024, 768, 512);  // "h" x "w" = 96 x 64 tokens at depth 0 of a 768x512 image
    int tiled = 0;
    for (int round = 0; round < 12; ++round) {
        const auto x = torch::randn({2, 96 * 64, 8});
        const auto got = ht.unet_attention(x, 0, [](const torch::Tensor& t) {
            std::vector<torch::Tensor> rows;
            for (int64_t i = 0; i < t.size(0); ++i) rows.push_back(self_attention(t[i]));
            return torch::stack(rows);
        });
        const auto d = ht.draws().back();
        const int64_t nh = d[1], nw = d[2], th = 96 / nh, tw = 64 / nw;
        tiled += nh * nw > 1;
        // Token r * 64 + c of the 96 x 64 grid belongs to tile (r / th, c / tw).
        auto want = torch::empty_like(x);
        for (int64_t b = 0; b < 2; ++b)
            for (int64_t i = 0; i < nh; ++i)
                for (int64_t j = 0; j < nw; ++j) {
                    std::vector<int64_t> idx;
                    for (int64_t r = i * th; r < (i + 1) * th; ++r)
                        for (int64_t c = j * tw; c < (j + 1) * tw; ++c) idx.push_back(r * 64 + c);
                    const auto index = torch::tensor(idx);
                    want[b].index_copy_(0, index, self_attention(x[b].index_select(0, index)));
                }
        EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-6)) << nh << "x" << nw;
    }
    EXPECT_GT(tiled, 0);

    // The VAE's block sees (B, C, H, W) tiles: its own statistics per tile.
    HypertileSettings v;
    v.vae = true;
    Hypertile hv(v);
    hv.start(9, 512, 512);
    const auto img = torch::randn({1, 3, 64, 64});
    int vae_tiled = 0;
    for (int round = 0; round < 6; ++round) {
        const auto got = hv.vae_attention(img, [](const torch::Tensor& t) { return t - t.mean({2, 3}, true); });
        const auto d = hv.draws().back();
        EXPECT_EQ(d[0], -1);
        const int64_t nh = d[1], nw = d[2], th = 64 / nh, tw = 64 / nw;
        vae_tiled += nh * nw > 1;
        auto want = img.clone();
        for (int64_t i = 0; i < nh; ++i)
            for (int64_t j = 0; j < nw; ++j) {
                auto part = want.slice(2, i * th, (i + 1) * th).slice(3, j * tw, (j + 1) * tw);
                part.sub_(part.mean({2, 3}, true));
            }
        EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-6));
    }
    EXPECT_GT(vae_tiled, 0);
}

TEST(Hypertile, TheHiresPassReseedsAndTurnsTheUNetOn) {
    HypertileSettings s;
    s.unet_second_pass = true;
    Hypertile ht(s);
    ht.start(1234, 512, 512);
    const auto x = torch::randn({1, 64 * 64, 4});
    auto id = [](const torch::Tensor& t) { return t; };
    (void)ht.unet_attention(x, 0, id);
    EXPECT_TRUE(ht.draws().empty());  // first pass: off
    ht.before_hires(1234, 512, 512);
    (void)ht.unet_attention(x, 0, id);
    (void)ht.unet_attention(x, 0, id);
    // The same seed as a first pass of A1111's with the U-Net on: its first two draws.
    EXPECT_EQ(ht.draws(), (Draws{{0, 1, 2}, {0, 2, 2}}));
}
