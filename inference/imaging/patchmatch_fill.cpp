#include "patchmatch_fill.h"

#include <algorithm>
#include <array>
#include <memory>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "../status.h"

namespace sdgimp::imaging {
namespace {

struct Level {
    int w = 0, h = 0;
    std::vector<float> px;      // RGB, w*h*3
    std::vector<uint8_t> hole;  // 1 = to fill
};

// Half size: colours averaged over known pixels, a coarse pixel is a hole if any fine one is.
Level downsample(const Level& f) {
    Level c;
    c.w = std::max(1, (f.w + 1) / 2);
    c.h = std::max(1, (f.h + 1) / 2);
    c.px.assign(static_cast<size_t>(c.w) * c.h * 3, 0.f);
    c.hole.assign(static_cast<size_t>(c.w) * c.h, 0);
    for (int y = 0; y < c.h; ++y)
        for (int x = 0; x < c.w; ++x) {
            float sum[3] = {0, 0, 0};
            int n = 0;
            bool hole = false;
            for (int dy = 0; dy < 2; ++dy)
                for (int dx = 0; dx < 2; ++dx) {
                    const int fx = std::min(2 * x + dx, f.w - 1), fy = std::min(2 * y + dy, f.h - 1);
                    const size_t i = static_cast<size_t>(fy) * f.w + fx;
                    if (f.hole[i]) {
                        hole = true;
                        continue;
                    }
                    for (int k = 0; k < 3; ++k) sum[k] += f.px[i * 3 + k];
                    ++n;
                }
            const size_t o = static_cast<size_t>(y) * c.w + x;
            c.hole[o] = hole;
            for (int k = 0; k < 3; ++k) c.px[o * 3 + k] = n ? sum[k] / n : 0.f;
        }
    return c;
}

class Filler {
public:
    Filler(Level& L, int patch, std::mt19937_64& rng) : L_(L), r_(patch / 2), rng_(rng) {
        // Source patch centres: every patch lying fully in known pixels.
        for (int y = r_; y < L.h - r_; ++y)
            for (int x = r_; x < L.w - r_; ++x)
                if (patch_known(x, y)) sources_.push_back({x, y});
        // Target centres: every patch touching the hole.
        for (int y = 0; y < L.h; ++y)
            for (int x = 0; x < L.w; ++x)
                if (touches_hole(x, y)) targets_.push_back({x, y});
        nnf_.assign(targets_.size(), {0, 0});
        cost_.assign(targets_.size(), std::numeric_limits<float>::max());
    }

    bool usable() const { return !sources_.empty(); }

    void init_nnf(const std::vector<std::array<int, 2>>* hint) {
        std::uniform_int_distribution<size_t> pick(0, sources_.size() - 1);
        for (size_t t = 0; t < targets_.size(); ++t) {
            std::array<int, 2> s = sources_[pick(rng_)];
            if (hint && (*hint)[t][0] >= r_) {
                s = clamp_source((*hint)[t]);
            }
            nnf_[t] = s;
            cost_[t] = distance(targets_[t], s, std::numeric_limits<float>::max());
        }
    }

    std::vector<std::array<int, 2>> upsampled_nnf(const Filler& coarse, const Level& fine) const {
        // For each fine target, the coarse match scaled up (offset kept).
        std::vector<std::array<int, 2>> out(targets_.size(), {-1, -1});
        std::vector<int> index(static_cast<size_t>(coarse.L_.w) * coarse.L_.h, -1);
        for (size_t t = 0; t < coarse.targets_.size(); ++t)
            index[static_cast<size_t>(coarse.targets_[t][1]) * coarse.L_.w + coarse.targets_[t][0]] = static_cast<int>(t);
        for (size_t t = 0; t < targets_.size(); ++t) {
            const int cx = std::min(targets_[t][0] / 2, coarse.L_.w - 1), cy = std::min(targets_[t][1] / 2, coarse.L_.h - 1);
            const int ci = index[static_cast<size_t>(cy) * coarse.L_.w + cx];
            if (ci < 0) continue;
            const auto s = coarse.nnf_[static_cast<size_t>(ci)];
            out[t] = {std::min(s[0] * 2 + targets_[t][0] % 2, fine.w - 1), std::min(s[1] * 2 + targets_[t][1] % 2, fine.h - 1)};
        }
        return out;
    }

    void search(int iterations) {
        std::vector<int> index(static_cast<size_t>(L_.w) * L_.h, -1);
        for (size_t t = 0; t < targets_.size(); ++t) index[static_cast<size_t>(targets_[t][1]) * L_.w + targets_[t][0]] = static_cast<int>(t);
        for (size_t t = 0; t < targets_.size(); ++t) cost_[t] = distance(targets_[t], nnf_[t], std::numeric_limits<float>::max());
        for (int it = 0; it < iterations; ++it) {
            const bool forward = it % 2 == 0;
            const int d = forward ? -1 : 1;
            for (size_t k = 0; k < targets_.size(); ++k) {
                const size_t t = forward ? k : targets_.size() - 1 - k;
                const auto p = targets_[t];
                // Propagation: the neighbours' matches, shifted by one.
                for (const auto& off : {std::array<int, 2>{d, 0}, std::array<int, 2>{0, d}}) {
                    const int nx = p[0] + off[0], ny = p[1] + off[1];
                    if (nx < 0 || ny < 0 || nx >= L_.w || ny >= L_.h) continue;
                    const int n = index[static_cast<size_t>(ny) * L_.w + nx];
                    if (n < 0) continue;
                    try_match(t, {nnf_[static_cast<size_t>(n)][0] - off[0], nnf_[static_cast<size_t>(n)][1] - off[1]});
                }
                // Random search around the current match with shrinking radius.
                for (int rad = std::max(L_.w, L_.h); rad >= 1; rad /= 2) {
                    std::uniform_int_distribution<int> dx(-rad, rad);
                    try_match(t, {nnf_[t][0] + dx(rng_), nnf_[t][1] + dx(rng_)});
                }
            }
        }
    }

    // Each hole pixel becomes the weighted mean of what the matched patches covering it say.
    void vote() {
        std::vector<float> acc(static_cast<size_t>(L_.w) * L_.h * 3, 0.f), wsum(static_cast<size_t>(L_.w) * L_.h, 0.f);
        float mean_cost = 0;
        for (float c : cost_) mean_cost += c;
        mean_cost = targets_.empty() ? 1.f : mean_cost / targets_.size() + 1e-6f;
        for (size_t t = 0; t < targets_.size(); ++t) {
            const float w = std::exp(-cost_[t] / (2 * mean_cost));
            for (int dy = -r_; dy <= r_; ++dy)
                for (int dx = -r_; dx <= r_; ++dx) {
                    const int x = targets_[t][0] + dx, y = targets_[t][1] + dy;
                    if (x < 0 || y < 0 || x >= L_.w || y >= L_.h) continue;
                    const size_t i = static_cast<size_t>(y) * L_.w + x;
                    if (!L_.hole[i]) continue;
                    const size_t s = static_cast<size_t>(nnf_[t][1] + dy) * L_.w + (nnf_[t][0] + dx);
                    for (int k = 0; k < 3; ++k) acc[i * 3 + k] += w * L_.px[s * 3 + k];
                    wsum[i] += w;
                }
        }
        for (size_t i = 0; i < wsum.size(); ++i)
            if (L_.hole[i] && wsum[i] > 0)
                for (int k = 0; k < 3; ++k) L_.px[i * 3 + k] = acc[i * 3 + k] / wsum[i];
    }

    const std::vector<std::array<int, 2>>& nnf() const { return nnf_; }

private:
    bool patch_known(int x, int y) const {
        for (int dy = -r_; dy <= r_; ++dy)
            for (int dx = -r_; dx <= r_; ++dx)
                if (L_.hole[static_cast<size_t>(y + dy) * L_.w + x + dx]) return false;
        return true;
    }

    bool touches_hole(int x, int y) const {
        for (int dy = -r_; dy <= r_; ++dy)
            for (int dx = -r_; dx <= r_; ++dx) {
                const int xx = x + dx, yy = y + dy;
                if (xx >= 0 && yy >= 0 && xx < L_.w && yy < L_.h && L_.hole[static_cast<size_t>(yy) * L_.w + xx]) return true;
            }
        return false;
    }

    std::array<int, 2> clamp_source(std::array<int, 2> s) const {
        s[0] = std::clamp(s[0], r_, L_.w - 1 - r_);
        s[1] = std::clamp(s[1], r_, L_.h - 1 - r_);
        return s;
    }

    // Sum of squared differences over the target patch's pixels that exist.
    float distance(std::array<int, 2> t, std::array<int, 2> s, float limit) const {
        float d = 0;
        int n = 0;
        for (int dy = -r_; dy <= r_; ++dy)
            for (int dx = -r_; dx <= r_; ++dx) {
                const int tx = t[0] + dx, ty = t[1] + dy;
                if (tx < 0 || ty < 0 || tx >= L_.w || ty >= L_.h) continue;
                const size_t ti = (static_cast<size_t>(ty) * L_.w + tx) * 3;
                const size_t si = (static_cast<size_t>(s[1] + dy) * L_.w + (s[0] + dx)) * 3;
                for (int k = 0; k < 3; ++k) {
                    const float e = L_.px[ti + k] - L_.px[si + k];
                    d += e * e;
                }
                ++n;
                if (d > limit * n) return std::numeric_limits<float>::max();
            }
        return n ? d / n : std::numeric_limits<float>::max();
    }

    void try_match(size_t t, std::array<int, 2> s) {
        s = clamp_source(s);
        if (!patch_known(s[0], s[1])) return;
        const float c = distance(targets_[t], s, cost_[t] * 1.0001f);
        if (c < cost_[t]) {
            cost_[t] = c;
            nnf_[t] = s;
        }
    }

    Level& L_;
    int r_;
    std::mt19937_64& rng_;
    std::vector<std::array<int, 2>> sources_, targets_, nnf_;
    std::vector<float> cost_;
};

}  // namespace

Image patchmatch_fill(const Image& rgb, const Image& mask, const FillOptions& opt) {
    if (!rgb.valid() || rgb.channels != 3 || !mask.valid() || mask.channels != 1 || mask.width != rgb.width || mask.height != rgb.height)
        throw Error(ErrorCode::kInvalidRequest, "Object removal needs an RGB image and a gray mask of the same size.");
    Level base;
    base.w = rgb.width;
    base.h = rgb.height;
    base.px.assign(rgb.pixels.begin(), rgb.pixels.end());
    base.hole.resize(mask.pixels.size());
    size_t holes = 0;
    for (size_t i = 0; i < mask.pixels.size(); ++i) holes += base.hole[i] = mask.pixels[i] > 127;
    if (holes == 0) throw Error(ErrorCode::kInvalidRequest, "Nothing to remove: the selection is empty.");
    if (holes == mask.pixels.size())
        throw Error(ErrorCode::kInvalidRequest, "The selection covers the whole layer; leave some of the image to fill from.");

    // Pyramid down to where the hole is a few patches wide.
    std::vector<Level> levels{base};
    while (std::min(levels.back().w, levels.back().h) > 4 * opt.patch) {
        Level c = downsample(levels.back());
        size_t known = 0;
        for (uint8_t h : c.hole) known += !h;
        if (known < c.hole.size() / 4 + 1) break;  // too little left to copy from at this scale
        levels.push_back(std::move(c));
        if (std::max(levels.back().w, levels.back().h) <= 64) break;
    }
    // Coarsest level: start the hole from the mean of its known neighbours, grown inward.
    {
        Level& c = levels.back();
        std::vector<uint8_t> filled(c.hole.size());
        for (size_t i = 0; i < filled.size(); ++i) filled[i] = !c.hole[i];
        bool changed = true;
        while (changed) {
            changed = false;
            std::vector<uint8_t> next = filled;
            for (int y = 0; y < c.h; ++y)
                for (int x = 0; x < c.w; ++x) {
                    const size_t i = static_cast<size_t>(y) * c.w + x;
                    if (filled[i]) continue;
                    float sum[3] = {0, 0, 0};
                    int n = 0;
                    for (const auto& o : {std::array<int, 2>{1, 0}, {-1, 0}, {0, 1}, {0, -1}}) {
                        const int xx = x + o[0], yy = y + o[1];
                        if (xx < 0 || yy < 0 || xx >= c.w || yy >= c.h) continue;
                        const size_t j = static_cast<size_t>(yy) * c.w + xx;
                        if (!filled[j]) continue;
                        for (int k = 0; k < 3; ++k) sum[k] += c.px[j * 3 + k];
                        ++n;
                    }
                    if (!n) continue;
                    for (int k = 0; k < 3; ++k) c.px[i * 3 + k] = sum[k] / n;
                    next[i] = 1;
                    changed = true;
                }
            filled.swap(next);
        }
    }

    std::mt19937_64 rng(opt.seed);
    std::unique_ptr<Filler> prev;
    std::vector<std::array<int, 2>> hint;
    const int n_levels = static_cast<int>(levels.size());
    for (int li = n_levels - 1; li >= 0; --li) {
        Level& L = levels[static_cast<size_t>(li)];
        if (li < n_levels - 1) {
            // Start from the coarser result, upsampled into the hole.
            const Level& c = levels[static_cast<size_t>(li + 1)];
            for (int y = 0; y < L.h; ++y)
                for (int x = 0; x < L.w; ++x) {
                    const size_t i = static_cast<size_t>(y) * L.w + x;
                    if (!L.hole[i]) continue;
                    const size_t j = static_cast<size_t>(std::min(y / 2, c.h - 1)) * c.w + std::min(x / 2, c.w - 1);
                    for (int k = 0; k < 3; ++k) L.px[i * 3 + k] = c.px[j * 3 + k];
                }
        }
        auto filler = std::make_unique<Filler>(L, std::min(opt.patch, std::max(3, std::min(L.w, L.h) / 4 * 2 - 1)), rng);
        if (!filler->usable()) continue;  // no whole known patch at this scale: keep the upsampled guess
        if (prev) hint = filler->upsampled_nnf(*prev, L);
        filler->init_nnf(prev && !hint.empty() ? &hint : nullptr);
        const int iters = li == 0 ? std::max(2, opt.em_iterations / 2) : opt.em_iterations;
        for (int it = 0; it < iters; ++it) {
            filler->search(opt.search_iterations);
            filler->vote();
            if (opt.progress && !opt.progress((n_levels - 1 - li + (it + 1.0) / iters) / n_levels)) throw Cancelled();
        }
        prev = std::move(filler);
    }
    Image out = rgb;
    for (size_t i = 0; i < base.hole.size(); ++i)
        if (base.hole[i])
            for (int k = 0; k < 3; ++k)
                out.pixels[i * 3 + k] = static_cast<uint8_t>(std::clamp(std::lround(levels[0].px[i * 3 + k]), 0L, 255L));
    return out;
}

}  // namespace sdgimp::imaging
