#include "prompt_attention.h"

#include <cstdlib>
#include <cwctype>

#include "../status.h"
#include "clip_tokenizer.h"

namespace sdgimp::text {
namespace {

bool is_word_char(char32_t c) {
    if (c < 0x80) return std::isalnum(static_cast<int>(c)) || c == U'_';
    return std::iswalnum(static_cast<wint_t>(c)) != 0;
}

bool is_ws(char32_t c) { return c == U' ' || (c >= 0x09 && c <= 0x0d) || c == 0x85 || c == 0xa0 || c == 0x3000 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029; }

// re.split(r"\s*\bBREAK\b\s*", text)
std::vector<std::u32string> split_break(const std::u32string& s) {
    std::vector<std::u32string> parts;
    static const std::u32string kBreak = U"BREAK";
    size_t start = 0, i = 0;
    while (i < s.size()) {
        size_t p = s.find(kBreak, i);
        if (p == std::u32string::npos) break;
        const bool left = p == 0 || !is_word_char(s[p - 1]);
        const bool right = p + 5 >= s.size() || !is_word_char(s[p + 5]);
        if (!left || !right) { i = p + 1; continue; }
        size_t a = p;
        while (a > start && is_ws(s[a - 1])) --a;
        size_t b = p + 5;
        while (b < s.size() && is_ws(s[b])) ++b;
        parts.push_back(s.substr(start, a - start));
        start = b;
        i = b;
    }
    parts.push_back(s.substr(start));
    return parts;
}

}  // namespace

std::vector<Fragment> parse_prompt_attention(const std::string& prompt) {
    const std::u32string s = utf8_to_u32(prompt);
    std::vector<Fragment> res;
    std::vector<size_t> round, square;
    auto multiply = [&](size_t from, double m) {
        for (size_t p = from; p < res.size(); ++p) res[p].weight *= m;
    };
    size_t i = 0;
    while (i < s.size()) {
        const char32_t c = s[i];
        if (c == U'\\') {
            // "\(", "\)", "\[", "\]", "\\" keep the character; a lone "\" is dropped.
            if (i + 1 < s.size() && (s[i + 1] == U'(' || s[i + 1] == U')' || s[i + 1] == U'[' || s[i + 1] == U']' || s[i + 1] == U'\\')) {
                res.push_back({u32_to_utf8(s.substr(i + 1, 1)), 1.0});
                i += 2;
            } else {
                res.push_back({"", 1.0});
                i += 1;
            }
            continue;
        }
        if (c == U'(') { round.push_back(res.size()); ++i; continue; }
        if (c == U'[') { square.push_back(res.size()); ++i; continue; }
        if (c == U':') {
            // ":\s*([+-]?[.\d]+)\s*\)"
            size_t j = i + 1;
            while (j < s.size() && is_ws(s[j])) ++j;
            size_t num_start = j;
            if (j < s.size() && (s[j] == U'+' || s[j] == U'-')) ++j;
            size_t digits = j;
            while (j < s.size() && (s[j] == U'.' || (s[j] >= U'0' && s[j] <= U'9'))) ++j;
            size_t num_end = j;
            while (j < s.size() && is_ws(s[j])) ++j;
            if (num_end > digits && j < s.size() && s[j] == U')') {
                if (!round.empty()) {
                    const std::string num = u32_to_utf8(s.substr(num_start, num_end - num_start));
                    char* end = nullptr;
                    const double w = std::strtod(num.c_str(), &end);
                    if (end == num.c_str() || *end != 0)
                        throw Error(ErrorCode::kInvalidRequest, "The prompt has an invalid emphasis weight '" + num +
                                                                    "'; write a number such as (word:1.2).");
                    multiply(round.back(), w);
                    round.pop_back();
                } else {
                    res.push_back({u32_to_utf8(s.substr(i, j + 1 - i)), 1.0});
                }
                i = j + 1;
                continue;
            }
            res.push_back({":", 1.0});
            ++i;
            continue;
        }
        if (c == U')' && !round.empty()) { multiply(round.back(), 1.1); round.pop_back(); ++i; continue; }
        if (c == U']' && !square.empty()) { multiply(square.back(), 1 / 1.1); square.pop_back(); ++i; continue; }
        std::u32string run;
        if (c == U')' || c == U']') {
            run.push_back(c);
            ++i;
        } else {
            while (i < s.size() && s[i] != U'\\' && s[i] != U'(' && s[i] != U')' && s[i] != U'[' && s[i] != U']' && s[i] != U':')
                run.push_back(s[i++]);
        }
        auto parts = split_break(run);
        for (size_t k = 0; k < parts.size(); ++k) {
            if (k > 0) res.push_back({"BREAK", -1});
            res.push_back({u32_to_utf8(parts[k]), 1.0});
        }
    }
    for (size_t p : round) multiply(p, 1.1);
    for (size_t p : square) multiply(p, 1 / 1.1);
    if (res.empty()) res.push_back({"", 1.0});
    for (size_t k = 0; k + 1 < res.size();) {
        if (res[k].weight == res[k + 1].weight) {
            res[k].text += res[k + 1].text;
            res.erase(res.begin() + static_cast<long>(k) + 1);
        } else {
            ++k;
        }
    }
    return res;
}

}  // namespace sdgimp::text
