#include "extra_networks.h"

#include "clip_tokenizer.h"
#include "unicode_classes.h"

namespace sdgimp::text {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out(1);
    for (char c : s) {
        if (c == sep) out.emplace_back();
        else out.back().push_back(c);
    }
    return out;
}

}  // namespace

ExtraNetworkTags parse_extra_networks(const std::string& prompt) {
    // <(\w+):([^>]+)>, scanned left to right without overlaps as re.sub does.
    const std::u32string s = utf8_to_u32(prompt);
    ExtraNetworkTags out;
    std::u32string kept;
    size_t i = 0;
    while (i < s.size()) {
        if (s[i] == '<') {
            size_t k = i + 1;
            while (k < s.size() && is_word_char(s[k])) ++k;
            if (k > i + 1 && k < s.size() && s[k] == ':') {
                const size_t args_begin = k + 1;
                size_t close = args_begin;
                while (close < s.size() && s[close] != '>') ++close;
                if (close < s.size() && close > args_begin) {
                    const std::string name = u32_to_utf8(s.substr(i + 1, k - i - 1));
                    ExtraNetworkCall call;
                    call.items = split(u32_to_utf8(s.substr(args_begin, close - args_begin)), ':');
                    for (const auto& item : call.items) {
                        auto parts = split(item, '=');
                        if (parts.size() == 2) call.named[parts[0]] = parts[1];
                        else call.positional.push_back(item);
                    }
                    auto it = out.networks.begin();
                    while (it != out.networks.end() && it->first != name) ++it;
                    if (it == out.networks.end()) {
                        out.networks.emplace_back(name, std::vector<ExtraNetworkCall>{});
                        it = out.networks.end() - 1;
                    }
                    it->second.push_back(std::move(call));
                    i = close + 1;
                    continue;
                }
            }
        }
        kept.push_back(s[i]);
        ++i;
    }
    out.stripped = u32_to_utf8(kept);
    return out;
}

}  // namespace sdgimp::text
