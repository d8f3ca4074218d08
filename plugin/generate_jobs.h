// The three generating procedures split into "prepare" (read GIMP, build the engine request) and
// "apply" (results → layers in one undo group), so the batch path and the dialog share them.
#pragma once

#include <libgimp/gimp.h>

#include <string>
#include <utility>

#include "dialogs_mode.h"
#include "gimp_pixels.h"
#include "request.h"
#include "settings.h"
#include "wire.h"

namespace sdgimp::plugin {

// What a run reads from the image and needs again to place its results.
struct Target {
    gint32 image = -1, drawable = -1;
    Rect rect;            // the region used, in drawable coordinates
    int ox = 0, oy = 0;   // drawable offsets
    Image src;            // RGBA pixels of rect
    Image selection;      // selection values over rect (255 when nothing is selected)
    bool masked = false;  // a selection exists
    int w8 = 0, h8 = 0;   // the region padded to multiples of 8 (at least 64)
};

// The part of the drawable an Image to Image run redraws: its selected part, or all of it; throws
// sdgimp::Error with one sentence when the selection misses the drawable.
Rect img2img_rect(gint32 drawable);

// The size an Image to Image run over the active layer (or its selected part) takes by default:
// the region padded to multiples of 8, at least 64 (A1111's img2img tab size, here the layer's).
std::pair<int, int> img2img_size(gint32 image, gint32 drawable);

// Throws sdgimp::Error with one sentence for images or selections a mode cannot use.
// `r` is adjusted (sizes) for the mode; `model` is the checkpoint file. Image to Image with
// r->resize_init_image keeps r's size and sends the region's own pixels for the engine to resize.
wire::Message prepare(GenMode mode, gint32 image, gint32 drawable, GenerateRequest* r, const std::string& model,
                      const Settings& s, Target* t);

// Returns the top new layer (or the batch's layer group).
gint32 apply(GenMode mode, const Target& t, const wire::Message& result, const GenerateRequest& r);

// The images of several runs (a script's list of requests and their results) in one layer group
// named `group_name` above the active layer, one undo group; returns the group. Text to Image
// images lie at the image's corner; Image to Image ones (`region`: the runs' common target) over
// the region they redrew, with its alpha and, where something was selected, the selection as mask.
gint32 apply_runs(gint32 image, const std::string& group_name, const std::vector<std::pair<GenerateRequest, wire::Message>>& runs,
                  const Target* region = nullptr);

}  // namespace sdgimp::plugin
