#include "yaml_lite.h"

#include <cstdlib>
#include <vector>

#include "../status.h"

namespace sdgimp::io {
namespace {

struct Line {
    int indent;
    std::string text;  // without indent, comment and trailing spaces
    int number;
};

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return "";
    size_t e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

std::string strip_comment(const std::string& s) {
    char quote = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        if (quote) { if (s[i] == quote) quote = 0; continue; }
        if (s[i] == '"' || s[i] == '\'') quote = s[i];
        else if (s[i] == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) return s.substr(0, i);
    }
    return s;
}

// Nesting past these is no model config; the limits keep a hostile file from exhausting the stack.
constexpr int kMaxFlowDepth = 16;
constexpr int kMaxBlockDepth = 64;

nlohmann::json scalar(const std::string& raw, int depth = 0) {
    std::string s = trim(raw);
    if (s.empty() || s == "null" || s == "~" || s == "None") return nullptr;
    if (s.size() >= 2 && ((s.front() == '"' && s.back() == '"') || (s.front() == '\'' && s.back() == '\'')))
        return s.substr(1, s.size() - 2);
    if (s == "true" || s == "True") return true;
    if (s == "false" || s == "False") return false;
    if (s.front() == '[' && s.back() == ']' && depth < kMaxFlowDepth) {
        nlohmann::json arr = nlohmann::json::array();
        std::string inner = s.substr(1, s.size() - 2);
        size_t start = 0;
        if (trim(inner).empty()) return arr;
        for (size_t i = 0; i <= inner.size(); ++i) {
            if (i == inner.size() || inner[i] == ',') {
                arr.push_back(scalar(inner.substr(start, i - start), depth + 1));
                start = i + 1;
            }
        }
        return arr;
    }
    char* end = nullptr;
    long long iv = std::strtoll(s.c_str(), &end, 10);
    if (*end == 0) return iv;
    double dv = std::strtod(s.c_str(), &end);
    if (*end == 0) return dv;
    return s;
}

class Parser {
public:
    Parser(std::vector<Line> lines, std::string name) : lines_(std::move(lines)), name_(std::move(name)) {}

    nlohmann::json parse_block(size_t* i, int indent, int depth = 0) {
        if (*i >= lines_.size()) return nullptr;
        if (depth > kMaxBlockDepth) fail(lines_[*i], "nesting deeper than any model config has");
        const bool is_seq = lines_[*i].text.rfind("- ", 0) == 0 || lines_[*i].text == "-";
        nlohmann::json node = is_seq ? nlohmann::json::array() : nlohmann::json::object();
        while (*i < lines_.size() && lines_[*i].indent == indent) {
            const Line& ln = lines_[*i];
            if (is_seq) {
                if (ln.text.rfind("-", 0) != 0) fail(ln, "expected a '- ' list item");
                std::string rest = trim(ln.text.substr(1));
                ++*i;
                if (rest.empty()) node.push_back(child(i, indent, depth));
                else if (rest.find(": ") != std::string::npos || rest.back() == ':')
                    fail(ln, "mappings inside list items are not supported");
                else node.push_back(scalar(rest));
            } else {
                size_t colon = find_key_colon(ln.text);
                if (colon == std::string::npos) fail(ln, "expected 'key: value'");
                std::string key = trim(ln.text.substr(0, colon));
                std::string rest = trim(ln.text.substr(colon + 1));
                ++*i;
                if (rest.empty()) node[key] = child(i, indent, depth);
                else if (rest[0] == '&' || rest[0] == '*' || rest[0] == '|' || rest[0] == '>') fail(ln, "anchors and block strings are not supported");
                else node[key] = scalar(rest);
            }
        }
        if (*i < lines_.size() && lines_[*i].indent > indent) fail(lines_[*i], "unexpected indentation");
        return node;
    }

private:
    nlohmann::json child(size_t* i, int parent_indent, int depth) {
        if (*i >= lines_.size() || lines_[*i].indent < parent_indent) return nullptr;
        // "key:\n- item" at the same indent is a valid YAML sequence value.
        if (lines_[*i].indent == parent_indent) {
            if (lines_[*i].text.rfind("- ", 0) == 0) {
                nlohmann::json arr = nlohmann::json::array();
                while (*i < lines_.size() && lines_[*i].indent == parent_indent && lines_[*i].text.rfind("- ", 0) == 0) {
                    arr.push_back(scalar(lines_[*i].text.substr(2)));
                    ++*i;
                }
                return arr;
            }
            return nullptr;
        }
        return parse_block(i, lines_[*i].indent, depth + 1);
    }

    static size_t find_key_colon(const std::string& s) {
        char quote = 0;
        for (size_t i = 0; i < s.size(); ++i) {
            if (quote) { if (s[i] == quote) quote = 0; continue; }
            if (s[i] == '"' || s[i] == '\'') quote = s[i];
            else if (s[i] == ':' && (i + 1 == s.size() || s[i + 1] == ' ')) return i;
        }
        return std::string::npos;
    }

    [[noreturn]] void fail(const Line& ln, const std::string& why) const {
        throw_bad_file(name_, "line " + std::to_string(ln.number) + ": " + why + "; fix the YAML or remove it.");
    }

    std::vector<Line> lines_;
    std::string name_;
};

}  // namespace

nlohmann::json parse_yaml_lite(const std::string& text, const std::string& name) {
    std::vector<Line> lines;
    size_t start = 0;
    int number = 0;
    while (start <= text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string raw = text.substr(start, end - start);
        ++number;
        start = end + 1;
        std::string body = strip_comment(raw);
        if (trim(body).empty() || trim(body) == "---") continue;
        int indent = 0;
        while (indent < static_cast<int>(body.size()) && body[indent] == ' ') ++indent;
        if (body[indent] == '\t') throw_bad_file(name, "line " + std::to_string(number) + " is indented with a tab; YAML needs spaces.");
        lines.push_back({indent, trim(body), number});
        if (lines.size() > 100000) throw_bad_file(name, "is too long to be a model config.");
    }
    if (lines.empty()) return nlohmann::json::object();
    Parser p(lines, name);
    size_t i = 0;
    nlohmann::json root = p.parse_block(&i, lines[0].indent);
    if (i < lines.size()) throw_bad_file(name, "line " + std::to_string(lines[i].number) + " is indented less than the first line; fix the YAML.");
    return root;
}

}  // namespace sdgimp::io
