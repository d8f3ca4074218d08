// Pixels between GIMP drawables and the engine's 8-bit images (via GEGL buffers), and the small
// layer operations every procedure shares.
#pragma once

#include <libgimp/gimp.h>

#include <string>

#include "image.h"

namespace sdgimp::plugin {

struct Rect {
    int x = 0, y = 0, w = 0, h = 0;
};

// The drawable's pixels in `r` (drawable coordinates) as 8-bit RGBA (gray is expanded).
Image read_rgba(gint32 drawable, const Rect& r);
// The selection's values (0..255, soft edges kept) over an image-coordinate rectangle.
Image read_selection(gint32 image, const Rect& image_rect);

// A new layer holding `img`, inserted above the active layer or into `parent` (a group) at `position`.
// Gray images get gray layers; RGB images RGB(A) layers.
gint32 add_layer(gint32 image, gint32 parent, int position, const std::string& name, const Image& img, int off_x, int off_y);
// A layer mask from 8-bit gray values the size of the layer; the layer stays the edit target.
void add_mask(gint32 layer, const Image& gray);

// Persistent parasite with A1111's parameters text ("gimp-diffusion-parameters").
void attach_parameters(gint32 item, const std::string& infotext);
std::string read_parameters(gint32 item);
// The text an image opened from a file carries (what A1111's PNG Info tab reads): a PNG's
// "parameters" chunk or a JPEG's / WebP's EXIF UserComment, else an image comment that is an A1111 text (ends in a "Steps: ..." line, as
// GIMP Diffusion's exports do); "" when there is none.
std::string image_parameters(gint32 image);
// The image comment, so exported PNGs carry the text.
void set_image_comment(gint32 image, const std::string& text);

// "<first words of the prompt> (<seed>)"
std::string layer_name(const std::string& prompt, long long seed);

}  // namespace sdgimp::plugin
