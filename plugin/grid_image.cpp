#include "grid_image.h"

#include <algorithm>

#include "gimp_pixels.h"
#include "imaging/inpaint_prep.h"

namespace sdgimp::plugin {

void reply_grid_image(const std::vector<std::pair<std::string, wire::Message>>& cells, int cols, int rows, int margin,
                      const std::string& comment, const GimpParam* params, Settings* s, const std::string& model, Reply* reply,
                      int crop_w, int crop_h, const std::vector<std::string>& groups) {
    // Cells at their images' size (the hires size when Text to Image's Hires. fix is on, as A1111's
    // scripts follow its tab).
    const Image first = wire::image_from(cells.front().second.header["images"][0], cells.front().second);
    const int cw = crop_w > 0 ? std::min(crop_w, first.width) : first.width, ch = crop_h > 0 ? std::min(crop_h, first.height) : first.height;
    const int grids = groups.empty() ? 1 : static_cast<int>(groups.size());
    const int grid_w = cols * cw + (cols - 1) * margin;
    const gint32 img = gimp_image_new(grids * grid_w + (grids - 1) * margin, rows * ch + (rows - 1) * margin, GIMP_RGB);
    gimp_image_undo_disable(img);
    // Groups go in from the last, so the first Z value's grid ends up on top of the layer list.
    for (int g = grids - 1; g >= 0; --g) {
        gint32 parent = 0;
        if (!groups.empty()) {
            parent = gimp_layer_group_new(img);
            gimp_item_set_name(parent, groups[static_cast<size_t>(g)].c_str());
            gimp_image_insert_layer(img, parent, 0, 0);
        }
        const size_t per_grid = static_cast<size_t>(cols) * rows;
        for (size_t k = static_cast<size_t>(g) * per_grid; k < std::min(cells.size(), static_cast<size_t>(g + 1) * per_grid); ++k) {
            const auto& res = cells[k].second;
            const auto& d = res.header["images"][0];
            const int i = static_cast<int>(k % per_grid) % cols, j = static_cast<int>(k % per_grid) / cols;
            Image cell = wire::image_from(d, res);
            if (crop_w > 0 || crop_h > 0) cell = imaging::crop(cell, {0, 0, cw, ch});
            const gint32 layer = add_layer(img, parent, 0, cells[k].first, cell, g * (grid_w + margin) + i * (cw + margin), j * (ch + margin));
            attach_parameters(layer, d["infotext"]);
        }
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
