// A1111 runs its scripts (Prompt matrix, Prompts from file) from its txt2img tab or its img2img
// tab. The plug-in's script procedures take the tab as their "source" argument: "txt2img" makes new
// images, "img2img" redraws the active layer (or its selected part) at a denoising strength.
#pragma once

#include <libgimp/gimp.h>

#include <string>

#include "generate_jobs.h"
#include "request.h"
#include "settings.h"
#include "wire.h"

namespace sdgimp::plugin {

struct ScriptSource {
    bool img2img = false;
    double denoising_strength = 0.75;
};

// The procedure's "source" and "denoising-strength" arguments (at `index` and index + 1); throws
// one sentence for another source.
ScriptSource script_source(const GimpParam* params, int index);

// The engine message of one script run: Text to Image, or Image to Image over the active drawable
// (the request's size becomes the region's, padded to multiples of 8; its denoising strength is the
// script's, which an X/Y "Denoising" axis may have changed); *t gets what apply_runs needs to place
// its images.
wire::Message script_message(const ScriptSource& src, gint32 image, gint32 drawable, GenerateRequest* r, const std::string& model,
                             const Settings& s, Target* t);

}  // namespace sdgimp::plugin
