// Upscale: the active drawable resized (PIL-exact Lanczos or nearest) into a new layer of the
// scaled image, or into a new image.
#include <cmath>

#include "engine_call.h"
#include "gimp_pixels.h"
#include "imaging/resample.h"
#include "procedures.h"
#include "status.h"

namespace sdgimp::plugin {

void run_upscale(const GimpParam* params, int n, Reply* reply) {
    try {
        if (n != 7) throw Error(ErrorCode::kInvalidRequest, "plug-in-diffusion-upscale takes 7 arguments.");
        const gint32 image = params[1].data.d_image, drawable = params[2].data.d_drawable;
        const std::string upscaler = params[3].data.d_string && *params[3].data.d_string ? params[3].data.d_string : "ESRGAN thick";
        const double scale = params[4].data.d_float;
        const bool new_image = params[5].data.d_int32 != 0;
        const int ldsr_steps = params[6].data.d_int32 == 0 ? 100 : params[6].data.d_int32;
        if (ldsr_steps < 1 || ldsr_steps > 1000) throw Error(ErrorCode::kInvalidRequest, "LDSR steps must be between 1 and 1000 (0 for A1111's 100).");
        if (!(scale >= 1.0 && scale <= 8.0)) throw Error(ErrorCode::kInvalidRequest, "Scale must be between 1 and 8.");
        if (gimp_item_is_group(drawable))
            throw Error(ErrorCode::kInvalidRequest, "A layer group has no pixels of its own; select a normal layer to upscale.");
        if (gimp_image_base_type(image) == GIMP_INDEXED)
            throw Error(ErrorCode::kInvalidRequest, "Indexed images cannot be upscaled; convert with Image > Mode > RGB first.");
        const int w = gimp_drawable_width(drawable), h = gimp_drawable_height(drawable);
        const int nw = static_cast<int>(w * scale), nh = static_cast<int>(h * scale);
        const Image src = read_rgba(drawable, {0, 0, w, h});
        Image up;
        if (upscaler == "Lanczos" || upscaler == "Nearest") {
            up = imaging::resize(src, nw, nh, upscaler == "Lanczos" ? imaging::Filter::kLanczos : imaging::Filter::kNearest);
        } else {
            // Learned upscalers run in the engine process (torch stays out of GIMP's).
            wire::Message req, res;
            req.header = {{"op", "upscale"}, {"upscaler", upscaler}, {"scale", scale}, {"ldsr_steps", ldsr_steps}};
            Image rgb{w, h, 3, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
            for (size_t i = 0; i < static_cast<size_t>(w) * h; ++i)
                for (int c = 0; c < 3; ++c) rgb.pixels[i * 3 + c] = src.pixels[i * 4 + c];
            req.header["image"] = wire::attach_image(&req, rgb);
            const Status st = call_engine(req, "Upscale", &res);
            if (!st.ok) throw Error(st.code, st.message);
            const Image out = wire::image_from(res.header["image"], res);
            // The source's alpha, resized alongside.
            Image alpha{w, h, 1, std::vector<uint8_t>(static_cast<size_t>(w) * h)};
            for (size_t i = 0; i < alpha.pixels.size(); ++i) alpha.pixels[i] = src.pixels[i * 4 + 3];
            const Image a2 = imaging::resize(alpha, out.width, out.height, imaging::Filter::kLanczos);
            up = Image{out.width, out.height, 4, std::vector<uint8_t>(static_cast<size_t>(out.width) * out.height * 4)};
            for (size_t i = 0; i < a2.pixels.size(); ++i) {
                for (int c = 0; c < 3; ++c) up.pixels[i * 4 + c] = out.pixels[i * 3 + c];
                up.pixels[i * 4 + 3] = a2.pixels[i];
            }
        }
        int ox = 0, oy = 0;
        gimp_drawable_offsets(drawable, &ox, &oy);
        const std::string name = std::string(gimp_item_get_name(drawable)) + " ×" + std::to_string(scale).substr(0, 3) + " " + upscaler;
        gint32 target = image, layer;
        if (new_image) {
            target = gimp_image_new(nw, nh, gimp_image_base_type(image) == GIMP_GRAY ? GIMP_GRAY : GIMP_RGB);
            gimp_image_undo_disable(target);
            layer = add_layer(target, 0, 0, name, up, 0, 0);
            gimp_image_undo_enable(target);
            if (params[0].data.d_int32 == GIMP_RUN_INTERACTIVE) gimp_display_new(target);
        } else {
            gimp_image_undo_group_start(image);
            gimp_image_scale(image, static_cast<int>(gimp_image_width(image) * scale), static_cast<int>(gimp_image_height(image) * scale));
            layer = add_layer(image, 0, -1, name, up, static_cast<int>(ox * scale), static_cast<int>(oy * scale));
            gimp_image_undo_group_end(image);
        }
        gimp_displays_flush();
        reply_image_layer(reply, target, layer);
    } catch (const Error& e) {
        fail(reply, e);
    }
}

}  // namespace sdgimp::plugin
