// SD Upscale: the active layer upscaled, then re-detailed tile by tile with img2img (A1111's
// script), into a new image.
#include "engine_call.h"
#include "gimp_pixels.h"
#include "procedures.h"
#include "settings.h"
#include "status.h"

namespace sdgimp::plugin {

void run_sd_upscale(const GimpParam* params, int n, Reply* reply) {
    try {
        if (n != 16) throw Error(ErrorCode::kInvalidRequest, "plug-in-diffusion-sd-upscale takes 16 arguments.");
        auto str = [&](int k) { return std::string(params[k].data.d_string ? params[k].data.d_string : ""); };
        const gint32 image = params[1].data.d_image, drawable = params[2].data.d_drawable;
        if (gimp_item_is_group(drawable))
            throw Error(ErrorCode::kInvalidRequest, "A layer group has no pixels of its own; select a normal layer to upscale.");
        if (gimp_image_base_type(image) == GIMP_INDEXED)
            throw Error(ErrorCode::kInvalidRequest, "Indexed images cannot be upscaled; convert with Image > Mode > RGB first.");
        Settings s = load_settings();
        GenerateRequest r = generation_args(params, s.last);
        r.denoising_strength = params[10].data.d_float;
        const std::string upscaler = str(11).empty() ? "ESRGAN thick" : str(11);
        const double scale = params[12].data.d_float;
        r.width = r.height = params[13].data.d_int32;
        const int overlap = params[14].data.d_int32;
        r.batch_size = r.batch_count = 1;
        r.subseed_strength = 0;
        validate(r);
        if (!(scale >= 1.0 && scale <= 8.0)) throw Error(ErrorCode::kInvalidRequest, "Scale must be between 1 and 8.");
        const std::string model = resolve_model(str(15), s);
        const int w = gimp_drawable_width(drawable), h = gimp_drawable_height(drawable);
        // RGBA: the engine flattens the transparency onto the background colour, as A1111's script does.
        const Image src = read_rgba(drawable, {0, 0, w, h});
        wire::Message req, res;
        req.header = {{"op", "sd-upscale"}, {"request", wire::request_to_json(r)}, {"upscaler", upscaler}, {"scale", scale},
                      {"overlap", overlap}, {"model", model_header(s, model)}};
        req.header["image"] = wire::attach_image(&req, src);
        const Status st = call_engine(req, "SD Upscale", &res);
        if (!st.ok) throw Error(st.code, st.message);
        const auto& d = res.header["images"][0];
        const Image out = wire::image_from(d, res);
        const gint32 img = gimp_image_new(out.width, out.height, gimp_image_base_type(image) == GIMP_GRAY ? GIMP_GRAY : GIMP_RGB);
        gimp_image_undo_disable(img);
        const gint32 layer = add_layer(img, 0, 0, std::string(gimp_item_get_name(drawable)) + " (SD upscale)", out, 0, 0);
        attach_parameters(layer, d["infotext"]);
        set_image_comment(img, d["infotext"]);
        gimp_image_undo_enable(img);
        if (params[0].data.d_int32 == GIMP_RUN_INTERACTIVE) gimp_display_new(img);
        s.model = model;
        save_settings(s);
        reply_image_layer(reply, img, layer);
    } catch (const Error& e) {
        fail(reply, e);
    }
}

}  // namespace sdgimp::plugin
