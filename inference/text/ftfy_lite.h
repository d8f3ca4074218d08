// The parts of ftfy.fix_text (default settings) that change prompts: mojibake repair (UTF-8 read
// as Windows-1252), Latin ligatures, full-width forms, curly quotes, NFC; plus Python's full
// Unicode lower-casing and the letter/number classes of the CLIP pre-tokenizer (via ICU).
#pragma once

#include <string>

namespace sdgimp::text {

std::u32string ftfy_fix(const std::u32string& s);
std::u32string unicode_lower(const std::u32string& s);  // str.lower(): final sigma, İ → i̇
bool is_unicode_letter(char32_t c);  // \p{L}
bool is_unicode_number(char32_t c);  // \p{N}

}  // namespace sdgimp::text
