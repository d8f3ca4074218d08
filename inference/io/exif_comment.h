// A1111's parameters text in JPEG and WebP files: A1111 saves those formats through piexif, which
// writes the text as the EXIF UserComment ("UNICODE\0" and UTF-16, or "ASCII\0\0\0" and ASCII) in
// the JPEG's APP1 "Exif" segment or the WebP's "EXIF" chunk. The bytes are untrusted: every offset
// is checked, nothing is followed twice, and damage only means "no text".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sdgimp::io {

// The UserComment of a JPEG or WebP file's bytes as UTF-8 (UTF-16 read in the TIFF block's byte
// order, trailing NULs dropped); "" for other files or when there is none.
std::string exif_user_comment(const uint8_t* data, size_t size);

// A1111's parameters text of an image file, as its PNG Info tab reads it: a PNG's "parameters"
// chunk, a JPEG's or WebP's EXIF UserComment; "" when the file has none. Throws sdgimp::Error
// naming a file that cannot be read.
std::string image_file_parameters(const std::string& path);

}  // namespace sdgimp::io
