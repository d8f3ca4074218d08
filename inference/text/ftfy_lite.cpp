#include "ftfy_lite.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/ustring.h>

#include <map>
#include <vector>

namespace sdgimp::text {
namespace {

icu::UnicodeString to_icu(const std::u32string& s) {
    return icu::UnicodeString::fromUTF32(reinterpret_cast<const UChar32*>(s.data()), static_cast<int32_t>(s.size()));
}

std::u32string from_icu(const icu::UnicodeString& u) {
    std::u32string out(static_cast<size_t>(u.countChar32()), U'\0');
    UErrorCode err = U_ZERO_ERROR;
    u.toUTF32(reinterpret_cast<UChar32*>(out.data()), static_cast<int32_t>(out.size()), err);
    return out;
}

// "Sloppy" Windows-1252: the bytes cp1252 leaves undefined map to the same code points (C1 controls),
// so every byte has a character, as ftfy assumes when it undoes mojibake.
int sloppy_cp1252_byte(char32_t c) {
    if (c < 0x80 || (c >= 0xA0 && c <= 0xFF)) return static_cast<int>(c);
    static const std::map<char32_t, int> kHigh = {
        {0x20AC, 0x80}, {0x201A, 0x82}, {0x0192, 0x83}, {0x201E, 0x84}, {0x2026, 0x85}, {0x2020, 0x86}, {0x2021, 0x87},
        {0x02C6, 0x88}, {0x2030, 0x89}, {0x0160, 0x8A}, {0x2039, 0x8B}, {0x0152, 0x8C}, {0x017D, 0x8E}, {0x2018, 0x91},
        {0x2019, 0x92}, {0x201C, 0x93}, {0x201D, 0x94}, {0x2022, 0x95}, {0x2013, 0x96}, {0x2014, 0x97}, {0x02DC, 0x98},
        {0x2122, 0x99}, {0x0161, 0x9A}, {0x203A, 0x9B}, {0x0153, 0x9C}, {0x017E, 0x9E}, {0x0178, 0x9F},
        {0x81, 0x81}, {0x8D, 0x8D}, {0x8F, 0x8F}, {0x90, 0x90}, {0x9D, 0x9D}};
    auto it = kHigh.find(c);
    return it == kHigh.end() ? -1 : it->second;
}

// Strict UTF-8 decoding; false on any invalid sequence.
bool decode_utf8(const std::string& b, std::u32string* out) {
    out->clear();
    for (size_t i = 0; i < b.size();) {
        const unsigned char c = static_cast<unsigned char>(b[i]);
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + static_cast<size_t>(len) > b.size()) return false;
        char32_t cp = len == 1 ? c : c & (0x7F >> len);
        for (int k = 1; k < len; ++k) {
            const unsigned char cc = static_cast<unsigned char>(b[i + static_cast<size_t>(k)]);
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        out->push_back(cp);
        i += static_cast<size_t>(len);
    }
    return true;
}

// Each run of cp1252-encodable characters that holds non-ASCII and whose bytes are valid UTF-8 is
// text that was decoded with the wrong codec: decode it again.
std::u32string fix_mojibake(const std::u32string& s) {
    std::u32string out;
    size_t i = 0;
    while (i < s.size()) {
        if (sloppy_cp1252_byte(s[i]) < 0) {
            out.push_back(s[i++]);
            continue;
        }
        size_t j = i;
        std::string bytes;
        bool high = false;
        while (j < s.size()) {
            const int b = sloppy_cp1252_byte(s[j]);
            if (b < 0) break;
            bytes.push_back(static_cast<char>(b));
            high = high || b >= 0x80;
            ++j;
        }
        std::u32string fixed;
        if (high && decode_utf8(bytes, &fixed) && fixed.size() < j - i) out += fixed;
        else out.append(s, i, j - i);
        i = j;
    }
    return out;
}

const std::map<char32_t, std::u32string>& ligatures() {
    static const std::map<char32_t, std::u32string> m = {
        {0x0132, U"IJ"}, {0x0133, U"ij"}, {0x0149, U"ʼn"}, {0x01C4, U"DŽ"}, {0x01C5, U"Dž"}, {0x01C6, U"dž"},
        {0x01C7, U"LJ"}, {0x01C8, U"Lj"}, {0x01C9, U"lj"}, {0x01CA, U"NJ"}, {0x01CB, U"Nj"}, {0x01CC, U"nj"},
        {0x01F1, U"DZ"}, {0x01F2, U"Dz"}, {0x01F3, U"dz"}, {0xFB00, U"ff"}, {0xFB01, U"fi"}, {0xFB02, U"fl"},
        {0xFB03, U"ffi"}, {0xFB04, U"ffl"}, {0xFB05, U"ſt"}, {0xFB06, U"st"}};
    return m;
}

}  // namespace

std::u32string ftfy_fix(const std::u32string& in) {
    std::u32string s = fix_mojibake(in);
    std::u32string out;
    out.reserve(s.size());
    for (char32_t c : s) {
        if (auto it = ligatures().find(c); it != ligatures().end()) {
            out += it->second;
        } else if (c >= 0xFF01 && c <= 0xFF5E) {
            out.push_back(c - 0xFEE0);  // full-width ASCII forms
        } else if (c == 0x3000) {
            out.push_back(U' ');
        } else if (c == 0x2018 || c == 0x2019 || c == 0x201A || c == 0x201B) {
            out.push_back(U'\'');
        } else if (c == 0x201C || c == 0x201D || c == 0x201E || c == 0x201F) {
            out.push_back(U'"');
        } else {
            out.push_back(c);
        }
    }
    UErrorCode err = U_ZERO_ERROR;
    const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(err);
    if (U_FAILURE(err)) return out;
    icu::UnicodeString n = nfc->normalize(to_icu(out), err);
    return U_FAILURE(err) ? out : from_icu(n);
}

std::u32string unicode_lower(const std::u32string& s) {
    icu::UnicodeString u = to_icu(s);
    u.toLower(icu::Locale::getRoot());
    return from_icu(u);
}

bool is_unicode_letter(char32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_L_MASK) != 0;
}

bool is_unicode_number(char32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_N_MASK) != 0;
}

}  // namespace sdgimp::text
