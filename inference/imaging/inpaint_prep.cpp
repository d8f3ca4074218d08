#include "inpaint_prep.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../status.h"
#include "pil_blur.h"
#include "resample.h"

namespace sdgimp::imaging {
namespace {

size_t at(const Image& img, int x, int y) {
    return (static_cast<size_t>(y) * static_cast<size_t>(img.width) + static_cast<size_t>(x)) * static_cast<size_t>(img.channels);
}

Image blank(int w, int h, int ch, uint8_t v = 0) {
    return Image{w, h, ch, std::vector<uint8_t>(static_cast<size_t>(w) * h * ch, v)};
}

int reflect101(int i, int n) {
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i;
    return i;
}

std::vector<double> gaussian_kernel(int n, double sigma) {
    std::vector<double> k(static_cast<size_t>(n));
    double sum = 0;
    for (int i = 0; i < n; ++i) {
        const double x = i - (n - 1) * 0.5;
        k[static_cast<size_t>(i)] = std::exp(-x * x / (2 * sigma * sigma));
        sum += k[static_cast<size_t>(i)];
    }
    for (double& v : k) v /= sum;
    return k;
}

Image inverted(Image gray) {
    for (auto& v : gray.pixels) v = static_cast<uint8_t>(255 - v);
    return gray;
}

}  // namespace

Image to_gray(const Image& img) {
    if (img.channels == 1) return img;
    Image out = blank(img.width, img.height, 1);
    for (int y = 0; y < img.height; ++y)
        for (int x = 0; x < img.width; ++x) {
            const uint8_t* p = &img.pixels[at(img, x, y)];
            // PIL's L conversion: ITU-R 601-2 luma in fixed point.
            out.pixels[at(out, x, y)] = img.channels >= 3
                ? static_cast<uint8_t>((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16)
                : p[0];
        }
    return out;
}

Image to_rgb(const Image& img) {
    if (img.channels == 3) return img;
    Image out = blank(img.width, img.height, 3);
    for (int y = 0; y < img.height; ++y)
        for (int x = 0; x < img.width; ++x)
            for (int c = 0; c < 3; ++c)
                out.pixels[at(out, x, y) + c] = img.pixels[at(img, x, y) + (img.channels >= 3 ? c : 0)];
    return out;
}

Image binary_mask(const Image& mask, bool round) {
    if (mask.channels == 4) {
        bool opaque = true;
        for (size_t i = 3; i < mask.pixels.size(); i += 4) opaque = opaque && mask.pixels[i] == 255;
        if (!opaque) {
            Image out = blank(mask.width, mask.height, 1);
            for (size_t i = 0; i < out.pixels.size(); ++i) {
                const uint8_t a = mask.pixels[i * 4 + 3];
                out.pixels[i] = round ? (a > 128 ? 255 : 0) : a;
            }
            return out;
        }
    }
    return to_gray(mask);
}

namespace {

// OpenCV's 8-bit Gaussian kernel: the float kernel quantized to 8 fractional bits with error
// diffusion from the tails in, the centre taking what is left so the taps sum to 256.
std::vector<int> opencv_fixed_kernel(int n, double sigma) {
    const auto k = gaussian_kernel(n, sigma);
    std::vector<int> q(static_cast<size_t>(n));
    double err = 0;
    int sum = 0;
    for (int i = 0; i < n / 2; ++i) {
        const double adj = k[static_cast<size_t>(i)] * 256.0 + err;
        const int v = static_cast<int>(std::nearbyint(adj));
        err = adj - v;
        q[static_cast<size_t>(i)] = q[static_cast<size_t>(n - 1 - i)] = v;
        sum += 2 * v;
    }
    q[static_cast<size_t>(n / 2)] = 256 - sum;
    return q;
}

// One cv2.GaussianBlur call with a 1-D kernel: (sum k_i * src + 128) >> 8, reflect-101 borders.
void opencv_blur_pass(Image* g, int radius, bool horizontal) {
    const int n = 2 * static_cast<int>(2.5 * radius + 0.5) + 1;
    const auto k = opencv_fixed_kernel(n, radius);
    const Image src = *g;
    const int half = n / 2;
    for (int y = 0; y < g->height; ++y)
        for (int x = 0; x < g->width; ++x) {
            int s = 128;
            for (int i = 0; i < n; ++i) {
                const int sx = horizontal ? reflect101(x + i - half, g->width) : x;
                const int sy = horizontal ? y : reflect101(y + i - half, g->height);
                s += k[static_cast<size_t>(i)] * src.pixels[static_cast<size_t>(sy) * g->width + sx];
            }
            g->pixels[static_cast<size_t>(y) * g->width + x] = static_cast<uint8_t>(std::min(255, s >> 8));
        }
}

}  // namespace

Image blur_mask(const Image& mask, int bx, int by) {
    Image g = to_gray(mask);
    if (bx > 0) opencv_blur_pass(&g, bx, true);
    if (by > 0) opencv_blur_pass(&g, by, false);
    return g;
}

std::optional<Box> crop_region(const Image& mask, int pad) {
    const Image g = to_gray(mask);
    int x1 = g.width, y1 = g.height, x2 = -1, y2 = -1;
    for (int y = 0; y < g.height; ++y)
        for (int x = 0; x < g.width; ++x)
            if (g.pixels[at(g, x, y)]) {
                x1 = std::min(x1, x);
                y1 = std::min(y1, y);
                x2 = std::max(x2, x);
                y2 = std::max(y2, y);
            }
    if (x2 < 0) return std::nullopt;
    return Box{std::max(x1 - pad, 0), std::max(y1 - pad, 0), std::min(x2 + 1 + pad, g.width), std::min(y2 + 1 + pad, g.height)};
}

Box expand_crop_region(Box b, int pw, int ph, int iw, int ih) {
    int x1 = b[0], y1 = b[1], x2 = b[2], y2 = b[3];
    const double ratio_crop = static_cast<double>(x2 - x1) / (y2 - y1);
    const double ratio_proc = static_cast<double>(pw) / ph;
    if (ratio_crop > ratio_proc) {
        const int desired_h = static_cast<int>((x2 - x1) / ratio_proc);
        const int diff = static_cast<int>(desired_h - (y2 - y1));
        y1 -= diff / 2;
        y2 += diff - diff / 2;
        if (y2 >= ih) {
            const int d = y2 - ih;
            y2 -= d;
            y1 -= d;
        }
        if (y1 < 0) {
            y2 -= y1;
            y1 -= y1;
        }
        if (y2 >= ih) y2 = ih;
    } else {
        const int desired_w = static_cast<int>((y2 - y1) * ratio_proc);
        const int diff = static_cast<int>(desired_w - (x2 - x1));
        x1 -= diff / 2;
        x2 += diff - diff / 2;
        if (x2 >= iw) {
            const int d = x2 - iw;
            x2 -= d;
            x1 -= d;
        }
        if (x1 < 0) {
            x2 -= x1;
            x1 -= x1;
        }
        if (x2 >= iw) x2 = iw;
    }
    return {x1, y1, x2, y2};
}

Image crop(const Image& img, const Box& b) {
    Image out = blank(b[2] - b[0], b[3] - b[1], img.channels);
    for (int y = 0; y < out.height; ++y)
        for (int x = 0; x < out.width; ++x) {
            const int sx = x + b[0], sy = y + b[1];
            if (sx < 0 || sy < 0 || sx >= img.width || sy >= img.height) continue;
            std::copy_n(&img.pixels[at(img, sx, sy)], img.channels, &out.pixels[at(out, x, y)]);
        }
    return out;
}

void paste(Image* dst, const Image& src, int ox, int oy) {
    for (int y = 0; y < src.height; ++y)
        for (int x = 0; x < src.width; ++x) {
            const int dx = x + ox, dy = y + oy;
            if (dx < 0 || dy < 0 || dx >= dst->width || dy >= dst->height) continue;
            std::copy_n(&src.pixels[at(src, x, y)], src.channels, &dst->pixels[at(*dst, dx, dy)]);
        }
}


Image resize_image(int mode, const Image& img, int width, int height, const std::function<Image(const Image&, int, int)>& resize_fn) {
    auto resize = [&](const Image& im, int w, int h) { return resize_fn ? resize_fn(im, w, h) : imaging::resize(im, w, h); };
    if (mode == 0) return resize(img, width, height);
    const double ratio = static_cast<double>(width) / height;
    const double src_ratio = static_cast<double>(img.width) / img.height;
    int src_w, src_h;
    if (mode == 1) {
        src_w = ratio > src_ratio ? width : img.width * height / img.height;
        src_h = ratio <= src_ratio ? height : img.height * width / img.width;
    } else {
        src_w = ratio < src_ratio ? width : img.width * height / img.height;
        src_h = ratio >= src_ratio ? height : img.height * width / img.width;
    }
    const Image r = resize(img, src_w, src_h);
    Image out = blank(width, height, img.channels);
    const int ox = width / 2 - src_w / 2, oy = height / 2 - src_h / 2;
    paste(&out, r, ox, oy);
    if (mode == 2) {
        // The borders the aspect change leaves: A1111 resizes an empty box at each edge of the
        // resized image to the border's size (PIL's bicubic then extrapolates the last two rows).
        if (ratio < src_ratio && oy > 0) {
            paste(&out, resize_box(r, width, oy, 0, 0, width, 0), 0, 0);
            paste(&out, resize_box(r, width, oy, 0, r.height, width, r.height), 0, oy + src_h);
        } else if (ratio > src_ratio && ox > 0) {
            paste(&out, resize_box(r, ox, height, 0, 0, 0, height), 0, 0);
            paste(&out, resize_box(r, ox, height, r.width, 0, r.width, height), ox + src_w, 0);
        }
    }
    return out;
}

Image fill_masked(const Image& rgb_in, const Image& mask) {
    const Image rgb = to_rgb(rgb_in);
    // The unmasked pixels pasted (premultiplied) onto a transparent canvas, as A1111's fill does.
    const Image masked = pil_masked_paste(rgb, inverted(to_gray(mask)));
    // Blurred at decreasing radii, each level composited over the previous ones, so the colour
    // around a hole flows into it.
    Image canvas = blank(rgb.width, rgb.height, 4, 0);
    for (const auto& [radius, repeats] : {std::pair{256, 1}, {64, 1}, {16, 2}, {4, 4}, {2, 2}, {0, 1}}) {
        const Image level = pil_unpremultiply(pil_gaussian_blur(masked, static_cast<float>(radius)));
        for (int rep = 0; rep < repeats; ++rep) pil_alpha_composite(&canvas, level);
    }
    return to_rgb(canvas);
}

Image overlay_of(const Image& rgb_in, const Image& mask_for_overlay) {
    // A1111 pastes the image through the inverted mask onto a premultiplied canvas and converts it
    // back (integer division: faint pixels lose precision).
    return pil_unpremultiply(pil_masked_paste(to_rgb(rgb_in), inverted(to_gray(mask_for_overlay))));
}

Image composite_over(const Image& bottom_in, const Image& top, int ox, int oy) {
    Image out = to_rgb(bottom_in);
    for (int y = 0; y < top.height; ++y)
        for (int x = 0; x < top.width; ++x) {
            const int dx = x + ox, dy = y + oy;
            if (dx < 0 || dy < 0 || dx >= out.width || dy >= out.height) continue;
            const uint8_t* t = &top.pixels[at(top, x, y)];
            const int a = top.channels == 4 ? t[3] : 255;
            uint8_t* o = &out.pixels[at(out, dx, dy)];
            for (int c = 0; c < 3; ++c) o[c] = static_cast<uint8_t>((t[c] * a + o[c] * (255 - a) + 127) / 255);
        }
    return out;
}

}  // namespace sdgimp::imaging

namespace sdgimp::imaging {

InpaintPrep prepare_inpaint(const Image& image_in, const Image& mask_in, const InpaintSettings& s) {
    if (!image_in.valid() || !mask_in.valid() || image_in.width != mask_in.width || image_in.height != mask_in.height)
        throw Error(ErrorCode::kInvalidRequest, "The inpaint mask must have the same size as the image.");
    InpaintPrep p;
    Image mask = binary_mask(mask_in, s.mask_round);
    if (s.invert) mask = inverted(std::move(mask));
    mask = blur_mask(mask, s.mask_blur_x, s.mask_blur_y);
    std::optional<Box> crop_box;
    if (s.full_res) {
        p.mask_for_overlay = mask;
        if (auto box = crop_region(mask, s.padding)) {
            crop_box = expand_crop_region(*box, s.width, s.height, mask.width, mask.height);
            p.paste_to = crop_box;
            mask = resize_image(2, crop(mask, *crop_box), s.width, s.height);
        } else {
            p.empty_mask = true;  // "only masked" with nothing masked turns itself off
        }
    }
    if (!crop_box) {
        mask = resize_image(0, mask, s.width, s.height);
        p.mask_for_overlay = mask;
        for (auto& v : p.mask_for_overlay.pixels) v = static_cast<uint8_t>(std::min(255, v * 2));
    }
    Image image = to_rgb(image_in);
    if (!crop_box) image = resize_image(0, image, s.width, s.height);
    p.overlay = overlay_of(image, p.mask_for_overlay);
    p.overlay_source = image;
    if (crop_box) image = resize_image(2, crop(image, *crop_box), s.width, s.height);
    const bool own_latent_mask = s.latent_mask.valid();
    if (own_latent_mask && (s.latent_mask.width != s.width || s.latent_mask.height != s.height))
        throw Error(ErrorCode::kInvalidRequest, "The latent mask must have the processing size; make it " + std::to_string(s.width) + "x" +
                                                    std::to_string(s.height) + ".");
    const Image& latent_mask = own_latent_mask ? s.latent_mask : mask;
    if (s.masked_content != 1) image = fill_masked(image, latent_mask);
    p.encoder_input = image;
    p.mask = mask;
    const Image lat = resize(to_rgb(latent_mask), s.width / 8, s.height / 8, Filter::kBicubic);
    p.latent_nmask.resize(static_cast<size_t>(lat.width) * lat.height);
    for (size_t i = 0; i < p.latent_nmask.size(); ++i) {
        const float v = lat.pixels[i * 3] / 255.0f;
        p.latent_nmask[i] = s.mask_round ? std::nearbyint(v) : v;
    }
    bool any = false;
    for (uint8_t v : p.mask.pixels) any = any || v != 0;
    p.empty_mask = p.empty_mask || !any;
    return p;
}

Image finish_inpaint(const Image& decoded, const InpaintPrep& prep) { return finish_inpaint(decoded, prep, prep.overlay); }

Image finish_inpaint(const Image& decoded, const InpaintPrep& prep, const Image& overlay) {
    Image base;
    if (prep.paste_to) {
        const Box& b = *prep.paste_to;
        base = blank(overlay.width, overlay.height, 4, 0);
        const Image r = resize_image(1, to_rgb(decoded), b[2] - b[0], b[3] - b[1]);
        for (int y = 0; y < r.height; ++y)
            for (int x = 0; x < r.width; ++x) {
                const int dx = x + b[0], dy = y + b[1];
                if (dx >= base.width || dy >= base.height) continue;
                uint8_t* o = &base.pixels[at(base, dx, dy)];
                std::copy_n(&r.pixels[at(r, x, y)], 3, o);
                o[3] = 255;
            }
    } else {
        base = to_rgb(decoded);
    }
    return composite_over(base, overlay);
}

}  // namespace sdgimp::imaging
