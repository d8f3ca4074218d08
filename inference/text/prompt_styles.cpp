#include "prompt_styles.h"

#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "../status.h"
#include "clip_tokenizer.h"
#include "unicode_classes.h"

namespace sdgimp::text {

std::string py_strip(const std::string& s) {
    const std::u32string u = utf8_to_u32(s);
    size_t b = 0, e = u.size();
    while (b < e && is_py_space(u[b])) ++b;
    while (e > b && is_py_space(u[e - 1])) --e;
    return u32_to_utf8(u.substr(b, e - b));
}

namespace {

// Python's csv.reader, excel dialect with skipinitialspace: one record per call, [] for a blank line.
class CsvReader {
public:
    explicit CsvReader(const std::string& text) : s_(text) {}
    bool next(std::vector<std::string>* record) {
        record->clear();
        if (pos_ >= s_.size()) return false;
        std::string field;
        enum { kStart, kField, kQuoted, kQuoteInQuoted } state = kStart;
        bool any = false;  // a record with at least a delimiter or a character
        while (pos_ < s_.size()) {
            const char c = s_[pos_++];
            if (state == kQuoted) {
                if (c == '"') state = kQuoteInQuoted;
                else field.push_back(c);
                continue;
            }
            if (c == '\r' || c == '\n') {
                if (c == '\r' && pos_ < s_.size() && s_[pos_] == '\n') ++pos_;
                if (any || state != kStart) record->push_back(field);
                return true;
            }
            any = true;
            if (state == kQuoteInQuoted) {
                if (c == '"') { field.push_back('"'); state = kQuoted; continue; }
                state = kField;  // characters after a closing quote are kept
            }
            if (c == ',') {
                record->push_back(field);
                field.clear();
                state = kStart;
            } else if (state == kStart && c == ' ') {
                // skipinitialspace
            } else if (state == kStart && c == '"') {
                state = kQuoted;
            } else {
                field.push_back(c);
                state = kField;
            }
        }
        if (state == kQuoted) throw std::runtime_error("unexpected end of data inside a quoted field");
        if (any || state != kStart) record->push_back(field);
        return true;
    }

private:
    const std::string& s_;
    size_t pos_ = 0;
};

}  // namespace

std::vector<PromptStyle> parse_styles_csv(const std::string& text_in, const std::string& path) {
    std::string text = text_in;
    if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // utf-8-sig
    CsvReader reader(text);
    std::vector<std::string> header, row;
    try {
        while (reader.next(&header) && header.empty()) {
        }
        if (header.empty()) return {};
        std::map<std::string, size_t> column;
        for (size_t i = 0; i < header.size(); ++i)
            if (!column.count(header[i])) column[header[i]] = i;
        const auto col = [&](const char* n) { auto it = column.find(n); return it == column.end() ? std::string::npos : it->second; };
        const size_t name = col("name"), prompt = col("prompt") != std::string::npos ? col("prompt") : col("text"),
                     negative = col("negative_prompt");
        if (name == std::string::npos || prompt == std::string::npos)
            throw Error(ErrorCode::kBadFile, path + ": has no name and prompt columns; it is not an A1111 styles file.");
        std::vector<PromptStyle> out;
        std::map<std::string, size_t> index;
        while (reader.next(&row)) {
            if (row.empty()) continue;
            // A short row's missing fields are None in A1111; they merge as nothing here.
            const auto field = [&](size_t i) { return i != std::string::npos && i < row.size() ? row[i] : std::string(); };
            PromptStyle st{field(name), field(prompt), field(negative)};
            if (st.name.rfind('#', 0) == 0) continue;
            auto it = index.find(st.name);
            if (it != index.end()) {
                out[it->second] = st;
            } else {
                index[st.name] = out.size();
                out.push_back(st);
            }
        }
        return out;
    } catch (const Error&) {
        throw;
    } catch (const std::runtime_error& e) {
        throw Error(ErrorCode::kBadFile, path + ": " + e.what() + "; the styles file is damaged.");
    }
}

std::vector<PromptStyle> read_styles_csv(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error(ErrorCode::kBadFile, path + ": cannot be read; check that the styles file exists.");
    std::ostringstream ss;
    ss << f.rdbuf();
    if (ss.str().size() > (size_t(64) << 20)) throw Error(ErrorCode::kBadFile, path + ": is over 64 MiB; it is not a styles file.");
    return parse_styles_csv(ss.str(), path);
}

std::string merge_style(const std::string& style_text, const std::string& prompt) {
    const std::string marker = "{prompt}";
    if (style_text.find(marker) != std::string::npos) {
        std::string out;
        size_t from = 0, at;
        while ((at = style_text.find(marker, from)) != std::string::npos) {
            out += style_text.substr(from, at - from) + prompt;
            from = at + marker.size();
        }
        return out + style_text.substr(from);
    }
    const std::string p = py_strip(prompt), s = py_strip(style_text);
    if (p.empty()) return s;
    if (s.empty()) return p;
    return p + ", " + s;
}

std::pair<std::string, std::string> apply_styles(const std::vector<PromptStyle>& styles, const std::string& prompt,
                                                 const std::string& negative_prompt) {
    std::string p = prompt, n = negative_prompt;
    for (const auto& st : styles) {
        p = merge_style(st.prompt, p);
        n = merge_style(st.negative_prompt, n);
    }
    return {p, n};
}

void apply_styles_to_run(const std::vector<PromptStyle>& styles, std::string* prompt, std::string* negative_prompt,
                         std::string* hr_prompt, std::string* hr_negative_prompt) {
    std::tie(*prompt, *negative_prompt) = apply_styles(styles, *prompt, *negative_prompt);
    if (!hr_prompt->empty()) *hr_prompt = apply_styles(styles, *hr_prompt, "").first;
    if (!hr_negative_prompt->empty()) *hr_negative_prompt = apply_styles(styles, "", *hr_negative_prompt).second;
}

const PromptStyle* find_style(const std::vector<PromptStyle>& styles, const std::string& name) {
    for (const auto& s : styles)
        if (s.name == name) return &s;
    return nullptr;
}

}  // namespace sdgimp::text
