// Extras Upscale (A1111's Extras tab): the active layer through Upscaler 1, Upscaler 2 blended in at
// its visibility, "Scale by" or "Scale to" (crop to fit), then GFPGAN and CodeFormer at their
// visibilities, as a new image carrying A1111's "Postprocess ..." text. A1111 drops transparency; here the layer's alpha goes the same way
// through Lanczos, so a transparent layer stays so.
#include "engine_call.h"
#include "gimp_pixels.h"
#include "imaging/extras_upscale.h"
#include "procedures.h"
#include "settings.h"
#include "status.h"

namespace sdgimp::plugin {
namespace {

wire::Message extras_message(const imaging::ExtrasUpscaleSettings& s, const Image& img) {
    wire::Message req;
    req.header = {{"op", "extras-upscale"}, {"upscaler_1", s.upscaler_1}, {"upscaler_2", s.upscaler_2},
                  {"upscaler_2_visibility", s.upscaler_2_visibility}, {"scale_to", s.scale_to}, {"upscale_by", s.upscale_by},
                  {"max_side_length", s.max_side_length}, {"to_width", s.to_width}, {"to_height", s.to_height}, {"crop", s.crop},
                  {"ldsr_steps", s.ldsr_steps}, {"gfpgan_visibility", s.gfpgan_visibility},
                  {"codeformer_visibility", s.codeformer_visibility}, {"codeformer_weight", s.codeformer_weight},
                  {"model_dirs", s.face_model_dirs}};
    req.header["image"] = wire::attach_image(&req, img);
    return req;
}

}  // namespace

void run_extras_upscale(const GimpParam* params, int n, Reply* reply) {
    try {
        if (n != 16) throw Error(ErrorCode::kInvalidRequest, "plug-in-diffusion-extras-upscale takes 16 arguments.");
        auto str = [&](int k) { return std::string(params[k].data.d_string ? params[k].data.d_string : ""); };
        const gint32 image = params[1].data.d_image, drawable = params[2].data.d_drawable;
        imaging::ExtrasUpscaleSettings s;
        s.upscaler_1 = str(3).empty() ? "ESRGAN thick" : str(3);
        s.upscaler_2 = str(4).empty() ? "None" : str(4);
        s.upscaler_2_visibility = params[5].data.d_float;
        const std::string mode = str(6);
        if (mode != "Scale by" && mode != "Scale to")
            throw Error(ErrorCode::kInvalidRequest, "The resize mode is \"Scale by\" or \"Scale to\", not \"" + mode + "\".");
        s.scale_to = mode == "Scale to";
        s.upscale_by = params[7].data.d_float;
        s.max_side_length = params[8].data.d_int32;
        s.to_width = params[9].data.d_int32;
        s.to_height = params[10].data.d_int32;
        s.crop = params[11].data.d_int32 != 0;
        s.ldsr_steps = params[12].data.d_int32 == 0 ? 100 : params[12].data.d_int32;
        s.gfpgan_visibility = params[13].data.d_float;
        s.codeformer_visibility = params[14].data.d_float;
        s.codeformer_weight = params[15].data.d_float;
        s.face_model_dirs = face_model_dirs(load_settings());
        imaging::validate_extras_upscale(s);
        if (gimp_item_is_group(drawable))
            throw Error(ErrorCode::kInvalidRequest, "A layer group has no pixels of its own; select a normal layer to upscale.");
        if (gimp_image_base_type(image) == GIMP_INDEXED)
            throw Error(ErrorCode::kInvalidRequest, "Indexed images cannot be upscaled; convert with Image > Mode > RGB first.");
        const int w = gimp_drawable_width(drawable), h = gimp_drawable_height(drawable);
        const Image src = read_rgba(drawable, {0, 0, w, h});
        Image rgb{w, h, 3, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)}, alpha{w, h, 3, rgb.pixels};
        bool opaque = true;
        for (size_t i = 0; i < static_cast<size_t>(w) * h; ++i) {
            for (int c = 0; c < 3; ++c) {
                rgb.pixels[i * 3 + c] = src.pixels[i * 4 + c];
                alpha.pixels[i * 3 + c] = src.pixels[i * 4 + 3];
            }
            opaque = opaque && src.pixels[i * 4 + 3] == 255;
        }
        wire::Message res;
        Status st = call_engine(extras_message(s, rgb), "Extras Upscale", &res);
        if (!st.ok) throw Error(st.code, st.message);
        const Image out = wire::image_from(res.header["image"], res);
        const std::string info = res.header.value("info", std::string());
        Image layer_px = out;
        if (!opaque && s.upscaler_1 != "None") {
            // The alpha through the same sizes and crop, by Lanczos alone.
            imaging::ExtrasUpscaleSettings as = s;
            as.upscaler_1 = "Lanczos";
            as.gfpgan_visibility = as.codeformer_visibility = 0;  // faces are not restored in the alpha
            as.upscaler_2 = "None";
            wire::Message ares;
            st = call_engine(extras_message(as, alpha), "Extras Upscale (alpha)", &ares);
            if (!st.ok) throw Error(st.code, st.message);
            const Image a = wire::image_from(ares.header["image"], ares);
            layer_px = Image{out.width, out.height, 4, std::vector<uint8_t>(static_cast<size_t>(out.width) * out.height * 4)};
            for (size_t i = 0; i < static_cast<size_t>(out.width) * out.height; ++i) {
                for (int c = 0; c < 3; ++c) layer_px.pixels[i * 4 + c] = out.pixels[i * 3 + c];
                layer_px.pixels[i * 4 + 3] = a.pixels[i * 3];
            }
        }
        const gint32 target = gimp_image_new(out.width, out.height, gimp_image_base_type(image) == GIMP_GRAY ? GIMP_GRAY : GIMP_RGB);
        gimp_image_undo_disable(target);
        const std::string name = std::string(gimp_item_get_name(drawable)) + " " + s.upscaler_1;
        const gint32 layer = add_layer(target, 0, 0, name, layer_px, 0, 0);
        if (!info.empty()) {
            gimp_item_attach_parasite(layer, gimp_parasite_new("gimp-diffusion-postprocessing", GIMP_PARASITE_PERSISTENT,
                                                               static_cast<guint32>(info.size() + 1), info.c_str()));
            set_image_comment(target, info);
        }
        gimp_image_undo_enable(target);
        if (params[0].data.d_int32 == GIMP_RUN_INTERACTIVE) gimp_display_new(target);
        gimp_displays_flush();
        reply_image_layer(reply, target, layer);
    } catch (const Error& e) {
        fail(reply, e);
    }
}

}  // namespace sdgimp::plugin
