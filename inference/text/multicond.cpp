#include "multicond.h"

#include <cstdlib>

#include "clip_tokenizer.h"
#include "unicode_classes.h"

namespace sdgimp::text {
namespace {

// Length of a number [-+]?(\d+\.?|\d*\.\d+) at s[i..end) that consumes the whole range, else 0.
bool whole_number(const std::u32string& s, size_t i, size_t end) {
    if (i < end && (s[i] == '+' || s[i] == '-')) ++i;
    size_t digits = 0, dots = 0, after_dot = 0;
    for (size_t k = i; k < end; ++k) {
        if (is_ascii_digit(s[k])) {
            ++digits;
            if (dots) ++after_dot;
        } else if (s[k] == '.' && dots == 0) {
            ++dots;
        } else {
            return false;
        }
    }
    if (digits == 0) return false;
    return dots == 0 || after_dot > 0 || digits > 0;  // "5." and ".5" and "5.5" all match
}

// Does s[pos..) match (?:\s*:\s*NUMBER)?\s*$ ? On success `weight` holds the number text, if any.
bool tail_matches(const std::u32string& s, size_t pos, std::u32string* weight) {
    size_t end = s.size();
    while (end > pos && is_py_space(s[end - 1])) --end;
    weight->clear();
    if (end == pos) return true;
    size_t k = pos;
    while (k < end && is_py_space(s[k])) ++k;
    if (k >= end || s[k] != ':') return false;
    ++k;
    while (k < end && is_py_space(s[k])) ++k;
    if (!whole_number(s, k, end)) return false;
    *weight = s.substr(k, end - k);
    return true;
}

}  // namespace

std::vector<WeightedSubprompt> split_and(const std::string& prompt) {
    const std::u32string s = utf8_to_u32(prompt);
    std::vector<std::u32string> pieces;
    size_t start = 0;
    for (size_t i = 0; i + 3 <= s.size(); ++i) {
        if (s[i] != 'A' || s[i + 1] != 'N' || s[i + 2] != 'D') continue;
        const bool left = i == 0 || !is_word_char(s[i - 1]);
        const bool right = i + 3 == s.size() || !is_word_char(s[i + 3]);
        if (!left || !right) continue;
        pieces.push_back(s.substr(start, i - start));
        start = i + 3;
        i += 2;
    }
    pieces.push_back(s.substr(start));

    std::vector<WeightedSubprompt> out;
    for (const auto& piece : pieces) {
        // The reference regex takes the shortest text whose remainder is an optional ":weight" plus
        // whitespace, so trailing whitespace always goes and the weight is the last one written.
        std::u32string weight;
        size_t pos = 0;
        while (!tail_matches(piece, pos, &weight)) ++pos;
        WeightedSubprompt w;
        w.text = u32_to_utf8(piece.substr(0, pos));
        w.weight = weight.empty() ? 1.0 : std::strtod(u32_to_utf8(weight).c_str(), nullptr);
        out.push_back(std::move(w));
    }
    return out;
}

MultiCondBatch multicond_batch(const std::vector<std::string>& prompts) {
    MultiCondBatch b;
    std::map<std::string, int> seen;
    for (const auto& p : prompts) {
        std::vector<std::pair<int, double>> idx;
        for (const auto& sub : split_and(p)) {
            auto it = seen.find(sub.text);
            if (it == seen.end()) {
                it = seen.emplace(sub.text, static_cast<int>(b.flat.size())).first;
                b.flat.push_back(sub.text);
            }
            idx.emplace_back(it->second, sub.weight);
        }
        b.indexes.push_back(std::move(idx));
    }
    return b;
}

}  // namespace sdgimp::text
