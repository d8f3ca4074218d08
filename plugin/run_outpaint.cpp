// Poor man's outpainting (A1111's img2img script): the active layer on a larger canvas, the new
// border inpainted tile by tile, into a new image.
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

}  // namespace

void run_outpaint(const GimpParam* params, int n, Reply* reply) {
    try {
        if (n != 21) throw Error(ErrorCode::kInvalidRequest, "plug-in-diffusion-outpaint takes 21 arguments.");
        auto str = [&](int k) { return std::string(params[k].data.d_string ? params[k].data.d_string : ""); };
        const gint32 image = params[1].data.d_image, drawable = params[2].data.d_drawable;
        if (gimp_item_is_group(drawable))
            throw Error(ErrorCode::kInvalidRequest, "A layer group has no pixels of its own; select a normal layer to outpaint.");
        if (gimp_image_base_type(image) == GIMP_INDEXED)
            throw Error(ErrorCode::kInvalidRequest, "Indexed images cannot be outpainted; convert with Image > Mode > RGB first.");
        Settings s = load_settings();
        GenerateRequest r = generation_args(params, s.last);
        r.denoising_strength = params[10].data.d_float;
        imaging::OutpaintSettings os;
        os.pixels = params[11].data.d_int32;
        os.mask_blur = params[12].data.d_int32;
        r.masked_content = masked_content_index(str(13));
        os.left = params[14].data.d_int32 != 0;
        os.right = params[15].data.d_int32 != 0;
        os.up = params[16].data.d_int32 != 0;
        os.down = params[17].data.d_int32 != 0;
        r.width = params[18].data.d_int32;
        r.height = params[19].data.d_int32;
        r.batch_size = r.batch_count = 1;
        validate(r);
        os.tile_w = r.width;
        os.tile_h = r.height;
        imaging::validate_outpaint(os);
        const std::string model = resolve_model(str(20), s);
        const int w = gimp_drawable_width(drawable), h = gimp_drawable_height(drawable);
        const Image src = read_rgba(drawable, {0, 0, w, h});
        Image rgb{w, h, 3, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
        for (size_t i = 0; i < static_cast<size_t>(w) * h; ++i)
            for (int c = 0; c < 3; ++c) rgb.pixels[i * 3 + c] = src.pixels[i * 4 + c];
        wire::Message req, res;
        req.header = {{"op", "outpaint"}, {"request", wire::request_to_json(r)}, {"pixels", os.pixels},
                      {"outpaint_mask_blur", os.mask_blur}, {"directions", imaging::outpaint_directions(os)},
                      {"model", model_header(s, model)}};
        req.header["image"] = wire::attach_image(&req, rgb);
        const Status st = call_engine(req, "Poor man's outpainting", &res);
        if (!st.ok) throw Error(st.code, st.message);
        const auto& d = res.header["images"][0];
        const Image out = wire::image_from(d, res);
        const gint32 img = gimp_image_new(out.width, out.height, gimp_image_base_type(image) == GIMP_GRAY ? GIMP_GRAY : GIMP_RGB);
        gimp_image_undo_disable(img);
        const gint32 layer = add_layer(img, 0, 0, std::string(gimp_item_get_name(drawable)) + " (outpainted)", out, 0, 0);
        attach_parameters(layer, d["infotext"]);
        set_image_comment(img, d["infotext"]);
        gimp_image_undo_enable(img);
        if (params[0].data.d_int32 == GIMP_RUN_INTERACTIVE) gimp_display_new(img);
        s.model = model;
        save_settings(s);
        reply->values[1].type = GIMP_PDB_IMAGE;
        reply->values[1].data.d_image = img;
        reply->values[2].type = GIMP_PDB_LAYER;
        reply->values[2].data.d_layer = layer;
        reply->count = 3;
    } catch (const Error& e) {
        fail(reply, e);
    }
}

}  // namespace sdgimp::plugin
