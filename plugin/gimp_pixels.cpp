#include "gimp_pixels.h"

#include <algorithm>
#include <cstring>

#include "io/exif_comment.h"
#include "status.h"

namespace sdgimp::plugin {

Image read_rgba(gint32 drawable, const Rect& r) {
    Image img;
    img.width = r.w;
    img.height = r.h;
    img.channels = 4;
    img.pixels.resize(static_cast<size_t>(r.w) * r.h * 4);
    GeglBuffer* buf = gimp_drawable_get_buffer(drawable);
    const GeglRectangle rect = {r.x, r.y, r.w, r.h};
    gegl_buffer_get(buf, &rect, 1.0, babl_format("R'G'B'A u8"), img.pixels.data(), GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);
    g_object_unref(buf);
    return img;
}

Image read_selection(gint32 image, const Rect& r) {
    Image img;
    img.width = r.w;
    img.height = r.h;
    img.channels = 1;
    img.pixels.assign(static_cast<size_t>(r.w) * r.h, 255);
    if (gimp_selection_is_empty(image)) return img;
    GeglBuffer* buf = gimp_drawable_get_buffer(gimp_image_get_selection(image));
    const GeglRectangle rect = {r.x, r.y, r.w, r.h};
    gegl_buffer_get(buf, &rect, 1.0, babl_format("Y u8"), img.pixels.data(), GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);
    g_object_unref(buf);
    return img;
}

gint32 add_layer(gint32 image, gint32 parent, int position, const std::string& name, const Image& src, int off_x, int off_y) {
    const bool gray = gimp_image_base_type(image) == GIMP_GRAY;
    const bool alpha = src.channels == 4 || src.channels == 2;
    const GimpImageType type = gray ? (alpha ? GIMP_GRAYA_IMAGE : GIMP_GRAY_IMAGE) : (alpha ? GIMP_RGBA_IMAGE : GIMP_RGB_IMAGE);
    const gint32 layer = gimp_layer_new(image, name.c_str(), src.width, src.height, type, 100.0, GIMP_LAYER_MODE_NORMAL);
    gimp_layer_set_offsets(layer, off_x, off_y);
    gimp_image_insert_layer(image, layer, parent, position);
    GeglBuffer* buf = gimp_drawable_get_buffer(layer);
    const GeglRectangle rect = {0, 0, src.width, src.height};
    static const char* kFormats[] = {"", "Y' u8", "Y'A u8", "R'G'B' u8", "R'G'B'A u8"};
    // GEGL converts RGB to the gray layer's format (luminance) itself.
    gegl_buffer_set(buf, &rect, 0, babl_format(kFormats[src.channels]), src.pixels.data(), GEGL_AUTO_ROWSTRIDE);
    gegl_buffer_flush(buf);
    g_object_unref(buf);
    gimp_drawable_update(layer, 0, 0, src.width, src.height);
    return layer;
}

void add_mask(gint32 layer, const Image& gray) {
    const gint32 mask = gimp_layer_create_mask(layer, GIMP_ADD_MASK_WHITE);
    gimp_layer_add_mask(layer, mask);
    GeglBuffer* buf = gimp_drawable_get_buffer(mask);
    const GeglRectangle rect = {0, 0, gray.width, gray.height};
    gegl_buffer_set(buf, &rect, 0, babl_format("Y u8"), gray.pixels.data(), GEGL_AUTO_ROWSTRIDE);
    gegl_buffer_flush(buf);
    g_object_unref(buf);
    gimp_drawable_update(mask, 0, 0, gray.width, gray.height);
    // GIMP makes a new mask the edit target; the next filter would get the mask as its input.
    gimp_layer_set_edit_mask(layer, FALSE);
}

namespace {

constexpr const char* kParasite = "gimp-diffusion-parameters";

// A parasite's text up to its first NUL (freed here); "" for none.
std::string parasite_text(GimpParasite* p) {
    if (!p) return "";
    const char* data = static_cast<const char*>(gimp_parasite_data(p));
    std::string s(data, strnlen(data, gimp_parasite_data_size(p)));
    gimp_parasite_free(p);
    return s;
}

}  // namespace

void attach_parameters(gint32 item, const std::string& infotext) {
    GimpParasite* p = gimp_parasite_new(kParasite, GIMP_PARASITE_PERSISTENT | GIMP_PARASITE_UNDOABLE,
                                        static_cast<guint32>(infotext.size() + 1), infotext.c_str());
    gimp_item_attach_parasite(item, p);
    gimp_parasite_free(p);
}

std::string read_parameters(gint32 item) { return parasite_text(gimp_item_get_parasite(item, kParasite)); }

std::string image_parameters(gint32 image) {
    if (gchar* file = gimp_image_get_filename(image)) {
        const std::string path = file;
        g_free(file);
        try {
            const std::string text = io::image_file_parameters(path);
            if (!text.empty()) return text;
        } catch (const Error&) {
            // Unreadable: look at the comment.
        }
    }
    std::string s = parasite_text(gimp_image_get_parasite(image, "gimp-comment"));
    s.erase(s.find_last_not_of(" \r\n") + 1);
    const size_t last = s.rfind('\n');
    return s.compare(last == std::string::npos ? 0 : last + 1, 7, "Steps: ") == 0 ? s : "";
}

void set_image_comment(gint32 image, const std::string& text) {
    GimpParasite* p = gimp_parasite_new("gimp-comment", GIMP_PARASITE_PERSISTENT | GIMP_PARASITE_UNDOABLE,
                                        static_cast<guint32>(text.size() + 1), text.c_str());
    gimp_image_attach_parasite(image, p);
    gimp_parasite_free(p);
}

std::string layer_name(const std::string& prompt, long long seed) {
    std::string start = prompt.substr(0, prompt.find('\n'));
    if (start.size() > 40) {
        size_t cut = start.rfind(' ', 40);
        if (cut == std::string::npos || cut < 10) cut = 40;
        while (cut > 0 && (static_cast<unsigned char>(start[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
        start = start.substr(0, cut) + "…";
    }
    if (start.empty()) start = "Diffusion";
    return start + " (" + std::to_string(seed) + ")";
}

}  // namespace sdgimp::plugin
