#include "generate_jobs.h"

#include <algorithm>

#include "imaging/inpaint_prep.h"
#include "status.h"

namespace sdgimp::plugin {
namespace {

// RGBA copy padded to w8 x h8 by repeating the edge pixels (the engine flattens the transparency
// onto the request's background colour, as A1111 does with its init images).
Image pad_rgba(const Image& rgba, int w8, int h8) {
    Image out{w8, h8, 4, std::vector<uint8_t>(static_cast<size_t>(w8) * h8 * 4)};
    for (int y = 0; y < h8; ++y)
        for (int x = 0; x < w8; ++x) {
            const int sx = std::min(x, rgba.width - 1), sy = std::min(y, rgba.height - 1);
            for (int c = 0; c < 4; ++c)
                out.pixels[(static_cast<size_t>(y) * w8 + x) * 4 + c] = rgba.pixels[(static_cast<size_t>(sy) * rgba.width + sx) * 4 + c];
        }
    return out;
}

// The mask padded with "not selected" to w8 x h8 (crop past the edge fills with 0).
Image pad_gray(const Image& g, int w8, int h8) { return imaging::crop(g, {0, 0, w8, h8}); }

Image crop_box(const Image& img, int x, int y, int w, int h) { return imaging::crop(img, {x, y, x + w, y + h}); }

// The engine's RGB result cut to the source's size, with the source's alpha.
Image with_alpha(const Image& rgb, const Image& src_rgba) {
    Image out{src_rgba.width, src_rgba.height, 4, std::vector<uint8_t>(src_rgba.pixels.size())};
    for (int y = 0; y < out.height; ++y)
        for (int x = 0; x < out.width; ++x) {
            const size_t o = (static_cast<size_t>(y) * out.width + x) * 4;
            const size_t i = (static_cast<size_t>(y) * rgb.width + x) * static_cast<size_t>(rgb.channels);
            for (int c = 0; c < 3; ++c) out.pixels[o + c] = rgb.pixels[i + c];
            out.pixels[o + 3] = src_rgba.pixels[o + 3];
        }
    return out;
}

// New results go at the top level, just above the outermost group holding the active layer.
int top_level_position(gint32 image) {
    gint32 item = gimp_image_get_active_layer(image);
    if (item <= 0) return 0;
    while (gimp_item_get_parent(item) > 0) item = gimp_item_get_parent(item);
    return gimp_image_get_item_position(image, item);
}

void check_image(gint32 image) {
    if (gimp_image_base_type(image) == GIMP_INDEXED)
        throw Error(ErrorCode::kInvalidRequest, "Indexed images cannot take generated layers; convert with Image > Mode > RGB first.");
}

void check_drawable(gint32 drawable, const char* what) {
    if (gimp_item_is_group(drawable))
        throw Error(ErrorCode::kInvalidRequest, std::string("A layer group has no pixels of its own; select a normal layer for ") + what + ".");
}

wire::Message message(const char* op, const GenerateRequest& r, const std::string& model, const Settings& s) {
    wire::Message m;
    m.header = {{"op", op}, {"request", wire::request_to_json(r)}, {"model", model_header(s, model)}};
    return m;
}

int padded8(int v) { return std::max(64, (v + 7) / 8 * 8); }

}  // namespace

Rect img2img_rect(gint32 drawable) {
    Rect rect;
    if (!gimp_drawable_mask_intersect(drawable, &rect.x, &rect.y, &rect.w, &rect.h) || rect.w < 1 || rect.h < 1)
        throw Error(ErrorCode::kInvalidRequest, "The selection lies outside the active layer; select part of the layer or use Select > None.");
    return rect;
}

std::pair<int, int> img2img_size(gint32 image, gint32 drawable) {
    check_image(image);
    check_drawable(drawable, "Image to Image");
    const Rect rect = img2img_rect(drawable);
    return {padded8(rect.w), padded8(rect.h)};
}

wire::Message prepare(GenMode mode, gint32 image, gint32 drawable, GenerateRequest* r, const std::string& model,
                      const Settings& s, Target* t) {
    check_image(image);
    t->image = image;
    t->drawable = drawable;
    if (mode == GenMode::kTxt2Img) {
        validate(*r);
        return message("txt2img", *r, model, s);
    }
    check_drawable(drawable, mode == GenMode::kImg2Img ? "Image to Image" : "Inpaint");
    gimp_drawable_offsets(drawable, &t->ox, &t->oy);
    if (mode == GenMode::kImg2Img) {
        t->rect = img2img_rect(drawable);
    } else {
        if (gimp_selection_is_empty(image))
            throw Error(ErrorCode::kInvalidRequest, "Inpaint repaints the selection, and nothing is selected; select the area first.");
        t->rect = {0, 0, gimp_drawable_width(drawable), gimp_drawable_height(drawable)};
    }
    t->src = read_rgba(drawable, t->rect);
    t->masked = !gimp_selection_is_empty(image);
    t->selection = read_selection(image, {t->ox + t->rect.x, t->oy + t->rect.y, t->rect.w, t->rect.h});
    t->w8 = padded8(t->rect.w);
    t->h8 = padded8(t->rect.h);
    if (mode == GenMode::kInpaint) {
        bool any = false;
        for (uint8_t v : t->selection.pixels) any = any || v != 0;
        if (!any) throw Error(ErrorCode::kInvalidRequest, "The selection lies outside the active layer; select part of the layer.");
    }
    if (mode == GenMode::kImg2Img && r->resize_init_image) {
        // A script's own size: the region's pixels resized to it in the engine (A1111's Just resize).
    } else if (mode == GenMode::kImg2Img || !r->inpaint_full_res) {
        r->width = t->w8;
        r->height = t->h8;
    } else {
        r->width = std::max(64, r->width / 8 * 8);
        r->height = std::max(64, r->height / 8 * 8);
    }
    if (mode == GenMode::kImg2Img) r->batch_count = 1;
    validate(*r);
    wire::Message m = message(mode == GenMode::kImg2Img ? "img2img" : "inpaint", *r, model, s);
    const bool resized = mode == GenMode::kImg2Img && r->resize_init_image;
    m.header["image"] = wire::attach_image(&m, resized ? t->src : pad_rgba(t->src, t->w8, t->h8));
    if (mode == GenMode::kInpaint) m.header["mask"] = wire::attach_image(&m, pad_gray(t->selection, t->w8, t->h8));
    return m;
}

gint32 apply_runs(gint32 image, const std::string& group_name, const std::vector<std::pair<GenerateRequest, wire::Message>>& runs,
                  const Target* region) {
    gimp_image_undo_group_start(image);
    const gint32 group = gimp_layer_group_new(image);
    gimp_item_set_name(group, group_name.c_str());
    gimp_image_insert_layer(image, group, 0, top_level_position(image));
    int position = 0;
    for (const auto& [r, res] : runs) {
        const auto& images = res.header["images"];
        for (size_t i = 0; i < images.size(); ++i) {
            const std::string info = images[i]["infotext"];
            const std::string name = layer_name(r.prompt, images[i]["seed"].get<long long>());
            gint32 layer = -1;
            if (region && r.resize_init_image) {
                // Resized to a script's size: the whole result at the region's corner.
                layer = add_layer(image, group, position++, name, wire::image_from(images[i], res), region->ox + region->rect.x,
                                  region->oy + region->rect.y);
            } else if (region) {
                const Target& t = *region;
                layer = add_layer(image, group, position++, name, with_alpha(crop_box(wire::image_from(images[i], res), 0, 0, t.rect.w, t.rect.h), t.src),
                                  t.ox + t.rect.x, t.oy + t.rect.y);
                if (t.masked) add_mask(layer, t.selection);
            } else {
                layer = add_layer(image, group, position++, name, wire::image_from(images[i], res), 0, 0);
            }
            attach_parameters(layer, info);
            if (position == 1) set_image_comment(image, info);
        }
    }
    gimp_image_set_active_layer(image, group);
    gimp_image_undo_group_end(image);
    return group;
}

gint32 apply(GenMode mode, const Target& t, const wire::Message& res, const GenerateRequest& r) {
    const gint32 image = t.image;
    const auto& images = res.header["images"];
    gimp_image_undo_group_start(image);
    gint32 top = -1;
    if (mode == GenMode::kTxt2Img) {
        gint32 parent = 0;
        const int position = top_level_position(image);
        if (images.size() > 1) {
            parent = gimp_layer_group_new(image);
            gimp_item_set_name(parent, (layer_name(r.prompt, images[0]["seed"].get<long long>()) + " ×" +
                                        std::to_string(images.size())).c_str());
            gimp_image_insert_layer(image, parent, 0, position);
            top = parent;
        }
        for (size_t i = 0; i < images.size(); ++i) {
            const std::string info = images[i]["infotext"];
            const gint32 layer = add_layer(image, parent, parent ? static_cast<int>(i) : position,
                                           layer_name(r.prompt, images[i]["seed"].get<long long>()),
                                           wire::image_from(images[i], res), 0, 0);
            attach_parameters(layer, info);
            if (i == 0) {
                set_image_comment(image, info);
                if (parent) attach_parameters(parent, info);
                else top = layer;
            }
        }
        gimp_image_set_active_layer(image, top);
    } else {
        // Whole region, or the crop region of "only masked" inpainting.
        int bx = 0, by = 0, bw = t.rect.w, bh = t.rect.h;
        if (res.header.contains("paste_box")) {
            const auto b = res.header["paste_box"].get<std::vector<int>>();
            bx = std::min(b[0], t.rect.w - 1);
            by = std::min(b[1], t.rect.h - 1);
            bw = std::min(b[2], t.rect.w) - bx;
            bh = std::min(b[3], t.rect.h) - by;
        }
        Image mask;
        if (mode == GenMode::kInpaint) {
            mask = crop_box(pad_gray(wire::image_from(res.header["mask_for_overlay"], res), t.w8, t.h8), bx, by, bw, bh);
        } else if (t.masked) {
            mask = t.selection;
        }
        const Image src = crop_box(t.src, bx, by, bw, bh);
        // Resized to another size ("Resize to"): the whole result at the part's corner, unmasked.
        const bool resized = mode == GenMode::kImg2Img && r.resize_init_image;
        for (size_t i = 0; i < images.size() && resized; ++i) {
            top = add_layer(image, 0, -1, layer_name(r.prompt, images[i]["seed"].get<long long>()), wire::image_from(images[i], res),
                            t.ox + t.rect.x, t.oy + t.rect.y);
            attach_parameters(top, images[i]["infotext"]);
        }
        for (size_t i = 0; i < images.size() && !resized; ++i) {
            const Image full = wire::image_from(images[i], res);
            const gint32 layer = add_layer(image, 0, -1, layer_name(r.prompt, images[i]["seed"].get<long long>()),
                                           with_alpha(crop_box(full, bx, by, bw, bh), src), t.ox + t.rect.x + bx,
                                           t.oy + t.rect.y + by);
            attach_parameters(layer, images[i]["infotext"]);
            // Soft inpainting: each image has its own mask of where it changed.
            if (mode == GenMode::kInpaint && images[i].contains("mask_for_overlay"))
                add_mask(layer, crop_box(pad_gray(wire::image_from(images[i]["mask_for_overlay"], res), t.w8, t.h8), bx, by, bw, bh));
            else if (mask.valid())
                add_mask(layer, mask);
            top = layer;
        }
    }
    gimp_image_undo_group_end(image);
    gimp_displays_flush();
    return top;
}

}  // namespace sdgimp::plugin
