// 8-bit images as the engine's edge passes them: rows top to bottom, channels interleaved
// (1 = gray, 2 = gray + alpha, 3 = RGB, 4 = RGBA).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sdgimp {

struct Image {
    int width = 0, height = 0, channels = 3;
    std::vector<uint8_t> pixels;

    bool valid() const {
        return width > 0 && height > 0 && channels >= 1 && channels <= 4 &&
               pixels.size() == static_cast<size_t>(width) * static_cast<size_t>(height) * static_cast<size_t>(channels);
    }
};

}  // namespace sdgimp
