// Object removal without a network: the masked area is rebuilt from the rest of the image by
// coarse-to-fine PatchMatch (randomised nearest-patch search) with patch voting, the classical
// content-aware fill.
#pragma once

#include <functional>

#include "../image.h"

namespace sdgimp::imaging {

struct FillOptions {
    int patch = 7;            // patch side (odd)
    int em_iterations = 6;    // search + vote rounds per pyramid level
    int search_iterations = 4;
    uint64_t seed = 1;        // the random search is seeded: the same input gives the same output
    std::function<bool(double fraction)> progress;  // returns false to stop (throws Cancelled)
};

// rgb: 3 channels; mask: gray, same size, > 127 = remove. Pixels outside the mask are unchanged.
// Throws sdgimp::Error when the mask is empty or covers the whole image.
Image patchmatch_fill(const Image& rgb, const Image& mask, const FillOptions& opt = {});

}  // namespace sdgimp::imaging
