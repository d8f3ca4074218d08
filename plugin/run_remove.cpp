// Remove Object: the selection's content rebuilt from its surroundings (classical PatchMatch fill
// here, or LaMa in the engine process when the user's big-lama.pt is there) into a new layer masked
// by the selection, so the user can paint the removal in or out.
#include <algorithm>
#include <unistd.h>

#include "engine_call.h"
#include "imaging/removal_box.h"

#include "gimp_pixels.h"
#include "imaging/patchmatch_fill.h"
#include "procedures.h"
#include "status.h"

namespace sdgimp::plugin {

void run_remove_object(const GimpParam* params, int n, Reply* reply) {
    try {
        if (n != 4) throw Error(ErrorCode::kInvalidRequest, "plug-in-diffusion-remove-object takes 4 arguments.");
        const gint32 image = params[1].data.d_image, drawable = params[2].data.d_drawable;
        std::string method = params[3].data.d_string && *params[3].data.d_string ? params[3].data.d_string : "Auto";
        if (method != "PatchMatch" && method != "LaMa" && method != "Auto")
            throw Error(ErrorCode::kInvalidRequest, "Unknown removal method \"" + method + "\"; use Auto, PatchMatch or LaMa.");
        const std::string lama = imaging::default_lama_path();
        if (method == "Auto") method = ::access(lama.c_str(), R_OK) == 0 ? "LaMa" : "PatchMatch";
        if (gimp_image_base_type(image) == GIMP_INDEXED)
            throw Error(ErrorCode::kInvalidRequest, "Indexed images cannot take new layers; convert with Image > Mode > RGB first.");
        if (gimp_item_is_group(drawable))
            throw Error(ErrorCode::kInvalidRequest, "A layer group has no pixels of its own; select a normal layer.");
        gboolean non_empty = FALSE;
        gint x1, y1, x2, y2;
        gimp_selection_bounds(image, &non_empty, &x1, &y1, &x2, &y2);
        if (!non_empty) throw Error(ErrorCode::kInvalidRequest, "Select the object to remove first.");
        int ox = 0, oy = 0;
        gimp_drawable_offsets(drawable, &ox, &oy);
        const int dw = gimp_drawable_width(drawable), dh = gimp_drawable_height(drawable);
        // PatchMatch works on the selection plus a margin of surroundings to copy from; LaMa gets the
        // whole layer and crops for itself as IOPaint does.
        const int margin = std::max({48, x2 - x1, y2 - y1});
        Rect r;
        r.x = std::max(0, x1 - ox - margin);
        r.y = std::max(0, y1 - oy - margin);
        const int rx2 = std::min(dw, x2 - ox + margin), ry2 = std::min(dh, y2 - oy + margin);
        r.w = rx2 - r.x;
        r.h = ry2 - r.y;
        if (method == "LaMa" && r.w > 0 && r.h > 0) r = {0, 0, dw, dh};
        if (r.w < 1 || r.h < 1) throw Error(ErrorCode::kInvalidRequest, "The selection lies outside the active layer; select part of the layer.");
        const Image rgba = read_rgba(drawable, r);
        const Image sel = read_selection(image, {ox + r.x, oy + r.y, r.w, r.h});
        Image rgb{r.w, r.h, 3, std::vector<uint8_t>(static_cast<size_t>(r.w) * r.h * 3)};
        for (size_t i = 0; i < static_cast<size_t>(r.w) * r.h; ++i)
            for (int c = 0; c < 3; ++c) rgb.pixels[i * 3 + c] = rgba.pixels[i * 4 + c];
        // Soft selection edges: fill everything the selection touches; the layer mask blends it.
        Image hole = sel;
        for (auto& v : hole.pixels) v = v > 0 ? 255 : 0;
        Image filled;
        if (method == "LaMa") {
            wire::Message req, res;
            req.header = {{"op", "remove"}, {"method", "LaMa"}, {"lama", lama}};
            req.header["image"] = wire::attach_image(&req, rgb);
            req.header["mask"] = wire::attach_image(&req, hole);
            const Status st = call_engine(req, "Remove Object (LaMa)", &res);
            if (!st.ok) throw Error(st.code, st.message);
            filled = wire::image_from(res.header["image"], res);
        } else {
            gimp_progress_init("Remove Object");
            imaging::FillOptions opt;
            opt.progress = [](double f) { gimp_progress_update(f); return true; };
            filled = imaging::patchmatch_fill(rgb, hole, opt);
            gimp_progress_end();
        }
        Image out{r.w, r.h, 4, std::vector<uint8_t>(rgba.pixels.size())};
        for (size_t i = 0; i < static_cast<size_t>(r.w) * r.h; ++i) {
            for (int c = 0; c < 3; ++c) out.pixels[i * 4 + c] = filled.pixels[i * 3 + c];
            out.pixels[i * 4 + 3] = rgba.pixels[i * 4 + 3];
        }
        gimp_image_undo_group_start(image);
        const gint32 layer = add_layer(image, 0, -1, "Object removed (" + method + ")", out, ox + r.x, oy + r.y);
        add_mask(layer, sel);
        gimp_image_undo_group_end(image);
        gimp_displays_flush();
        reply->values[1].type = GIMP_PDB_LAYER;
        reply->values[1].data.d_layer = layer;
        reply->count = 2;
    } catch (const Error& e) {
        fail(reply, e);
    }
}

}  // namespace sdgimp::plugin
