// Text to Image and Image to Image: read the drawable, ask the engine, write layers in one undo step.
#include <algorithm>

#include "engine_call.h"
#include "gimp_pixels.h"
#include "procedures.h"
#include "settings.h"
#include "status.h"

namespace sdgimp::plugin {
namespace {

struct Args {
    const GimpParam* p;
    int n;
    int i32(int k) const { return p[k].data.d_int32; }
    double f(int k) const { return p[k].data.d_float; }
    std::string s(int k) const { return p[k].data.d_string ? p[k].data.d_string : ""; }
};

void fail(Reply* r, GimpPDBStatusType st, const std::string& msg) {
    r->status = st;
    r->error = msg;
}

// RGB copy padded to multiples of 8 (at least 64) by repeating the edge pixels.
Image pad_rgb(const Image& rgba, int w8, int h8) {
    Image out{w8, h8, 3, std::vector<uint8_t>(static_cast<size_t>(w8) * h8 * 3)};
    for (int y = 0; y < h8; ++y)
        for (int x = 0; x < w8; ++x) {
            const int sx = std::min(x, rgba.width - 1), sy = std::min(y, rgba.height - 1);
            for (int c = 0; c < 3; ++c)
                out.pixels[(static_cast<size_t>(y) * w8 + x) * 3 + c] = rgba.pixels[(static_cast<size_t>(sy) * rgba.width + sx) * 4 + c];
        }
    return out;
}

// The engine's RGB result cut back to the source size, with the source's alpha.
Image crop_with_alpha(const Image& rgb, const Image& src_rgba) {
    Image out{src_rgba.width, src_rgba.height, 4, std::vector<uint8_t>(src_rgba.pixels.size())};
    for (int y = 0; y < out.height; ++y)
        for (int x = 0; x < out.width; ++x) {
            const size_t o = (static_cast<size_t>(y) * out.width + x) * 4;
            const size_t i = (static_cast<size_t>(y) * rgb.width + x) * 3;
            out.pixels[o] = rgb.pixels[i];
            out.pixels[o + 1] = rgb.pixels[i + 1];
            out.pixels[o + 2] = rgb.pixels[i + 2];
            out.pixels[o + 3] = src_rgba.pixels[o + 3];
        }
    return out;
}

GimpPDBStatusType status_for(ErrorCode c) {
    return c == ErrorCode::kInvalidRequest ? GIMP_PDB_CALLING_ERROR : GIMP_PDB_EXECUTION_ERROR;
}

wire::Message request_message(const char* op, const GenerateRequest& r, const std::string& model, const Settings& s) {
    wire::Message m;
    m.header = {{"op", op}, {"request", wire::request_to_json(r)}, {"model", {{"path", model}, {"vocab", s.vocab}}}};
    return m;
}

// New results go at the top level, just above the outermost group holding the active layer.
int top_level_position(gint32 image) {
    gint32 item = gimp_image_get_active_layer(image);
    if (item <= 0) return 0;
    while (gimp_item_get_parent(item) > 0) item = gimp_item_get_parent(item);
    return gimp_image_get_item_position(image, item);
}

// The overlay mask at the padded processing size (it is the processing size in whole-picture mode
// and the image size when only masked; both cover the padded drawable).
Image imaging_gray(const Image& m, int w8, int h8) {
    if (m.width == w8 && m.height == h8) return m;
    Image out{w8, h8, 1, std::vector<uint8_t>(static_cast<size_t>(w8) * h8, 0)};
    for (int y = 0; y < std::min(h8, m.height); ++y)
        std::copy_n(&m.pixels[static_cast<size_t>(y) * m.width], std::min(w8, m.width), &out.pixels[static_cast<size_t>(y) * w8]);
    return out;
}

void check_image(gint32 image) {
    if (gimp_image_base_type(image) == GIMP_INDEXED)
        throw Error(ErrorCode::kInvalidRequest, "Indexed images cannot take generated layers; convert with Image > Mode > RGB first.");
}

}  // namespace

void run_txt2img(const GimpParam* params, int n, Reply* reply) {
    const Args a{params, n};
    const GimpRunMode mode = static_cast<GimpRunMode>(a.i32(0));
    const gint32 image = a.i32(1);
    Settings s = load_settings();
    GenerateRequest r = s.last;
    std::string model_arg;
    if (mode == GIMP_RUN_NONINTERACTIVE) {
        if (n != 17) return fail(reply, GIMP_PDB_CALLING_ERROR, "plug-in-diffusion-txt2img takes 17 arguments.");
        r.prompt = a.s(3);
        r.negative_prompt = a.s(4);
        r.steps = a.i32(5);
        r.sampler = a.s(6);
        r.schedule = a.s(7);
        r.cfg_scale = a.f(8);
        r.seed = static_cast<int64_t>(a.f(9));
        r.width = a.i32(10);
        r.height = a.i32(11);
        r.batch_size = a.i32(12);
        r.batch_count = a.i32(13);
        r.subseed = static_cast<int64_t>(a.f(14));
        r.subseed_strength = a.f(15);
        model_arg = a.s(16);
    }
    try {
        check_image(image);
        validate(r);
        const std::string model = resolve_model(model_arg, s);
        wire::Message res;
        const Status st = call_engine(request_message("txt2img", r, model, s), "Text to Image", &res);
        if (!st.ok) return fail(reply, status_for(st.code), st.message);

        const auto& images = res.header["images"];
        gimp_image_undo_group_start(image);
        gint32 parent = 0, first = -1;
        const int position = top_level_position(image);
        if (images.size() > 1) {
            parent = gimp_layer_group_new(image);
            gimp_item_set_name(parent, (layer_name(r.prompt, images[0]["seed"].get<long long>()) + " ×" +
                                        std::to_string(images.size())).c_str());
            gimp_image_insert_layer(image, parent, 0, position);
            first = parent;
        }
        for (size_t i = 0; i < images.size(); ++i) {
            const Image img = wire::image_from(images[i], res);
            const std::string info = images[i]["infotext"];
            const gint32 layer = add_layer(image, parent, parent ? static_cast<int>(i) : position,
                                           layer_name(r.prompt, images[i]["seed"].get<long long>()), img, 0, 0);
            attach_parameters(layer, info);
            if (i == 0) {
                set_image_comment(image, info);
                if (!parent) first = layer;
                else attach_parameters(parent, info);
            }
        }
        gimp_image_set_active_layer(image, first);
        gimp_image_undo_group_end(image);
        gimp_displays_flush();
        s.last = r;
        s.model = model;
        save_settings(s);
        reply->values[1].type = GIMP_PDB_LAYER;
        reply->values[1].data.d_layer = first;
        reply->count = 2;
    } catch (const Error& e) {
        fail(reply, status_for(e.code()), e.what());
    }
}

void run_img2img(const GimpParam* params, int n, Reply* reply) {
    const Args a{params, n};
    const GimpRunMode mode = static_cast<GimpRunMode>(a.i32(0));
    const gint32 image = a.i32(1), drawable = a.i32(2);
    Settings s = load_settings();
    GenerateRequest r = s.last;
    std::string model_arg;
    if (mode == GIMP_RUN_NONINTERACTIVE) {
        if (n != 13) return fail(reply, GIMP_PDB_CALLING_ERROR, "plug-in-diffusion-img2img takes 13 arguments.");
        r.prompt = a.s(3);
        r.negative_prompt = a.s(4);
        r.steps = a.i32(5);
        r.sampler = a.s(6);
        r.schedule = a.s(7);
        r.cfg_scale = a.f(8);
        r.seed = static_cast<int64_t>(a.f(9));
        r.denoising_strength = a.f(10);
        r.batch_size = a.i32(11);
        r.batch_count = 1;
        r.subseed_strength = 0;
        model_arg = a.s(12);
    }
    try {
        check_image(image);
        if (gimp_item_is_group(drawable))
            throw Error(ErrorCode::kInvalidRequest, "A layer group has no pixels of its own; select a normal layer for Image to Image.");
        Rect rect;
        if (!gimp_drawable_mask_intersect(drawable, &rect.x, &rect.y, &rect.w, &rect.h) || rect.w < 1 || rect.h < 1)
            throw Error(ErrorCode::kInvalidRequest, "The selection lies outside the active layer; select part of the layer or use Select > None.");
        int ox = 0, oy = 0;
        gimp_drawable_offsets(drawable, &ox, &oy);
        const Image src = read_rgba(drawable, rect);
        const int w8 = std::max(64, (rect.w + 7) / 8 * 8), h8 = std::max(64, (rect.h + 7) / 8 * 8);
        r.width = w8;
        r.height = h8;
        validate(r);
        const std::string model = resolve_model(model_arg, s);
        wire::Message req = request_message("img2img", r, model, s);
        req.header["image"] = wire::attach_image(&req, pad_rgb(src, w8, h8));
        wire::Message res;
        const Status st = call_engine(req, "Image to Image", &res);
        if (!st.ok) return fail(reply, status_for(st.code), st.message);

        const bool masked = !gimp_selection_is_empty(image);
        const Image mask = masked ? read_selection(image, {ox + rect.x, oy + rect.y, rect.w, rect.h}) : Image{};
        gimp_image_undo_group_start(image);
        gint32 top = -1;
        const auto& images = res.header["images"];
        for (size_t i = 0; i < images.size(); ++i) {
            const Image out = crop_with_alpha(wire::image_from(images[i], res), src);
            const gint32 layer = add_layer(image, 0, -1, layer_name(r.prompt, images[i]["seed"].get<long long>()), out,
                                           ox + rect.x, oy + rect.y);
            attach_parameters(layer, images[i]["infotext"]);
            if (masked) add_mask(layer, mask);
            top = layer;
        }
        gimp_image_undo_group_end(image);
        gimp_displays_flush();
        s.last = r;
        s.model = model;
        save_settings(s);
        reply->values[1].type = GIMP_PDB_LAYER;
        reply->values[1].data.d_layer = top;
        reply->count = 2;
    } catch (const Error& e) {
        fail(reply, status_for(e.code()), e.what());
    }
}

namespace {

Image pad_gray(const Image& g, int w8, int h8) {
    Image out{w8, h8, 1, std::vector<uint8_t>(static_cast<size_t>(w8) * h8, 0)};
    for (int y = 0; y < g.height; ++y)
        std::copy_n(&g.pixels[static_cast<size_t>(y) * g.width], g.width, &out.pixels[static_cast<size_t>(y) * w8]);
    return out;
}

Image crop_box(const Image& img, int x, int y, int w, int h) {
    Image out{w, h, img.channels, std::vector<uint8_t>(static_cast<size_t>(w) * h * img.channels)};
    for (int yy = 0; yy < h; ++yy)
        std::copy_n(&img.pixels[(static_cast<size_t>(yy + y) * img.width + x) * img.channels], static_cast<size_t>(w) * img.channels,
                    &out.pixels[static_cast<size_t>(yy) * w * img.channels]);
    return out;
}

}  // namespace

void run_inpaint(const GimpParam* params, int n, Reply* reply) {
    const Args a{params, n};
    const GimpRunMode mode = static_cast<GimpRunMode>(a.i32(0));
    const gint32 image = a.i32(1), drawable = a.i32(2);
    Settings s = load_settings();
    GenerateRequest r = s.last;
    std::string model_arg;
    if (mode == GIMP_RUN_NONINTERACTIVE) {
        if (n != 17) return fail(reply, GIMP_PDB_CALLING_ERROR, "plug-in-diffusion-inpaint takes 17 arguments.");
        r.prompt = a.s(3);
        r.negative_prompt = a.s(4);
        r.steps = a.i32(5);
        r.sampler = a.s(6);
        r.schedule = a.s(7);
        r.cfg_scale = a.f(8);
        r.seed = static_cast<int64_t>(a.f(9));
        r.denoising_strength = a.f(10);
        r.mask_blur = a.i32(11);
        r.masked_content = a.i32(12);
        r.inpaint_full_res = a.i32(13) != 0;
        r.inpaint_full_res_padding = a.i32(14);
        r.batch_size = a.i32(15);
        r.batch_count = 1;
        model_arg = a.s(16);
    }
    try {
        check_image(image);
        if (gimp_item_is_group(drawable))
            throw Error(ErrorCode::kInvalidRequest, "A layer group has no pixels of its own; select a normal layer to inpaint.");
        if (gimp_selection_is_empty(image))
            throw Error(ErrorCode::kInvalidRequest, "Inpaint repaints the selection, and nothing is selected; select the area first.");
        const int w = gimp_drawable_width(drawable), h = gimp_drawable_height(drawable);
        int ox = 0, oy = 0;
        gimp_drawable_offsets(drawable, &ox, &oy);
        const Image src = read_rgba(drawable, {0, 0, w, h});
        const Image sel = read_selection(image, {ox, oy, w, h});
        bool any = false;
        for (uint8_t v : sel.pixels) any = any || v != 0;
        if (!any) throw Error(ErrorCode::kInvalidRequest, "The selection lies outside the active layer; select part of the layer.");
        const int w8 = std::max(64, (w + 7) / 8 * 8), h8 = std::max(64, (h + 7) / 8 * 8);
        if (!r.inpaint_full_res) {
            r.width = w8;
            r.height = h8;
        } else {
            r.width = std::max(64, r.width / 8 * 8);
            r.height = std::max(64, r.height / 8 * 8);
        }
        validate(r);
        const std::string model = resolve_model(model_arg, s);
        wire::Message req = request_message("inpaint", r, model, s);
        req.header["image"] = wire::attach_image(&req, pad_rgb(src, w8, h8));
        req.header["mask"] = wire::attach_image(&req, pad_gray(sel, w8, h8));
        wire::Message res;
        const Status st = call_engine(req, "Inpaint", &res);
        if (!st.ok) return fail(reply, status_for(st.code), st.message);

        const Image overlay_mask = wire::image_from(res.header["mask_for_overlay"], res);
        // Whole picture: the layer covers the drawable; only masked: the crop region.
        int bx = 0, by = 0, bw = w, bh = h;
        if (res.header.contains("paste_box")) {
            const auto b = res.header["paste_box"].get<std::vector<int>>();
            bx = std::min(b[0], w - 1);
            by = std::min(b[1], h - 1);
            bw = std::min(b[2], w) - bx;
            bh = std::min(b[3], h) - by;
        }
        const Image mask_layer = crop_box(imaging_gray(overlay_mask, w8, h8), bx, by, bw, bh);
        gimp_image_undo_group_start(image);
        gint32 top = -1;
        const auto& images = res.header["images"];
        for (size_t i = 0; i < images.size(); ++i) {
            const Image full = wire::image_from(images[i], res);
            const Image part = crop_with_alpha(crop_box(full, bx, by, bw, bh), crop_box(src, bx, by, bw, bh));
            const gint32 layer = add_layer(image, 0, -1, layer_name(r.prompt, images[i]["seed"].get<long long>()), part,
                                           ox + bx, oy + by);
            attach_parameters(layer, images[i]["infotext"]);
            add_mask(layer, mask_layer);
            top = layer;
        }
        gimp_image_undo_group_end(image);
        gimp_displays_flush();
        s.last = r;
        s.model = model;
        save_settings(s);
        reply->values[1].type = GIMP_PDB_LAYER;
        reply->values[1].data.d_layer = top;
        reply->count = 2;
    } catch (const Error& e) {
        fail(reply, status_for(e.code()), e.what());
    }
}

}  // namespace sdgimp::plugin
