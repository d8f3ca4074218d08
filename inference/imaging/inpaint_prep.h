// A1111's inpaint preparation on 8-bit images (modules/processing.py + images.py): binary mask,
// mask blur, crop region for "only masked", expansion to the processing aspect, resize modes,
// "fill" for masked content, and the overlay that is composited over the result.
#pragma once

#include <functional>

#include <array>
#include <optional>

#include "../image.h"

namespace sdgimp::imaging {

using Box = std::array<int, 4>;  // x1, y1, x2, y2 (x2/y2 exclusive)

// L masks stay as they are (soft values honoured); RGBA masks use their alpha, thresholded at 128
// when `round`.
Image binary_mask(const Image& mask, bool round);

// OpenCV's GaussianBlur on 8-bit gray with A1111's kernel sizes (2*int(2.5*r+0.5)+1), x then y;
// a zero radius skips that pass.
Image blur_mask(const Image& mask, int blur_x, int blur_y);

// Bounding box of non-zero pixels grown by pad and clamped; nullopt for an empty mask.
std::optional<Box> crop_region(const Image& mask, int pad);

// Grows the shorter side of the box to the processing aspect ratio, kept inside the image.
Box expand_crop_region(Box box, int processing_w, int processing_h, int image_w, int image_h);

Image crop(const Image& img, const Box& box);
// src copied into dst at (x, y), clipped to dst (same channel count).
void paste(Image* dst, const Image& src, int x, int y);

// A1111's resize modes: 0 stretch, 1 keep aspect + center crop, 2 keep aspect + fill the borders.
// `resize` makes the picture's own resizes (A1111's inner resize(): Lanczos, or its "Upscaler for
// img2img" when set); the filled borders of mode 2 stay PIL's.
Image resize_image(int mode, const Image& img, int width, int height,
                   const std::function<Image(const Image&, int, int)>& resize = {});

// "Masked content: fill": the masked area replaced by progressively blurred surroundings.
Image fill_masked(const Image& rgb, const Image& mask);

// The original image with alpha = 255 - mask (RGBA), composited over the generated result.
Image overlay_of(const Image& rgb, const Image& mask_for_overlay);
// Alpha-composites RGBA `top` over RGB(A) `bottom` at (x, y); returns RGB.
Image composite_over(const Image& bottom, const Image& top, int x = 0, int y = 0);

Image to_rgb(const Image& img);
Image to_gray(const Image& img);

}  // namespace sdgimp::imaging

namespace sdgimp::imaging {

struct InpaintSettings {
    int width = 512, height = 512;  // processing size (multiples of 8)
    int mask_blur_x = 4, mask_blur_y = 4;
    int masked_content = 1;         // 0 fill, 1 original, 2 latent noise, 3 latent nothing
    bool full_res = false;          // "Inpaint area: Only masked"
    int padding = 32;
    bool mask_round = true;
    bool invert = false;            // "Inpaint not masked"
    // A1111's p.latent_mask (scripts set it; Poor man's outpainting does): a gray mask at the
    // processing size, used as it is (no blur, no rounding of its pixels) for "fill" and for the
    // latent blend, while the blurred mask still makes the overlay and an inpainting model's
    // conditioning. Empty: the blurred mask serves for both.
    Image latent_mask;
};

// Everything A1111's img2img init derives from the image and the mask before sampling.
struct InpaintPrep {
    Image encoder_input;     // RGB at the processing size: what the VAE encodes
    Image mask;              // gray at the processing size (1 = regenerate)
    Image mask_for_overlay;  // gray: the blurred mask at the overlay's size
    Image overlay;           // RGBA: the original with alpha = 255 - mask_for_overlay
    Image overlay_source;    // RGB: the original at the overlay's size (soft inpainting remakes the overlay)
    std::optional<Box> paste_to;  // "only masked": where the result goes (x1, y1, x2, y2)
    std::vector<float> latent_nmask;  // (height/8) x (width/8), 1 = regenerate
    bool empty_mask = false;
};

InpaintPrep prepare_inpaint(const Image& image, const Image& mask, const InpaintSettings& s);

// The decoded processing-size result put back: resized into the crop box when "only masked",
// then the overlay composited on top. Returns RGB at the overlay's size.
Image finish_inpaint(const Image& decoded, const InpaintPrep& prep);
// The same under another overlay of the same size (soft inpainting's per-image one).
Image finish_inpaint(const Image& decoded, const InpaintPrep& prep, const Image& overlay);

}  // namespace sdgimp::imaging
