// Image resizing as PIL does it (A1111 resizes with PIL): separable filters with PIL's support
// rule and 22-bit fixed-point coefficients, horizontal pass first, so results match byte for byte.
#pragma once

#include "../image.h"

namespace sdgimp::imaging {

enum class Filter { kNearest, kBilinear, kBicubic, kLanczos };

// Throws sdgimp::Error for an invalid size.
Image resize(const Image& in, int width, int height, Filter filter = Filter::kLanczos);

// PIL's resize((width, height), box=(x0, y0, x1, y1)): the source span the box covers (it may be
// empty: a zero-width box at an edge extrapolates the last columns, as A1111's "resize and fill"
// uses it) resampled to the size.
Image resize_box(const Image& in, int width, int height, double x0, double y0, double x1, double y1,
                 Filter filter = Filter::kBicubic);

}  // namespace sdgimp::imaging
