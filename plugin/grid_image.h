// The new image of a grid script (X/Y Plot, Prompt Matrix): each cell's first image a named layer,
// row by row, handed back as the procedure's result.
#pragma once

#include <libgimp/gimp.h>

#include <string>
#include <utility>
#include <vector>

#include "procedures.h"
#include "settings.h"
#include "wire.h"

namespace sdgimp::plugin {

// cells: (layer name, the engine's result) row by row, `cols` to a row, `margin` pixels apart, at
// the first cell's image size, or its top-left crop_w x crop_h (an img2img region's own size within
// the padded image); built with undo off. The image is shown in interactive runs, the model
// remembered, and the image returned in the reply. With `groups` (an X/Y/Z plot's Z values) the
// cells are that many grids of cols x rows, one after another, each in a layer group of that name,
// placed side by side `margin` pixels apart.
void reply_grid_image(const std::vector<std::pair<std::string, wire::Message>>& cells, int cols, int rows, int margin,
                      const std::string& comment, const GimpParam* params, Settings* s, const std::string& model, Reply* reply,
                      int crop_w = 0, int crop_h = 0, const std::vector<std::string>& groups = {});

}  // namespace sdgimp::plugin
