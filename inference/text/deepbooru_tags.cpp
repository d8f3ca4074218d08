#include "deepbooru_tags.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <utility>

#include "status.h"

namespace sdgimp::text {
namespace {

// Python's str.strip() for the ASCII whitespace a settings field holds.
std::string strip(const std::string& s) {
    const char* space = " \t\n\r\f\v";
    const size_t a = s.find_first_not_of(space);
    if (a == std::string::npos) return "";
    return s.substr(a, s.find_last_not_of(space) - a + 1);
}

}  // namespace

void validate_deepbooru_options(const DeepBooruOptions& o) {
    if (!(o.threshold >= 0 && o.threshold <= 1))
        throw Error(ErrorCode::kInvalidRequest, "The DeepBooru score threshold must be between 0 and 1.");
}

std::string deepbooru_text(const std::vector<std::string>& tags, const std::vector<float>& probabilities, const DeepBooruOptions& o) {
    // NumPy 1.26 (A1111 1.10's) compares a float32 score with a Python float in float64.
    std::vector<std::pair<std::string, float>> kept;
    std::set<std::string> seen;
    for (size_t i = 0; i < std::min(tags.size(), probabilities.size()); ++i) {
        if (static_cast<double>(probabilities[i]) < o.threshold || tags[i].rfind("rating:", 0) == 0) continue;
        // A dict: a tag listed twice keeps its first place and its last score.
        if (!seen.insert(tags[i]).second) {
            for (auto& kv : kept)
                if (kv.first == tags[i]) kv.second = probabilities[i];
            continue;
        }
        kept.emplace_back(tags[i], probabilities[i]);
    }
    if (o.sort_alpha) std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    else std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    std::set<std::string> filtered;
    for (size_t start = 0; start <= o.filter_tags.size();) {
        const size_t end = std::min(o.filter_tags.find(',', start), o.filter_tags.size());
        std::string t = strip(o.filter_tags.substr(start, end - start));
        std::replace(t.begin(), t.end(), ' ', '_');
        filtered.insert(t);
        start = end + 1;
    }
    std::string out;
    for (const auto& [tag, p] : kept) {
        if (filtered.count(tag)) continue;
        std::string t = tag;
        if (o.use_spaces) std::replace(t.begin(), t.end(), '_', ' ');
        if (o.escape) {
            std::string e;
            for (char c : t) {
                if (c == '\\' || c == '(' || c == ')') e += '\\';
                e += c;
            }
            t = e;
        }
        if (o.include_ranks) {
            char rank[32];
            std::snprintf(rank, sizeof rank, "%.3f", static_cast<double>(p));
            t = "(" + t + ":" + rank + ")";
        }
        out += (out.empty() ? "" : ", ") + t;
    }
    return out;
}

}  // namespace sdgimp::text
