#include "multicond.h"

#include <cstdlib>

#include "clip_tokenizer.h"
#include "unicode_classes.h"

namespace sdgimp::text {
namespace {

// Is s[i..end) exactly a number [-+]?(\d+\.?|\d*\.\d+) ?
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
    return digits > 0;  // "5", "5.", ".5" and "5.5" all match
}

// The start of the ":weight" tail of a sub-prompt, or its end when it has none. The reference regex
// takes the shortest text whose remainder is an optional ":number" plus whitespace, so trailing
// whitespace always goes and the weight is the last thing written.
size_t weight_tail(const std::u32string& s, size_t* end_out) {
    size_t end = s.size();
    while (end > 0 && is_py_space(s[end - 1])) --end;
    *end_out = end;
    size_t k = end;
    auto num_char = [](char32_t c) { return is_ascii_digit(c) || c == '.' || c == '+' || c == '-'; };
    while (k > 0 && num_char(s[k - 1])) --k;
    // A number holds at most one dot and a sign only in front: start no earlier than the last sign
    // or just after the next-to-last dot, then drop leading characters until it is valid.
    size_t dots = 0;
    for (size_t i = end; i > k; --i) {
        const char32_t c = s[i - 1];
        if (c == '+' || c == '-') { k = i - 1; break; }
        if (c == '.' && ++dots == 2) { k = i; break; }
    }
    while (k < end && !whole_number(s, k, end)) ++k;
    if (k == end) return end;
    size_t c = k;
    while (c > 0 && is_py_space(s[c - 1])) --c;
    if (c == 0 || s[c - 1] != ':') return end;
    size_t pos = c - 1;
    while (pos > 0 && is_py_space(s[pos - 1])) --pos;
    return pos;
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
        size_t end = 0;
        const size_t pos = weight_tail(piece, &end);
        WeightedSubprompt w;
        w.text = u32_to_utf8(piece.substr(0, pos));
        if (pos < end) {
            size_t k = pos;
            while (piece[k] != ':') ++k;
            ++k;
            while (is_py_space(piece[k])) ++k;
            w.weight = std::strtod(u32_to_utf8(piece.substr(k, end - k)).c_str(), nullptr);
        }
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
