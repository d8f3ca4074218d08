// PIL's ImageFilter.GaussianBlur and the 8-bit helpers around it, to the bit: three box blurs per
// direction whose fractional radius approximates the Gaussian, in PIL's 24-bit fixed point, each
// pass rounded to 8 bits, edges extended; premultiplied alpha as PIL converts and pastes it, and
// its integer alpha_composite. A1111's "fill" and soft inpainting's masks are made of these.
#pragma once

#include "../image.h"

namespace sdgimp::imaging {

// The box radius PIL derives from a Gaussian radius (standard deviation) for `passes` box blurs.
float pil_box_radius(float radius, int passes);

// Any number of interleaved 8-bit channels, each blurred alone. radius 0 returns it unchanged.
Image pil_gaussian_blur(const Image& img, float radius);

// RGB pasted through an alpha mask onto a transparent premultiplied "RGBa" canvas, as PIL's
// paste(image, mask=...) does: colour and alpha are v * alpha / 255 rounded.
Image pil_masked_paste(const Image& rgb, const Image& alpha);

// RGBA → PIL's premultiplied "RGBa" and back (integer division: faint pixels lose precision).
Image pil_premultiply(const Image& rgba);
Image pil_unpremultiply(const Image& rgba_premultiplied);

// PIL's Image.alpha_composite(src) onto dst, both RGBA of one size, in place.
void pil_alpha_composite(Image* dst, const Image& src);

}  // namespace sdgimp::imaging
