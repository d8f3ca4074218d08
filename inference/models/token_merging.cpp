#include "token_merging.h"

#include <cmath>

namespace sdgimp::models {

TokenMerge::TokenMerge(const torch::Tensor& x, const TokenMerging& s) {
    if (!(s.ratio > 0) || s.height <= 0 || s.width <= 0 || x.dim() != 3 || x.size(1) == 0) return;
    const int64_t n = x.size(1), h = s.height, w = s.width;
    // tomesd's level test with A1111's max_downsample of 1: only the blocks at the input's size.
    const auto downsample = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>((h * w) / n))));
    if (downsample > 1 || n != h * w) return;
    const int64_t rows = h / 2, cols = w / 2, nd = rows * cols, ns = n - nd;
    if (nd == 0 || ns == 0) return;
    const auto r = std::min(ns, static_cast<int64_t>(static_cast<double>(n) * s.ratio));
    if (r <= 0) return;

    // Destinations: the top-left token of each whole 2x2 cell; every other token is a source.
    // Both in raster order, as tomesd's argsort of its -1/0 buffer leaves them.
    std::vector<int64_t> dst, src;
    dst.reserve(nd);
    src.reserve(ns);
    for (int64_t y = 0; y < h; ++y)
        for (int64_t xx = 0; xx < w; ++xx) {
            const bool is_dst = y % 2 == 0 && xx % 2 == 0 && y / 2 < rows && xx / 2 < cols;
            (is_dst ? dst : src).push_back(y * w + xx);
        }
    dst_pos_ = torch::tensor(dst, torch::kLong).to(x.device());
    src_pos_ = torch::tensor(src, torch::kLong).to(x.device());

    torch::NoGradGuard ng;
    const auto metric = x / x.norm(2, -1, true);
    const auto scores = torch::matmul(metric.index_select(1, src_pos_), metric.index_select(1, dst_pos_).transpose(-1, -2));
    const auto [node_max, node_idx] = scores.max(-1);
    // Sources by how close they are to their best destination; the r closest are merged.
    const auto edge_idx = node_max.argsort(-1, /*descending=*/true);
    unm_idx_ = edge_idx.slice(1, r).contiguous();
    src_idx_ = edge_idx.slice(1, 0, r).contiguous();
    dst_idx_ = node_idx.gather(1, src_idx_);
    unm_pos_ = src_pos_.index({unm_idx_});
    moved_pos_ = src_pos_.index({src_idx_});
    count_ = torch::ones({x.size(0), nd}, x.options().dtype(torch::kFloat))
                 .scatter_add_(1, dst_idx_, torch::ones({x.size(0), r}, x.options().dtype(torch::kFloat)));
    n_ = n;
    r_ = r;
}

torch::Tensor TokenMerge::merge(const torch::Tensor& x) const {
    if (!active()) return x;
    const int64_t b = x.size(0), c = x.size(2);
    const auto src = x.index_select(1, src_pos_);
    const auto dst = x.index_select(1, dst_pos_);
    const auto unm = src.gather(1, unm_idx_.unsqueeze(-1).expand({b, unm_idx_.size(1), c}));
    const auto moved = src.gather(1, src_idx_.unsqueeze(-1).expand({b, r_, c}));
    // A destination becomes the mean of itself and the sources merged into it (tomesd's
    // scatter_reduce "mean", written as a sum and a count).
    auto merged = dst.clone().scatter_add_(1, dst_idx_.unsqueeze(-1).expand({b, r_, c}), moved);
    merged.div_(count_.to(merged.scalar_type()).unsqueeze(-1));
    return torch::cat({unm, merged}, 1);
}

torch::Tensor TokenMerge::unmerge(const torch::Tensor& y) const {
    if (!active()) return y;
    const int64_t b = y.size(0), c = y.size(2), unm_len = unm_idx_.size(1);
    const auto unm = y.slice(1, 0, unm_len);
    const auto dst = y.slice(1, unm_len);
    const auto moved = dst.gather(1, dst_idx_.unsqueeze(-1).expand({b, r_, c}));
    // Every position is written once: destinations, unmerged sources, merged sources.
    auto out = torch::empty({b, n_, c}, y.options());
    out.index_copy_(1, dst_pos_, dst.contiguous());
    out.scatter_(1, unm_pos_.unsqueeze(-1).expand({b, unm_len, c}), unm);
    out.scatter_(1, moved_pos_.unsqueeze(-1).expand({b, r_, c}), moved);
    return out;
}

}  // namespace sdgimp::models
