// Inpainting as A1111 runs it: the prepared image and mask (imaging/inpaint_prep), masked-content
// handling in latent space, 9-channel conditioning for inpainting models, the per-step latent
// blend, then the result put back under the original through the overlay.
#pragma once

#include <optional>
#include <torch/torch.h>

#include "../imaging/inpaint_prep.h"
#include "generate.h"

namespace sdgimp::pipeline {

struct InpaintResult {
    std::vector<Image> images;  // RGB, the size of the input image
    std::vector<int64_t> seeds, subseeds;
    imaging::InpaintPrep prep;
};

// image: RGB; mask: gray, same size (255 = regenerate, soft values honoured). r.width/height is the
// processing size.
InpaintResult generate_inpaint(const SDModel& m, const text::ClipTokenizer& tok, const GenerateRequest& r,
                               const Image& image, const Image& mask, const RunHooks& hooks);

}  // namespace sdgimp::pipeline
