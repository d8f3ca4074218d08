#include "resample.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../status.h"

namespace sdgimp::imaging {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double sinc(double x) {
    if (x == 0.0) return 1.0;
    x *= M_PI;
    return std::sin(x) / x;
}

double filter_value(Filter f, double x) {
    switch (f) {
        case Filter::kLanczos: return (x > -3.0 && x < 3.0) ? sinc(x) * sinc(x / 3.0) : 0.0;
        case Filter::kBilinear: x = std::fabs(x); return x < 1.0 ? 1.0 - x : 0.0;
        case Filter::kBicubic: {
            const double a = -0.5;
            x = std::fabs(x);
            if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
            if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
            return 0.0;
        }
        default: return 0.0;
    }
}

double support_of(Filter f) {
    switch (f) {
        case Filter::kLanczos: return 3.0;
        case Filter::kBilinear: return 1.0;
        case Filter::kBicubic: return 2.0;
        default: return 0.0;
    }
}

struct Coeffs {
    int ksize = 0;
    std::vector<int> bounds;  // per output: xmin, xsize
    std::vector<int> k;       // fixed point, ksize per output
};

// Coefficients for out_size samples over the source span [in0, in1) of in_size samples (PIL's box).
Coeffs precompute(double in0, double in1, int in_size, int out_size, Filter f) {
    const double scale = (in1 - in0) / out_size;
    const double filterscale = std::max(scale, 1.0);
    const double support = support_of(f) * filterscale;
    Coeffs c;
    c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
    c.bounds.resize(static_cast<size_t>(out_size) * 2);
    c.k.assign(static_cast<size_t>(out_size) * static_cast<size_t>(c.ksize), 0);
    std::vector<double> kk(static_cast<size_t>(c.ksize));
    for (int xx = 0; xx < out_size; ++xx) {
        const double center = in0 + (xx + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        int xmin = static_cast<int>(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = static_cast<int>(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; ++x) {
            const double w = filter_value(f, (x + xmin - center + 0.5) * ss);
            kk[static_cast<size_t>(x)] = w;
            ww += w;
        }
        for (int x = 0; x < xmax; ++x) {
            const double v = ww != 0.0 ? kk[static_cast<size_t>(x)] / ww : 0.0;
            c.k[static_cast<size_t>(xx) * static_cast<size_t>(c.ksize) + static_cast<size_t>(x)] =
                static_cast<int>(v < 0 ? v * (1 << kPrecisionBits) - 0.5 : v * (1 << kPrecisionBits) + 0.5);
        }
        c.bounds[static_cast<size_t>(xx) * 2] = xmin;
        c.bounds[static_cast<size_t>(xx) * 2 + 1] = xmax;
    }
    return c;
}

uint8_t clip8(int64_t v) {
    v >>= kPrecisionBits;
    return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

Image pass(const Image& in, int out_w, int out_h, bool horizontal, Filter f, double in0, double in1) {
    Image out;
    out.width = out_w;
    out.height = out_h;
    out.channels = in.channels;
    out.pixels.resize(static_cast<size_t>(out_w) * static_cast<size_t>(out_h) * static_cast<size_t>(in.channels));
    const int n_out = horizontal ? out_w : out_h;
    const Coeffs c = precompute(in0, in1, horizontal ? in.width : in.height, n_out, f);
    const int ch = in.channels;
    for (int y = 0; y < out_h; ++y) {
        for (int x = 0; x < out_w; ++x) {
            const int o = horizontal ? x : y;
            const int xmin = c.bounds[static_cast<size_t>(o) * 2], xsize = c.bounds[static_cast<size_t>(o) * 2 + 1];
            const int* k = &c.k[static_cast<size_t>(o) * static_cast<size_t>(c.ksize)];
            for (int b = 0; b < ch; ++b) {
                int64_t ss = int64_t{1} << (kPrecisionBits - 1);
                for (int i = 0; i < xsize; ++i) {
                    const int sx = horizontal ? xmin + i : x;
                    const int sy = horizontal ? y : xmin + i;
                    ss += static_cast<int64_t>(in.pixels[(static_cast<size_t>(sy) * in.width + sx) * ch + b]) * k[i];
                }
                out.pixels[(static_cast<size_t>(y) * out_w + x) * ch + b] = clip8(ss);
            }
        }
    }
    return out;
}

}  // namespace

Image resize(const Image& in, int width, int height, Filter filter) {
    if (!in.valid()) throw Error(ErrorCode::kInvalidRequest, "Cannot resize an empty image.");
    if (width < 1 || height < 1 || width > 32768 || height > 32768)
        throw Error(ErrorCode::kInvalidRequest, "A resized image must be between 1 and 32768 pixels on each side.");
    if (filter == Filter::kNearest) {
        Image out;
        out.width = width;
        out.height = height;
        out.channels = in.channels;
        out.pixels.resize(static_cast<size_t>(width) * height * in.channels);
        for (int y = 0; y < height; ++y) {
            const int sy = std::min(in.height - 1, static_cast<int>((y + 0.5) * in.height / height));
            for (int x = 0; x < width; ++x) {
                const int sx = std::min(in.width - 1, static_cast<int>((x + 0.5) * in.width / width));
                std::copy_n(&in.pixels[(static_cast<size_t>(sy) * in.width + sx) * in.channels], in.channels,
                            &out.pixels[(static_cast<size_t>(y) * width + x) * in.channels]);
            }
        }
        return out;
    }
    Image cur = in;
    if (width != in.width) cur = pass(cur, width, cur.height, true, filter, 0, in.width);
    if (height != in.height) cur = pass(cur, cur.width, height, false, filter, 0, in.height);
    return cur;
}

Image resize_box(const Image& in, int width, int height, double x0, double y0, double x1, double y1, Filter filter) {
    if (!in.valid() || filter == Filter::kNearest) throw Error(ErrorCode::kInternal, "resize_box takes a valid image and a filter.");
    if (width < 1 || height < 1 || width > 32768 || height > 32768)
        throw Error(ErrorCode::kInvalidRequest, "A resized image must be between 1 and 32768 pixels on each side.");
    // PIL skips a pass whose axis keeps its size and its whole span.
    const bool horizontal = width != in.width || x0 != 0 || x1 != width;
    const bool vertical = height != in.height || y0 != 0 || y1 != height;
    if (!vertical && (y0 != 0 || y1 != in.height)) throw Error(ErrorCode::kInternal, "resize_box crops rows only with a vertical pass.");
    Image cur = in;
    if (horizontal) cur = pass(cur, width, cur.height, true, filter, x0, x1);
    else if (x0 != 0 || x1 != in.width) throw Error(ErrorCode::kInternal, "resize_box crops columns only with a horizontal pass.");
    if (vertical) cur = pass(cur, cur.width, height, false, filter, y0, y1);
    return cur;
}

}  // namespace sdgimp::imaging
