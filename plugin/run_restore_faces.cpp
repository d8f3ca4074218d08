// Restore Faces: A1111's face restoration (CodeFormer or GFPGAN) of the active layer, run in the engine process,
// as a new layer above it (the layer's alpha kept), one undo step.
#include "engine_call.h"
#include "gimp_pixels.h"
#include "procedures.h"
#include "settings.h"
#include "status.h"

namespace sdgimp::plugin {

void run_restore_faces(const GimpParam* params, int n, Reply* reply) {
    try {
        if (n != 6) throw Error(ErrorCode::kInvalidRequest, "plug-in-diffusion-restore-faces takes 6 arguments.");
        const gint32 image = params[1].data.d_image, drawable = params[2].data.d_drawable;
        const std::string restorer = params[3].data.d_string && *params[3].data.d_string ? params[3].data.d_string : "CodeFormer";
        const double visibility = params[4].data.d_float, weight = params[5].data.d_float;
        if (restorer != "CodeFormer" && restorer != "GFPGAN")
            throw Error(ErrorCode::kInvalidRequest, "Unknown face restorer \"" + restorer + "\"; use CodeFormer or GFPGAN.");
        if (!(visibility > 0 && visibility <= 1)) throw Error(ErrorCode::kInvalidRequest, restorer + " visibility must be above 0 and at most 1.");
        if (!(weight >= 0 && weight <= 1)) throw Error(ErrorCode::kInvalidRequest, "CodeFormer weight must be between 0 and 1.");
        if (gimp_image_base_type(image) == GIMP_INDEXED)
            throw Error(ErrorCode::kInvalidRequest, "Indexed images cannot take new layers; convert with Image > Mode > RGB first.");
        if (gimp_item_is_group(drawable))
            throw Error(ErrorCode::kInvalidRequest, "A layer group has no pixels of its own; select a normal layer.");
        const int w = gimp_drawable_width(drawable), h = gimp_drawable_height(drawable);
        const Image src = read_rgba(drawable, {0, 0, w, h});
        wire::Message req, res;
        req.header = {{"op", "restore-faces"}, {"restorer", restorer}, {"visibility", visibility}, {"codeformer_weight", weight},
                      {"model_dirs", face_model_dirs(load_settings())}};
        req.header["image"] = wire::attach_image(&req, src);
        const Status st = call_engine(req, "Restore Faces", &res);
        if (!st.ok) throw Error(st.code, st.message);
        if (res.header.value("faces", 0) == 0)
            throw Error(ErrorCode::kInvalidRequest, "No face was found in the active layer (" + restorer + " restores the faces its detector is at least 97% sure of).");
        const Image out = wire::image_from(res.header["image"], res);
        int ox = 0, oy = 0;
        gimp_drawable_offsets(drawable, &ox, &oy);
        gimp_image_undo_group_start(image);
        const gint32 layer = add_layer(image, 0, -1, std::string(gimp_item_get_name(drawable)) + " " + restorer, out, ox, oy);
        gimp_image_undo_group_end(image);
        gimp_displays_flush();
        reply_image_layer(reply, image, layer);
    } catch (const Error& e) {
        fail(reply, e);
    }
}

}  // namespace sdgimp::plugin
