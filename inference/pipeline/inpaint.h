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
    std::vector<Image> images;   // RGB, the size of the input image
    std::vector<Image> decoded;  // RGB, the processing size: the VAE's output before it is put back
    std::vector<Image> masks_for_overlay;  // soft inpainting: each image's composite mask (overlay size)
    torch::Tensor latents;       // (N, C, h, w): the sampler's output after the final blend
    std::vector<int64_t> seeds, subseeds;
    imaging::InpaintPrep prep;
};

// The conditioning of one batch's model calls (prompt schedules switch it by call).
using BatchGuidance = std::function<sampling::Guidance(int call)>;

// Inpainting after the image preparation: init latent, masked-content handling, 9-channel
// conditioning, sampling with the latent blend, decode and put back. r must have resolved seeds;
// `eps_seed` seeds the posterior sample of the init latent.
// A refiner (RefinerRun) takes over sampling at its switch and then decodes with its own VAE.
InpaintResult inpaint_prepared(const LatentModel& lm, const ImageCodec& codec, const GenerateRequest& r,
                               imaging::InpaintPrep prep, const BatchGuidance& guidance, const RunHooks& hooks,
                               RefinerRun* refiner = nullptr);

// image: RGB; mask: gray, same size (255 = regenerate, soft values honoured). r.width/height is the
// processing size. latent_mask: A1111's p.latent_mask (InpaintSettings::latent_mask), or empty.
InpaintResult generate_inpaint(const SDModel& m, const text::ClipTokenizer& tok, const GenerateRequest& r,
                               const Image& image, const Image& mask, const RunHooks& hooks,
                               const Image& latent_mask = {});

}  // namespace sdgimp::pipeline
