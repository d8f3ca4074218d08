#include "grid_image.h"

#include <algorithm>

#include "gimp_pixels.h"
#include "imaging/inpaint_prep.h"

namespace sdgimp::plugin {

void reply_grid_image(const std::vector<std::pair<std::string, wire::Message>>& cells, int cols, int rows, int margin,
                      const std::string& comment, const GimpParam* params, Settings* s, const std::string& model, Reply* reply,
                      int crop_w, int crop_h) {
    // Cells at their images' size (the hires size when Text to Image's Hires. fix is on, as A1111's
    // scripts follow its tab).
    const Image first = wire::image_from(cells.front().second.header["images"][0], cells.front().second);
    const int cw = crop_w > 0 ? std::min(crop_w, first.width) : first.width, ch = crop_h > 0 ? std::min(crop_h, first.height) : first.height;
    const gint32 img = gimp_image_new(cols * cw + (cols - 1) * margin, rows * ch + (rows - 1) * margin, GIMP_RGB);
    gimp_image_undo_disable(img);
    for (size_t k = 0; k < cells.size(); ++k) {
        const auto& res = cells[k].second;
        const auto& d = res.header["images"][0];
        const int i = static_cast<int>(k) % cols, j = static_cast<int>(k) / cols;
        Image cell = wire::image_from(d, res);
        if (crop_w > 0 || crop_h > 0) cell = imaging::crop(cell, {0, 0, cw, ch});
        const gint32 layer = add_layer(img, 0, 0, cells[k].first, cell, i * (cw + margin), j * (ch + margin));
        attach_parameters(layer, d["infotext"]);
    }
    set_image_comment(img, comment);
    gimp_image_undo_enable(img);
    if (params[0].data.d_int32 == GIMP_RUN_INTERACTIVE) gimp_display_new(img);
    s->model = model;
    save_settings(*s);
    reply->values[1].type = GIMP_PDB_IMAGE;
    reply->values[1].data.d_image = img;
    reply->count = 2;
}

}  // namespace sdgimp::plugin
