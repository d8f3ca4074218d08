#include "grid_image.h"

#include "gimp_pixels.h"

namespace sdgimp::plugin {

void reply_grid_image(const std::vector<std::pair<std::string, wire::Message>>& cells, int cols, int rows, int margin,
                      const std::string& comment, const GimpParam* params, Settings* s, const std::string& model, Reply* reply) {
    // Cells at their images' size (the hires size when Text to Image's Hires. fix is on, as A1111's
    // scripts follow its tab).
    const Image first = wire::image_from(cells.front().second.header["images"][0], cells.front().second);
    const int cw = first.width, ch = first.height;
    const gint32 img = gimp_image_new(cols * cw + (cols - 1) * margin, rows * ch + (rows - 1) * margin, GIMP_RGB);
    gimp_image_undo_disable(img);
    for (size_t k = 0; k < cells.size(); ++k) {
        const auto& res = cells[k].second;
        const auto& d = res.header["images"][0];
        const int i = static_cast<int>(k) % cols, j = static_cast<int>(k) / cols;
        const gint32 layer = add_layer(img, 0, 0, cells[k].first, wire::image_from(d, res), i * (cw + margin), j * (ch + margin));
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
