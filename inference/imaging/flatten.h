// A1111's images.flatten: a transparent init image composited onto the "Background color for
// img2img" setting (PIL's paste with the image as its own mask), as every img2img, inpainting and
// SD upscale run does before anything else.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "../image.h"

namespace sdgimp::imaging {

// "#rrggbb" or "#rgb" (A1111's colour picker value). Throws sdgimp::Error with one sentence otherwise.
std::array<uint8_t, 3> parse_background_color(const std::string& text);

// RGB of `img` over `background` where it is transparent; gray and RGB images come back as RGB
// unchanged (gray spread over three channels).
Image flatten(const Image& img, const std::array<uint8_t, 3>& background);

}  // namespace sdgimp::imaging
