#include "png_file.h"

#include <png.h>

#include <cstdio>
#include <memory>

#include "../status.h"
#include "utf8.h"

namespace sdgimp::io {
namespace {

struct FileCloser {
    void operator()(FILE* f) const { if (f) std::fclose(f); }
};

[[noreturn]] void png_fail(png_structp png, png_const_charp msg) {
    (void)png;
    throw Error(ErrorCode::kBadFile, msg);
}

void png_warn(png_structp, png_const_charp) {}

bool is_ascii_latin1(const std::string& s) {
    for (unsigned char c : s)
        if (c >= 0x80) return false;
    return true;
}

}  // namespace

void write_png(const std::string& path, const Image& img, const std::map<std::string, std::string>& text) {
    if (!img.valid()) throw Error(ErrorCode::kInvalidRequest, "Cannot write an empty or inconsistent image to " + path + ".");
    std::unique_ptr<FILE, FileCloser> f(std::fopen(path.c_str(), "wb"));
    if (!f) throw Error(ErrorCode::kBadFile, "Cannot write " + path + "; check that the folder exists and is writable.");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, png_fail, png_warn);
    png_infop info = png_create_info_struct(png);
    try {
        png_init_io(png, f.get());
        static const int kTypes[] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGBA};
        png_set_IHDR(png, info, static_cast<png_uint_32>(img.width), static_cast<png_uint_32>(img.height), 8,
                     kTypes[img.channels], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        std::vector<png_text> chunks;
        for (const auto& [k, v] : text) {
            png_text t{};
            // Plain ASCII goes in tEXt as A1111 (PIL) writes it; other text needs UTF-8 iTXt.
            t.compression = is_ascii_latin1(v) ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
            t.key = const_cast<char*>(k.c_str());
            t.text = const_cast<char*>(v.c_str());
            t.text_length = v.size();
            chunks.push_back(t);
        }
        if (!chunks.empty()) png_set_text(png, info, chunks.data(), static_cast<int>(chunks.size()));
        png_write_info(png, info);
        const size_t stride = static_cast<size_t>(img.width) * static_cast<size_t>(img.channels);
        for (int y = 0; y < img.height; ++y)
            png_write_row(png, const_cast<png_bytep>(img.pixels.data() + static_cast<size_t>(y) * stride));
        png_write_end(png, info);
    } catch (...) {
        png_destroy_write_struct(&png, &info);
        throw;
    }
    png_destroy_write_struct(&png, &info);
}

namespace {

std::string latin1_to_utf8(const char* s, size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) append_utf8(&out, static_cast<unsigned char>(s[i]));  // Latin-1 is U+0000-U+00FF
    return out;
}

void take_text(png_structp png, png_infop info, std::map<std::string, std::string>* out) {
    png_textp texts = nullptr;
    const int n = png_get_text(png, info, &texts, nullptr);
    for (int i = 0; i < n; ++i) {
        const png_text& t = texts[i];
        const bool international = t.compression == PNG_ITXT_COMPRESSION_NONE || t.compression == PNG_ITXT_COMPRESSION_zTXt;
        (*out)[t.key] = international ? std::string(t.text, t.itxt_length) : latin1_to_utf8(t.text, t.text_length);
    }
}

// Opens `path` as a PNG and runs fn(png, info) with libpng set up after the signature; libpng's
// errors (thrown by png_fail) come back naming the file.
template <typename Fn>
void with_png_reader(const std::string& path, Fn fn) {
    std::unique_ptr<FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
    if (!f) throw Error(ErrorCode::kModelNotFound, "Cannot open " + path + "; check the path.");
    png_byte sig[8];
    if (std::fread(sig, 1, 8, f.get()) != 8 || png_sig_cmp(sig, 0, 8) != 0)
        throw Error(ErrorCode::kBadFile, path + " is not a PNG file.");
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, png_fail, png_warn);
    png_infop info = png_create_info_struct(png);
    try {
        png_init_io(png, f.get());
        png_set_sig_bytes(png, 8);
        fn(png, info);
    } catch (const Error& e) {
        png_destroy_read_struct(&png, &info, nullptr);
        throw Error(ErrorCode::kBadFile, path + ": " + e.what());
    }
    png_destroy_read_struct(&png, &info, nullptr);
}

}  // namespace

std::map<std::string, std::string> read_png_text(const std::string& path) {
    std::map<std::string, std::string> out;
    with_png_reader(path, [&](png_structp png, png_infop info) {
        png_read_info(png, info);
        take_text(png, info, &out);
    });
    return out;
}

PngFile read_png(const std::string& path) {
    PngFile out;
    with_png_reader(path, [&](png_structp png, png_infop info) {
        png_set_user_limits(png, 16384, 16384);
        png_read_info(png, info);
        png_set_expand(png);
        png_set_strip_16(png);
        png_set_packing(png);
        png_read_update_info(png, info);
        out.image.width = static_cast<int>(png_get_image_width(png, info));
        out.image.height = static_cast<int>(png_get_image_height(png, info));
        out.image.channels = png_get_channels(png, info);
        const size_t stride = png_get_rowbytes(png, info);
        out.image.pixels.resize(stride * static_cast<size_t>(out.image.height));
        std::vector<png_bytep> rows(static_cast<size_t>(out.image.height));
        for (size_t y = 0; y < rows.size(); ++y) rows[y] = out.image.pixels.data() + y * stride;
        png_read_image(png, rows.data());
        png_read_end(png, info);
        take_text(png, info, &out.text);
    });
    return out;
}

}  // namespace sdgimp::io
