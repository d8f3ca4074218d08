// A1111's token merging (tomesd 0.1.3 with use_rand off, sx = sy = 2, max_downsample 1, merging
// for the self-attention only): the merge and unmerge against the algorithm written out with plain
// loops, the blocks it acts in, and a property of the arithmetic: tokens repeated over 2x2 cells
// merge back into one token each, and attention over them is unchanged.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "models/token_merging.h"
#include "models/unet.h"
#include "models/unet_blocks.h"

using namespace sdgimp;
using models::TokenMerge;
using models::TokenMerging;

namespace {

// tomesd's bipartite_soft_matching_random2d with no_rand, written out for one batch item.
struct Reference {
    std::vector<int64_t> dst, src;  // positions
    std::vector<int64_t> order;     // sources by best score, descending (indices into src)
    std::vector<int64_t> best;      // best destination (index into dst) of each source
    int64_t r = 0;

    Reference(const torch::Tensor& metric /* (N, C) */, int64_t h, int64_t w, double ratio) {
        const int64_t n = h * w, c = metric.size(1);
        for (int64_t y = 0; y < h; ++y)
            for (int64_t x = 0; x < w; ++x) {
                const bool d = y % 2 == 0 && x % 2 == 0 && y / 2 < h / 2 && x / 2 < w / 2;
                (d ? dst : src).push_back(y * w + x);
            }
        auto m = metric.contiguous();
        const float* p = m.data_ptr<float>();
        std::vector<double> norm(n);
        for (int64_t i = 0; i < n; ++i) {
            double s = 0;
            for (int64_t k = 0; k < c; ++k) s += double(p[i * c + k]) * p[i * c + k];
            norm[i] = std::sqrt(s);
        }
        std::vector<double> score(src.size());
        best.resize(src.size());
        for (size_t i = 0; i < src.size(); ++i) {
            double top = -1e300;
            for (size_t j = 0; j < dst.size(); ++j) {
                double s = 0;
                for (int64_t k = 0; k < c; ++k) s += double(p[src[i] * c + k]) * p[dst[j] * c + k];
                s /= norm[src[i]] * norm[dst[j]];
                if (s > top) { top = s; best[i] = static_cast<int64_t>(j); }
            }
            score[i] = top;
        }
        order.resize(src.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return score[a] > score[b]; });
        r = std::min<int64_t>(static_cast<int64_t>(src.size()), static_cast<int64_t>(n * ratio));
    }

    // (N, C) -> (N - r, C): unmerged sources in score order, then destinations averaged.
    torch::Tensor merge(const torch::Tensor& v) const {
        std::vector<torch::Tensor> rows;
        for (size_t k = r; k < order.size(); ++k) rows.push_back(v[src[order[k]]]);
        for (size_t j = 0; j < dst.size(); ++j) {
            auto sum = v[dst[j]].clone();
            int count = 1;
            for (int64_t k = 0; k < r; ++k)
                if (best[order[k]] == static_cast<int64_t>(j)) { sum += v[src[order[k]]]; ++count; }
            rows.push_back(sum / count);
        }
        return torch::stack(rows);
    }

    torch::Tensor unmerge(const torch::Tensor& y, int64_t n) const {
        auto out = torch::full({n, y.size(1)}, std::nan(""));
        const int64_t unm = static_cast<int64_t>(order.size()) - r;
        for (int64_t k = 0; k < unm; ++k) out[src[order[r + k]]] = y[k];
        for (size_t j = 0; j < dst.size(); ++j) out[dst[j]] = y[unm + static_cast<int64_t>(j)];
        for (int64_t k = 0; k < r; ++k) out[src[order[k]]] = y[unm + best[order[k]]];
        return out;
    }
};

// Each token of a (B, (h/2)(w/2), C) grid repeated over a 2x2 cell: (B, h w, C).
torch::Tensor repeat_cells(const torch::Tensor& cells, int64_t h, int64_t w) {
    const int64_t b = cells.size(0), c = cells.size(2);
    return cells.reshape({b, h / 2, 1, w / 2, 1, c}).expand({b, h / 2, 2, w / 2, 2, c}).reshape({b, h * w, c}).contiguous();
}

}  // namespace

TEST(TokenMerging, MatchesTheAlgorithmWrittenOut) {
    torch::manual_seed(3);
    for (const auto& [h, w, ratio] : std::vector<std::tuple<int64_t, int64_t, double>>{
             {8, 8, 0.5}, {6, 10, 0.3}, {5, 7, 0.5}, {7, 4, 0.9}, {4, 4, 0.1}}) {
        SCOPED_TRACE(std::to_string(h) + "x" + std::to_string(w) + " ratio " + std::to_string(ratio));
        const int64_t n = h * w, c = 6;
        const auto x = torch::randn({2, n, c});
        const auto v = torch::randn({2, n, c});  // what is merged need not be the metric (norm1(x) in the block)
        const TokenMerge m(x, TokenMerging{ratio, h, w});
        ASSERT_TRUE(m.active());
        const auto merged = m.merge(v);
        const auto y = torch::randn_like(merged);
        const auto back = m.unmerge(y);
        for (int64_t b = 0; b < 2; ++b) {
            const Reference ref(x[b], h, w, ratio);
            EXPECT_EQ(m.removed(), ref.r);
            EXPECT_EQ(merged.size(1), n - ref.r);
            EXPECT_TRUE(torch::allclose(merged[b], ref.merge(v[b]), 1e-5, 1e-6));
            EXPECT_TRUE(torch::equal(back[b], ref.unmerge(y[b], n)));
        }
    }
}

TEST(TokenMerging, OnlyTheInputsOwnSizeMerges) {
    const auto x = torch::randn({2, 64, 8});
    EXPECT_EQ(TokenMerge(x, TokenMerging{0.5, 8, 8}).removed(), 32);
    EXPECT_EQ(TokenMerge(x, TokenMerging{0.9, 8, 8}).removed(), 48);  // at most every source
    EXPECT_FALSE(TokenMerge(x, TokenMerging{0, 8, 8}).active());
    // The next level down (a quarter of the tokens) and beyond: tomesd's max_downsample of 1.
    EXPECT_FALSE(TokenMerge(torch::randn({2, 16, 8}), TokenMerging{0.5, 8, 8}).active());
    EXPECT_FALSE(TokenMerge(torch::randn({2, 4, 8}), TokenMerging{0.5, 8, 8}).active());
    // One row: no whole 2x2 cell, so no destination.
    EXPECT_FALSE(TokenMerge(torch::randn({1, 9, 8}), TokenMerging{0.5, 1, 9}).active());
    // A ratio too small to remove a whole token.
    EXPECT_FALSE(TokenMerge(x, TokenMerging{0.01, 8, 8}).active());
    const TokenMerge none(x, TokenMerging{});
    EXPECT_TRUE(torch::equal(none.merge(x), x));
}

TEST(TokenMerging, RepeatedCellsMergeWithoutChangingTheBlock) {
    torch::manual_seed(5);
    torch::NoGradGuard ng;
    models::BasicTransformerBlock block(32, 4, 8, 16, false);
    models::init_random_weights(*block);
    const int64_t h = 6, w = 8;
    const auto x = repeat_cells(torch::randn({2, (h / 2) * (w / 2), 32}), h, w);
    const auto context = torch::randn({2, 5, 16});
    const models::AttentionCall all{{0.75, h, w}};  // every source merges into its own cell
    EXPECT_EQ(TokenMerge(x, all.merging).removed(), h * w * 3 / 4);
    const auto plain = block->forward(x.clone(), context);
    const auto merged = block->forward(x.clone(), context, &all);
    // Softmax over four copies of each key weighs them as one: the attention is the same.
    EXPECT_TRUE(torch::allclose(merged, plain, 1e-4, 1e-5)) << (merged - plain).abs().max().item<float>();

    // Tokens that differ: the merged block is another (close) function.
    const auto y = torch::randn({2, h * w, 32});
    const models::AttentionCall half{{0.5, h, w}};
    const auto a = block->forward(y.clone(), context), b = block->forward(y.clone(), context, &half);
    EXPECT_GT((a - b).abs().max().item<float>(), 1e-3);
    EXPECT_TRUE(torch::isfinite(b).all().item<bool>());
}

TEST(TokenMerging, TheUNetMergesOnlyWhereItHasAttentionAtFullSize) {
    torch::manual_seed(7);
    torch::NoGradGuard ng;
    auto config = [](std::vector<int> attention) {
        UNetConfig c;
        c.model_channels = 32;
        c.channel_mult = {1, 2};
        c.num_res_blocks = 1;
        c.attention_resolutions = std::move(attention);
        c.context_dim = 16;
        c.num_head_channels = 16;
        c.use_linear_in_transformer = true;
        return c;
    };
    const auto x = torch::randn({2, 4, 8, 12}), t = torch::tensor({500.f, 500.f}), ctx = torch::randn({2, 7, 16});
    models::UNet full(config({1, 2}));
    models::init_random_weights(*full);
    const auto plain = full->forward(x, t, ctx);
    EXPECT_TRUE(torch::equal(full->forward(x, t, ctx, 0), plain));
    const auto merged = full->forward(x, t, ctx, 0.5);
    EXPECT_GT((merged - plain).abs().max().item<float>(), 1e-4);
    EXPECT_TRUE(torch::isfinite(merged).all().item<bool>());
    // The setting is per call: the next plain call is the plain UNet again.
    EXPECT_TRUE(torch::equal(full->forward(x, t, ctx), plain));
    // Attention only at half size: nothing merges.
    models::UNet half(config({2}));
    models::init_random_weights(*half);
    EXPECT_TRUE(torch::equal(half->forward(x, t, ctx, 0.5), half->forward(x, t, ctx)));
}
