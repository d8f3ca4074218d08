// PNG files with their text chunks: A1111 stores the parameters text in a "parameters" tEXt/iTXt
// chunk, which we write and read back.
#pragma once

#include <map>
#include <string>

#include "../image.h"

namespace sdgimp::io {

// Throws sdgimp::Error naming the path when the file cannot be written.
void write_png(const std::string& path, const Image& img, const std::map<std::string, std::string>& text = {});

struct PngFile {
    Image image;
    std::map<std::string, std::string> text;
};

// 8-bit gray/RGB/RGBA (palette and 16-bit are converted); throws sdgimp::Error for a bad file.
// Text comes back as UTF-8: tEXt and zTXt are Latin-1 (PIL writes A1111's text there whenever
// Latin-1 can hold it), iTXt is UTF-8 already.
PngFile read_png(const std::string& path);

// The text chunks before the image data (where PIL puts A1111's "parameters"), without decoding
// the pixels; throws sdgimp::Error for a file that is not a PNG.
std::map<std::string, std::string> read_png_text(const std::string& path);

}  // namespace sdgimp::io
