// A1111's two outpainting scripts from its img2img tab: Poor man's outpainting (the border of a
// larger canvas inpainted tile by tile) and Outpainting mk2 (side by side over matched noise); the
// active layer in, a new image out.
#include "engine_call.h"
#include "gimp_pixels.h"
#include "imaging/outpaint.h"
#include "procedures.h"
#include "settings.h"
#include "status.h"

namespace sdgimp::plugin {
namespace {

int masked_content_index(const std::string& name) {
    static const char* kNames[] = {"fill", "original", "latent noise", "latent nothing"};
    for (int i = 0; i < 4; ++i)
        if (name == kNames[i] || name == std::to_string(i)) return i;
    throw Error(ErrorCode::kInvalidRequest, "Unknown masked content \"" + name + "\"; use fill, original, latent noise or latent nothing.");
}

// The left, right, up, down arguments from `first` on.
imaging::OutpaintSides sides_arg(const GimpParam* params, int first) {
    imaging::OutpaintSides s;
    s.left = params[first].data.d_int32 != 0;
    s.right = params[first + 1].data.d_int32 != 0;
    s.up = params[first + 2].data.d_int32 != 0;
    s.down = params[first + 3].data.d_int32 != 0;
    return s;
}

// The active layer's RGB pixels (its alpha dropped, as A1111 takes an RGB image).
Image layer_rgb(gint32 image, gint32 drawable) {
    if (gimp_item_is_group(drawable))
        throw Error(ErrorCode::kInvalidRequest, "A layer group has no pixels of its own; select a normal layer to outpaint.");
    if (gimp_image_base_type(image) == GIMP_INDEXED)
        throw Error(ErrorCode::kInvalidRequest, "Indexed images cannot be outpainted; convert with Image > Mode > RGB first.");
    const int w = gimp_drawable_width(drawable), h = gimp_drawable_height(drawable);
    const Image src = read_rgba(drawable, {0, 0, w, h});
    Image rgb{w, h, 3, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
    for (size_t i = 0; i < static_cast<size_t>(w) * h; ++i)
        for (int c = 0; c < 3; ++c) rgb.pixels[i * 3 + c] = src.pixels[i * 4 + c];
    return rgb;
}

// The engine's images as layers of a new image (the first on top), each with its text.
void new_image_of(gint32 image, gint32 drawable, const wire::Message& res, int run_mode, Reply* reply) {
    const auto& list = res.header["images"];
    const Image first = wire::image_from(list[0], res);
    const gint32 img = gimp_image_new(first.width, first.height, gimp_image_base_type(image) == GIMP_GRAY ? GIMP_GRAY : GIMP_RGB);
    gimp_image_undo_disable(img);
    gint32 top = -1;
    for (size_t i = list.size(); i-- > 0;) {
        const auto& d = list[i];
        std::string name = std::string(gimp_item_get_name(drawable)) + " (outpainted)";
        if (list.size() > 1) name += " #" + std::to_string(i + 1);
        top = add_layer(img, 0, 0, name, wire::image_from(d, res), 0, 0);
        attach_parameters(top, d["infotext"]);
    }
    set_image_comment(img, list[0]["infotext"]);
    gimp_image_undo_enable(img);
    if (run_mode == GIMP_RUN_INTERACTIVE) gimp_display_new(img);
    reply_image_layer(reply, img, top);
}

}  // namespace

void run_outpaint(const GimpParam* params, int n, Reply* reply) {
    try {
        if (n != 21) throw Error(ErrorCode::kInvalidRequest, "plug-in-diffusion-outpaint takes 21 arguments.");
        auto str = [&](int k) { return std::string(params[k].data.d_string ? params[k].data.d_string : ""); };
        const gint32 image = params[1].data.d_image, drawable = params[2].data.d_drawable;
        Settings s = load_settings();
        GenerateRequest r = generation_args(params, s.last);
        r.denoising_strength = params[10].data.d_float;
        imaging::OutpaintSettings os;
        os.pixels = params[11].data.d_int32;
        os.mask_blur = params[12].data.d_int32;
        r.masked_content = masked_content_index(str(13));
        os.sides = sides_arg(params, 14);
        r.width = params[18].data.d_int32;
        r.height = params[19].data.d_int32;
        r.batch_size = r.batch_count = 1;
        validate(r);
        os.tile_w = r.width;
        os.tile_h = r.height;
        imaging::validate_outpaint(os);
        const std::string model = resolve_model(str(20), s);
        const Image rgb = layer_rgb(image, drawable);
        wire::Message req, res;
        req.header = {{"op", "outpaint"}, {"request", wire::request_to_json(r)}, {"pixels", os.pixels},
                      {"outpaint_mask_blur", os.mask_blur}, {"directions", imaging::outpaint_directions(os.sides)},
                      {"model", model_header(s, model)}};
        req.header["image"] = wire::attach_image(&req, rgb);
        const Status st = call_engine(req, "Poor man's outpainting", &res);
        if (!st.ok) throw Error(st.code, st.message);
        new_image_of(image, drawable, res, params[0].data.d_int32, reply);
        s.model = model;
        save_settings(s);
    } catch (const Error& e) {
        fail(reply, e);
    }
}

void run_outpaint_mk2(const GimpParam* params, int n, Reply* reply) {
    try {
        if (n != 24) throw Error(ErrorCode::kInvalidRequest, "plug-in-diffusion-outpaint-mk2 takes 24 arguments.");
        auto str = [&](int k) { return std::string(params[k].data.d_string ? params[k].data.d_string : ""); };
        const gint32 image = params[1].data.d_image, drawable = params[2].data.d_drawable;
        Settings s = load_settings();
        GenerateRequest r = generation_args(params, s.last);
        r.denoising_strength = params[10].data.d_float;
        imaging::OutpaintMk2Settings os;
        os.pixels = params[11].data.d_int32;
        os.mask_blur = params[12].data.d_int32;
        os.sides = sides_arg(params, 13);
        os.noise_q = params[17].data.d_float;
        os.color_variation = params[18].data.d_float;
        r.width = params[19].data.d_int32;
        r.height = params[20].data.d_int32;
        r.batch_size = params[21].data.d_int32;
        r.batch_count = params[22].data.d_int32;
        r.masked_content = 1;
        validate(r);
        imaging::validate_outpaint_mk2(os);
        const std::string model = resolve_model(str(23), s);
        const Image rgb = layer_rgb(image, drawable);
        // Every side's strip checked before the engine starts (one sentence for a size A1111 cannot run).
        (void)imaging::plan_outpaint_mk2(rgb.width, rgb.height, os, r.width, r.height);
        wire::Message req, res;
        req.header = {{"op", "outpaint-mk2"}, {"request", wire::request_to_json(r)}, {"pixels", os.pixels},
                      {"outpaint_mask_blur", os.mask_blur}, {"directions", imaging::outpaint_directions(os.sides)},
                      {"noise_q", os.noise_q}, {"color_variation", os.color_variation}, {"model", model_header(s, model)}};
        req.header["image"] = wire::attach_image(&req, rgb);
        const Status st = call_engine(req, "Outpainting mk2", &res);
        if (!st.ok) throw Error(st.code, st.message);
        new_image_of(image, drawable, res, params[0].data.d_int32, reply);
        s.model = model;
        save_settings(s);
    } catch (const Error& e) {
        fail(reply, e);
    }
}

}  // namespace sdgimp::plugin
