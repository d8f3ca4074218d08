// PIL's ImageFilter.GaussianBlur on 8-bit gray images, to the bit: three box blurs per direction
// whose fractional radius approximates the Gaussian, in PIL's 24-bit fixed point, each pass
// rounded to 8 bits, edges extended. A1111's soft inpainting blurs its composite masks with it.
#pragma once

#include "../image.h"

namespace sdgimp::imaging {

// The box radius PIL derives from a Gaussian radius (standard deviation) for `passes` box blurs.
float pil_box_radius(float radius, int passes);

// gray: one channel. radius 0 returns it unchanged.
Image pil_gaussian_blur_gray(const Image& gray, float radius);

}  // namespace sdgimp::imaging
