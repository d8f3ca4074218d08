#include "vae_tiling.h"

#include <algorithm>
#include <vector>

#include "../status.h"

namespace sdgimp::pipeline {

namespace {

// Tile starts along one axis: evenly spread, first at 0, last flush with the end, each a multiple
// of `align` (8 when encoding, so every tile maps onto whole latent pixels).
std::vector<int64_t> starts(int64_t size, int64_t tile, int64_t overlap, int64_t align) {
    if (size <= tile) return {0};
    const int64_t step = tile - overlap;
    const int64_t n = (size - overlap + step - 1) / step;  // tiles needed for at least `overlap` sharing
    std::vector<int64_t> s;
    for (int64_t i = 0; i < n; ++i) s.push_back(i + 1 == n ? size - tile : i * (size - tile) / (n - 1) / align * align);
    return s;
}

// Blend weights of one tile along one axis (output pixels). Over a part of length L shared with a
// neighbour the weight is 0 for the outer L/4 (where the tile's own border effects live), rises
// linearly over the middle L/2 and is 1 beyond; the neighbour's weights are the mirror image, so
// the two always sum to 1.
torch::Tensor ramp(int64_t len, int64_t lead, int64_t trail) {
    std::vector<float> w(static_cast<size_t>(len), 1.0f);
    auto edge = [](int64_t q, int64_t shared) {
        const double v = (static_cast<double>(q) - shared / 4.0 + 0.5) / (shared / 2.0);
        return static_cast<float>(std::clamp(v, 0.0, 1.0));
    };
    for (int64_t i = 0; i < lead && i < len; ++i) w[static_cast<size_t>(i)] = std::min(w[static_cast<size_t>(i)], edge(i, lead));
    for (int64_t i = 0; i < trail && i < len; ++i)
        w[static_cast<size_t>(len - 1 - i)] = std::min(w[static_cast<size_t>(len - 1 - i)], edge(i, trail));
    return torch::tensor(w);
}

}  // namespace

torch::Tensor run_tiled(const std::function<torch::Tensor(const torch::Tensor&)>& fn, const torch::Tensor& x, int tile,
                        int overlap, int scale_num, int scale_den) {
    if (tile <= 0 || overlap < 0 || 2 * overlap >= tile) throw Error(ErrorCode::kInternal, "VAE tiles need 0 <= 2 x overlap < tile.");
    const int64_t h = x.size(2), w = x.size(3);
    if (h % scale_den || w % scale_den) throw Error(ErrorCode::kInvalidRequest, "Tiled VAE input sizes must be multiples of 8.");
    const auto ys = starts(h, tile, overlap, scale_den), xs = starts(w, tile, overlap, scale_den);
    auto out_len = [&](int64_t v) { return v * scale_num / scale_den; };
    torch::Tensor acc, weight;
    for (size_t yi = 0; yi < ys.size(); ++yi) {
        for (size_t xi = 0; xi < xs.size(); ++xi) {
            const int64_t y0 = ys[yi], x0 = xs[xi];
            const int64_t th = std::min<int64_t>(tile, h - y0), tw = std::min<int64_t>(tile, w - x0);
            const torch::Tensor out = fn(x.slice(2, y0, y0 + th).slice(3, x0, x0 + tw));
            if (!acc.defined()) {
                acc = torch::zeros({out.size(0), out.size(1), out_len(h), out_len(w)}, out.options());
                weight = torch::zeros({1, 1, out_len(h), out_len(w)}, out.options());
            }
            // Overlap with the neighbours in output pixels (0 at the image border).
            const int64_t lead_y = yi > 0 ? out_len(ys[yi - 1] + std::min<int64_t>(tile, h - ys[yi - 1]) - y0) : 0;
            const int64_t trail_y = yi + 1 < ys.size() ? out_len(y0 + th - ys[yi + 1]) : 0;
            const int64_t lead_x = xi > 0 ? out_len(xs[xi - 1] + std::min<int64_t>(tile, w - xs[xi - 1]) - x0) : 0;
            const int64_t trail_x = xi + 1 < xs.size() ? out_len(x0 + tw - xs[xi + 1]) : 0;
            const torch::Tensor wy = ramp(out.size(2), lead_y, trail_y).to(out.options()).view({1, 1, -1, 1});
            const torch::Tensor wx = ramp(out.size(3), lead_x, trail_x).to(out.options()).view({1, 1, 1, -1});
            const torch::Tensor wt = wy * wx;
            const int64_t oy = out_len(y0), ox = out_len(x0);
            acc.slice(2, oy, oy + out.size(2)).slice(3, ox, ox + out.size(3)).add_(out * wt);
            weight.slice(2, oy, oy + out.size(2)).slice(3, ox, ox + out.size(3)).add_(wt);
        }
    }
    return acc / weight;
}

}  // namespace sdgimp::pipeline
