#include "face_warp.h"

#include <cmath>

#include "../status.h"

namespace sdgimp::imaging {
namespace {

using torch::indexing::Slice;

// OpenCV keeps warp positions in fixed point: 10 fractional bits while stepping along a row,
// then 5 (INTER_BITS), the sub-pixel offset picking one of 32 weight tables.
constexpr int64_t kAbScale = 1024, kTabSize = 32;

// cvRound: to nearest, halves to even.
torch::Tensor cv_round(const torch::Tensor& v) { return torch::round(v).to(torch::kLong); }

// OpenCV's interpolateCubic (A = -0.75), in float32 as its tables are built.
std::array<float, 4> cubic_weights(float x) {
    const float a = -0.75f;
    std::array<float, 4> c{};
    c[0] = ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a;
    c[1] = ((a + 2) * x - (a + 3)) * x * x + 1;
    c[2] = ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1;
    c[3] = 1.f - c[0] - c[1] - c[2];
    return c;
}

}  // namespace

Affine fit_similarity(const std::vector<Point2>& from, const std::vector<Point2>& to) {
    if (from.size() != to.size() || from.size() < 2)
        throw Error(ErrorCode::kInvalidRequest, "A similarity needs at least two matching points.");
    const double n = static_cast<double>(from.size());
    double fx = 0, fy = 0, tx = 0, ty = 0;
    for (size_t i = 0; i < from.size(); ++i) {
        fx += from[i][0], fy += from[i][1], tx += to[i][0], ty += to[i][1];
    }
    fx /= n, fy /= n, tx /= n, ty /= n;
    // With centred points the least-squares a = s cos t, b = s sin t have closed forms.
    double sxx = 0, num_a = 0, num_b = 0;
    for (size_t i = 0; i < from.size(); ++i) {
        const double x = from[i][0] - fx, y = from[i][1] - fy, u = to[i][0] - tx, v = to[i][1] - ty;
        sxx += x * x + y * y;
        num_a += x * u + y * v;
        num_b += x * v - y * u;
    }
    if (sxx <= 0) throw Error(ErrorCode::kInvalidRequest, "A similarity cannot be fitted to points that all coincide.");
    const double a = num_a / sxx, b = num_b / sxx;
    return {a, -b, tx - (a * fx - b * fy), b, a, ty - (b * fx + a * fy)};
}

Affine invert_affine(const Affine& m) {
    double d = m[0] * m[4] - m[1] * m[3];
    d = d != 0 ? 1.0 / d : 0.0;
    const double a11 = m[4] * d, a22 = m[0] * d, a12 = -m[1] * d, a21 = -m[3] * d;
    return {a11, a12, -a11 * m[2] - a12 * m[5], a21, a22, -a21 * m[2] - a22 * m[5]};
}

torch::Tensor warp_affine(const torch::Tensor& src_in, const Affine& m, int out_w, int out_h, WarpFilter filter,
                          const std::vector<double>& border, bool round_to_8bit, int origin_x, int origin_y) {
    const torch::Tensor src = src_in.dim() == 2 ? src_in.unsqueeze(2) : src_in;
    const int64_t h = src.size(0), w = src.size(1), c = src.size(2);
    if (static_cast<int64_t>(border.size()) != c) throw Error(ErrorCode::kInternal, "warp_affine: one border value per channel is needed.");
    const Affine inv = invert_affine(m);
    const auto dopt = torch::TensorOptions().dtype(torch::kDouble);
    // Positions as OpenCV's WarpAffineInvoker steps them (round_delta = half a table step).
    const torch::Tensor xs = torch::arange(origin_x, origin_x + out_w, dopt), ys = torch::arange(origin_y, origin_y + out_h, dopt);
    const torch::Tensor adelta = cv_round(xs * (inv[0] * kAbScale)), bdelta = cv_round(xs * (inv[3] * kAbScale));
    const torch::Tensor x0 = cv_round((ys * inv[1] + inv[2]) * kAbScale) + kAbScale / kTabSize / 2;
    const torch::Tensor y0 = cv_round((ys * inv[4] + inv[5]) * kAbScale) + kAbScale / kTabSize / 2;
    const torch::Tensor fx_fixed = torch::div(x0.unsqueeze(1) + adelta.unsqueeze(0), kAbScale / kTabSize, "floor");
    const torch::Tensor fy_fixed = torch::div(y0.unsqueeze(1) + bdelta.unsqueeze(0), kAbScale / kTabSize, "floor");
    const torch::Tensor ix = torch::div(fx_fixed, kTabSize, "floor"), iy = torch::div(fy_fixed, kTabSize, "floor");
    const torch::Tensor fx = fx_fixed - ix * kTabSize, fy = fy_fixed - iy * kTabSize;  // 0..31

    // Neighbours outside the source take the border value (no framed copy of the source: the cost
    // follows the output's size).
    const torch::Tensor flat = src.to(torch::kDouble).contiguous().reshape({-1, c});
    const torch::Tensor border_value = torch::tensor(border, dopt).view({1, 1, c});
    auto sample = [&](int64_t dx, int64_t dy) {
        const torch::Tensor cx = ix + dx, cy = iy + dy;
        const torch::Tensor inside = (cx >= 0).logical_and(cx < w).logical_and(cy >= 0).logical_and(cy < h).unsqueeze(2);
        const torch::Tensor index = (cy.clamp(0, h - 1) * w + cx.clamp(0, w - 1)).reshape({-1});
        return torch::where(inside, flat.index_select(0, index).reshape({out_h, out_w, c}), border_value);
    };

    torch::Tensor out = torch::zeros({out_h, out_w, c}, dopt);
    if (filter == WarpFilter::kBilinear) {
        // Table weights (1 - x)(1 - y) ... at x, y = k / 32: multiples of 1/1024, exact in any precision.
        const torch::Tensor wx = fx.to(torch::kDouble) / kTabSize, wy = fy.to(torch::kDouble) / kTabSize;
        const torch::Tensor w00 = ((1 - wx) * (1 - wy)).unsqueeze(2), w01 = (wx * (1 - wy)).unsqueeze(2);
        const torch::Tensor w10 = ((1 - wx) * wy).unsqueeze(2), w11 = (wx * wy).unsqueeze(2);
        out = sample(0, 0) * w00 + sample(1, 0) * w01 + sample(0, 1) * w10 + sample(1, 1) * w11;
    } else {
        // 16 float32 table entries (row weight x column weight) per sub-pixel offset.
        torch::Tensor tab = torch::empty({kTabSize, 4}, torch::kFloat);
        for (int64_t k = 0; k < kTabSize; ++k) {
            const auto cw = cubic_weights(static_cast<float>(k) / kTabSize);
            for (int j = 0; j < 4; ++j) tab[k][j] = cw[j];
        }
        const torch::Tensor wxs = tab.index_select(0, fx.reshape({-1})).reshape({out_h, out_w, 4});
        const torch::Tensor wys = tab.index_select(0, fy.reshape({-1})).reshape({out_h, out_w, 4});
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
                const torch::Tensor wgt = (wys.select(2, i) * wxs.select(2, j)).to(torch::kDouble).unsqueeze(2);
                out += sample(j - 1, i - 1) * wgt;
            }
    }
    if (round_to_8bit) {
        // FixedPtCast over 15-bit weights, (v + 2^14) >> 15: round half up (out * 2^15 is whole), then saturate.
        out = torch::floor(out + 0.5).clamp(0, 255);
    }
    return src_in.dim() == 2 ? out.squeeze(2) : out;
}

torch::Tensor gaussian_blur_reflect101(const torch::Tensor& img, int ksize, double sigma) {
    if (ksize % 2 != 1 || ksize < 1) throw Error(ErrorCode::kInternal, "gaussian_blur_reflect101 needs an odd kernel size.");
    const double s = sigma > 0 ? sigma : ((ksize - 1) * 0.5 - 1) * 0.3 + 0.8;
    const double scale2 = -0.5 / (s * s);
    std::vector<double> k(static_cast<size_t>(ksize));
    double sum = 0;
    for (int i = 0; i < ksize; ++i) {
        const double x = i - (ksize - 1) * 0.5;
        k[static_cast<size_t>(i)] = std::exp(scale2 * x * x);
        sum += k[static_cast<size_t>(i)];
    }
    for (auto& v : k) v /= sum;
    const int r = ksize / 2;
    const int64_t h = img.size(0), w = img.size(1);
    if (r >= h || r >= w) throw Error(ErrorCode::kInternal, "gaussian_blur_reflect101: the kernel is wider than the image.");
    const torch::Tensor x = torch::reflection_pad2d(img.to(torch::kDouble).unsqueeze(0).unsqueeze(0), {r, r, r, r}).squeeze(0).squeeze(0);
    // Rows, then columns: each output the kernel-weighted sum of its shifted neighbours.
    torch::Tensor rows = torch::zeros({h + 2 * r, w}, torch::kDouble);
    for (int i = 0; i < ksize; ++i) rows.add_(x.slice(1, i, i + w), k[static_cast<size_t>(i)]);
    torch::Tensor out = torch::zeros({h, w}, torch::kDouble);
    for (int i = 0; i < ksize; ++i) out.add_(rows.slice(0, i, i + h), k[static_cast<size_t>(i)]);
    return out;
}

std::array<float, 8> lanczos4_weights(float x) {
    const double s45 = 0.70710678118654752440084436210485;
    const double cs[8][2] = {{1, 0}, {-s45, -s45}, {0, 1}, {s45, -s45}, {-1, 0}, {s45, s45}, {0, -1}, {-s45, s45}};
    const double y0 = -(x + 3) * M_PI * 0.25, s0 = std::sin(y0), c0 = std::cos(y0);
    std::array<float, 8> c{};
    float sum = 0;
    for (int i = 0; i < 8; ++i) {
        const float yi = x + 3 - i;
        if (std::fabs(yi) >= 1e-6f) {
            const double y = -yi * M_PI * 0.25;
            c[static_cast<size_t>(i)] = static_cast<float>((cs[i][0] * s0 + cs[i][1] * c0) / (y * y));
        } else {
            c[static_cast<size_t>(i)] = 1e30f;  // OpenCV's stand-in for the tap on the sample itself
        }
        sum += c[static_cast<size_t>(i)];
    }
    sum = 1.f / sum;
    for (auto& v : c) v *= sum;
    return c;
}

namespace {

// One axis of OpenCV's 8-bit Lanczos4 resize: per output position the eight source indices
// (edges repeated) and the weights as 11-bit fixed point.
void lanczos4_axis(int in, int out, torch::Tensor* index, torch::Tensor* weight) {
    const double scale = 1.0 / (static_cast<double>(out) / in);
    *index = torch::empty({out, 8}, torch::kLong);
    *weight = torch::empty({out, 8}, torch::kLong);
    auto ia = index->accessor<int64_t, 2>();
    auto wa = weight->accessor<int64_t, 2>();
    for (int d = 0; d < out; ++d) {
        float f = static_cast<float>((d + 0.5) * scale - 0.5);
        const int s = static_cast<int>(std::floor(f));
        f -= static_cast<float>(s);
        const auto cw = lanczos4_weights(f);
        for (int k = 0; k < 8; ++k) {
            ia[d][k] = std::min(std::max(s + k - 3, 0), in - 1);
            wa[d][k] = static_cast<int64_t>(std::nearbyint(cw[static_cast<size_t>(k)] * 2048.0f));
        }
    }
}

}  // namespace

torch::Tensor resize_lanczos4(const torch::Tensor& img, int out_w, int out_h) {
    const int64_t h = img.size(0), w = img.size(1), c = img.size(2);
    if (out_w < 1 || out_h < 1) throw Error(ErrorCode::kInvalidRequest, "A resize needs a size of at least 1x1.");
    if (out_w == w && out_h == h) return img.clone();
    torch::Tensor xi, xw, yi, yw;
    lanczos4_axis(static_cast<int>(w), out_w, &xi, &xw);
    lanczos4_axis(static_cast<int>(h), out_h, &yi, &yw);
    const torch::Tensor src = img.to(torch::kLong);
    // Horizontal sums in integers (OpenCV's int buffer rows), then the vertical pass and a 22-bit shift.
    torch::Tensor rows = torch::zeros({h, out_w, c}, torch::kLong);
    for (int k = 0; k < 8; ++k) rows += src.index_select(1, xi.select(1, k)) * xw.select(1, k).view({1, out_w, 1});
    torch::Tensor acc = torch::zeros({out_h, out_w, c}, torch::kLong);
    for (int k = 0; k < 8; ++k) acc += rows.index_select(0, yi.select(1, k)) * yw.select(1, k).view({out_h, 1, 1});
    return torch::div(acc + (1 << 21), 1 << 22, "floor").clamp(0, 255).to(img.scalar_type());
}

}  // namespace sdgimp::imaging
