// Export Layer as A1111 PNG: the active layer written as A1111 saves its images, a PNG whose
// "parameters" chunk holds the layer's text, so A1111's PNG Info, image sites and this plug-in's
// Paste Parameters read it back (GIMP's own PNG export keeps it only as a "Comment").
#include <cstring>

#include "gimp_pixels.h"
#include "io/png_file.h"
#include "procedures.h"
#include "status.h"

namespace sdgimp::plugin {

void run_export_png(const GimpParam* params, int n, Reply* reply) {
    static std::string written;  // the PDB return value points here
    try {
        if (n != 4) throw Error(ErrorCode::kInvalidRequest, "plug-in-diffusion-export-png takes 4 arguments.");
        const gint32 image = params[1].data.d_image, drawable = params[2].data.d_drawable;
        const std::string path = params[3].data.d_string ? params[3].data.d_string : "";
        if (path.size() < 5 || g_ascii_strcasecmp(path.c_str() + path.size() - 4, ".png") != 0)
            throw Error(ErrorCode::kInvalidRequest, "Give a file name ending in .png for the export.");
        if (gimp_item_is_group(drawable))
            throw Error(ErrorCode::kInvalidRequest, "A layer group has no pixels of its own; select a normal layer.");
        std::string text = read_parameters(drawable);
        if (text.empty()) text = image_parameters(image);
        if (text.empty())
            throw Error(ErrorCode::kInvalidRequest,
                        "The layer carries no A1111 parameters text (GIMP Diffusion did not make it); export it with File > Export instead.");
        Image pixels = read_rgba(drawable, {0, 0, gimp_drawable_width(drawable), gimp_drawable_height(drawable)});
        // A1111 saves RGB; an alpha channel is kept only where the layer has transparent pixels.
        bool opaque = true;
        for (size_t i = 3; i < pixels.pixels.size() && opaque; i += 4) opaque = pixels.pixels[i] == 255;
        if (opaque) {
            Image rgb{pixels.width, pixels.height, 3, {}};
            rgb.pixels.reserve(pixels.pixels.size() / 4 * 3);
            for (size_t i = 0; i < pixels.pixels.size(); i += 4) rgb.pixels.insert(rgb.pixels.end(), &pixels.pixels[i], &pixels.pixels[i] + 3);
            pixels = std::move(rgb);
        }
        io::write_png(path, pixels, {{"parameters", text}});
        written = path;
        reply->values[1].type = GIMP_PDB_STRING;
        reply->values[1].data.d_string = const_cast<gchar*>(written.c_str());
        reply->count = 2;
    } catch (const Error& e) {
        fail(reply, e);
    }
}

}  // namespace sdgimp::plugin
