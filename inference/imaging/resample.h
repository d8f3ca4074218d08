// Image resizing as PIL does it (A1111 resizes with PIL): separable filters with PIL's support
// rule and 22-bit fixed-point coefficients, horizontal pass first, so results match byte for byte.
#pragma once

#include "../image.h"

namespace sdgimp::imaging {

enum class Filter { kNearest, kBilinear, kBicubic, kLanczos };

// Throws sdgimp::Error for an invalid size.
Image resize(const Image& in, int width, int height, Filter filter = Filter::kLanczos);

}  // namespace sdgimp::imaging
