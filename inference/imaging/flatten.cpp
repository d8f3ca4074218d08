#include "flatten.h"

#include <cctype>

#include "../status.h"
#include "inpaint_prep.h"

namespace sdgimp::imaging {

std::array<uint8_t, 3> parse_background_color(const std::string& text) {
    auto hex = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(static_cast<unsigned char>(c)) - 'a' + 10; };
    bool ok = !text.empty() && text[0] == '#' && (text.size() == 7 || text.size() == 4);
    for (size_t i = 1; ok && i < text.size(); ++i) ok = std::isxdigit(static_cast<unsigned char>(text[i])) != 0;
    if (!ok)
        throw Error(ErrorCode::kInvalidRequest,
                    "The img2img background color \"" + text + "\" is not a colour; write it as #rrggbb, e.g. #ffffff.");
    std::array<uint8_t, 3> rgb{};
    for (int c = 0; c < 3; ++c)
        rgb[c] = static_cast<uint8_t>(text.size() == 7 ? hex(text[1 + 2 * c]) * 16 + hex(text[2 + 2 * c]) : hex(text[1 + c]) * 17);
    return rgb;
}

Image flatten(const Image& img, const std::array<uint8_t, 3>& background) {
    if (img.channels != 4) return to_rgb(img);
    Image out{img.width, img.height, 3, std::vector<uint8_t>(static_cast<size_t>(img.width) * img.height * 3)};
    const size_t n = static_cast<size_t>(img.width) * img.height;
    for (size_t i = 0; i < n; ++i) {
        const unsigned a = img.pixels[i * 4 + 3];
        for (int c = 0; c < 3; ++c) {
            // PIL's BLEND: (bg * (255 - a) + fg * a) / 255 with its rounding shift.
            const unsigned v = background[c] * (255 - a) + img.pixels[i * 4 + c] * a + 128;
            out.pixels[i * 3 + c] = static_cast<uint8_t>(((v >> 8) + v) >> 8);
        }
    }
    return out;
}

}  // namespace sdgimp::imaging
