// A1111 runs its scripts (X/Y plot, Prompt matrix, Prompts from file) from its txt2img tab or its img2img
// tab. The plug-in's script procedures take the tab as their "source" argument: "txt2img" makes new
// images, "img2img" redraws the active layer (or its selected part) at a denoising strength.
#pragma once

#include <libgimp/gimp.h>

#include "generate_jobs.h"

namespace sdgimp::plugin {

struct ScriptSource {
    bool img2img = false;
    double denoising_strength = 0.75;
    // What prepare() runs: Image to Image over the active drawable (the request's size becomes the
    // region's, padded to multiples of 8), or Text to Image.
    GenMode mode() const { return img2img ? GenMode::kImg2Img : GenMode::kTxt2Img; }
};

// The procedure's "source" and "denoising-strength" arguments (at `index` and index + 1); throws
// one sentence for another source.
ScriptSource script_source(const GimpParam* params, int index);

}  // namespace sdgimp::plugin
