#include "exif_comment.h"

#include <cstring>

#include "mapped_file.h"
#include "png_file.h"
#include "utf8.h"

namespace sdgimp::io {
namespace {

constexpr uint16_t kExifIfdPointer = 0x8769, kUserComment = 0x9286;

// A TIFF block (EXIF's container) with its byte order.
struct Tiff {
    const uint8_t* p;
    size_t n;
    bool big_endian;

    bool has(uint64_t at, uint64_t len) const { return at <= n && len <= n - at; }
    uint32_t u16(size_t at) const { return big_endian ? (p[at] << 8) | p[at + 1] : p[at] | (p[at + 1] << 8); }
    uint32_t u32(size_t at) const {
        return big_endian ? (uint32_t{p[at]} << 24) | (uint32_t{p[at + 1]} << 16) | (uint32_t{p[at + 2]} << 8) | p[at + 3]
                          : p[at] | (uint32_t{p[at + 1]} << 8) | (uint32_t{p[at + 2]} << 16) | (uint32_t{p[at + 3]} << 24);
    }
    // The entry for `tag` in the IFD at `ifd`: its position, or 0 when absent or out of bounds.
    size_t find(uint32_t ifd, uint16_t tag) const {
        if (!has(ifd, 2)) return 0;
        const uint32_t count = u16(ifd);
        for (uint32_t i = 0; i < count; ++i) {
            const uint64_t at = uint64_t{ifd} + 2 + 12ull * i;
            if (!has(at, 12)) return 0;
            if (u16(at) == tag) return static_cast<size_t>(at);
        }
        return 0;
    }
};

std::string utf16_to_utf8(const uint8_t* p, size_t n, bool big_endian) {
    std::string out;
    auto unit = [&](size_t i) -> uint32_t { return big_endian ? (p[i] << 8) | p[i + 1] : p[i] | (p[i + 1] << 8); };
    for (size_t i = 0; i + 1 < n; i += 2) {
        const uint32_t u = unit(i);
        if (u >= 0xD800 && u < 0xDC00 && i + 3 < n) {
            const uint32_t low = unit(i + 2);
            if (low >= 0xDC00 && low < 0xE000) {
                append_utf8(&out, 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00));
                i += 2;
                continue;
            }
        }
        append_utf8(&out, u >= 0xD800 && u < 0xE000 ? 0xFFFD : u);  // a lone surrogate
    }
    return out;
}

std::string comment_of_tiff(const uint8_t* p, size_t n) {
    if (n < 8) return "";
    Tiff t{p, n, false};
    if (std::memcmp(p, "MM\0*", 4) == 0) t.big_endian = true;
    else if (std::memcmp(p, "II*\0", 4) != 0) return "";
    const size_t pointer = t.find(t.u32(4), kExifIfdPointer);
    if (!pointer) return "";
    const size_t entry = t.find(t.u32(pointer + 8), kUserComment);
    if (!entry) return "";
    const uint32_t count = t.u32(entry + 4);  // UNDEFINED: one byte each
    const uint64_t at = count <= 4 ? entry + 8 : t.u32(entry + 8);
    if (count < 8 || !t.has(at, count)) return "";
    const uint8_t* c = p + at;
    std::string text;
    if (std::memcmp(c, "UNICODE\0", 8) == 0) text = utf16_to_utf8(c + 8, count - 8, t.big_endian);
    else if (std::memcmp(c, "ASCII\0\0\0", 8) == 0 || std::memcmp(c, "\0\0\0\0\0\0\0\0", 8) == 0)
        text.assign(reinterpret_cast<const char*>(c + 8), count - 8);
    else return "";  // JIS, or not a UserComment at all
    while (!text.empty() && text.back() == '\0') text.pop_back();
    return text;
}

uint32_t le32(const uint8_t* p) { return p[0] | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24); }

// A TIFF block that may come after "Exif\0\0".
std::string comment_of_exif(const uint8_t* p, size_t n) {
    if (n >= 6 && std::memcmp(p, "Exif\0\0", 6) == 0) return comment_of_tiff(p + 6, n - 6);
    return comment_of_tiff(p, n);
}

}  // namespace

std::string exif_user_comment(const uint8_t* data, size_t size) {
    if (size >= 4 && data[0] == 0xFF && data[1] == 0xD8) {
        // JPEG: marker segments up to the scan.
        size_t pos = 2;
        while (pos + 4 <= size) {
            if (data[pos] != 0xFF) return "";
            const uint8_t marker = data[pos + 1];
            if (marker == 0xFF) {  // fill byte
                ++pos;
                continue;
            }
            if (marker == 0xD9 || marker == 0xDA) return "";
            if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
                pos += 2;
                continue;
            }
            const size_t len = (size_t{data[pos + 2]} << 8) | data[pos + 3];
            if (len < 2 || len > size - pos - 2) return "";
            if (marker == 0xE1) {
                const std::string text = len >= 8 && std::memcmp(data + pos + 4, "Exif\0\0", 6) == 0 ? comment_of_tiff(data + pos + 10, len - 8) : "";
                if (!text.empty()) return text;
            }
            pos += 2 + len;
        }
        return "";
    }
    if (size >= 12 && std::memcmp(data, "RIFF", 4) == 0 && std::memcmp(data + 8, "WEBP", 4) == 0) {
        size_t pos = 12;
        while (pos + 8 <= size) {
            const uint64_t len = le32(data + pos + 4);
            if (len > size - pos - 8) return "";
            if (std::memcmp(data + pos, "EXIF", 4) == 0) return comment_of_exif(data + pos + 8, static_cast<size_t>(len));
            pos += 8 + static_cast<size_t>(len) + (len & 1);
        }
    }
    return "";
}

std::string image_file_parameters(const std::string& path) {
    const auto file = MappedFile::open(path);
    if (file->size() >= 8 && std::memcmp(file->data(), "\x89PNG\r\n\x1a\n", 8) == 0) {
        const auto text = read_png_text(path);
        const auto it = text.find("parameters");
        return it == text.end() ? "" : it->second;
    }
    return exif_user_comment(file->data(), file->size());
}

}  // namespace sdgimp::io
