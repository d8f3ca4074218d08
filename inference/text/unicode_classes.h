// Python's Unicode character classes (\w, \s) on code points, for the A1111 regexes we reproduce.
#pragma once

#include <cwctype>

namespace sdgimp::text {

inline bool is_word_char(char32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    return std::iswalnum(static_cast<wint_t>(c)) != 0;
}

inline bool is_py_space(char32_t c) {
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

inline bool is_ascii_digit(char32_t c) { return c >= '0' && c <= '9'; }

}  // namespace sdgimp::text
