#include "prompts_from_file.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "status.h"
#include "text/prompt_styles.h"

namespace sdgimp {

std::vector<std::string> shlex_split(const std::string& s) {
    auto bad = [](const char* why) { throw Error(ErrorCode::kInvalidRequest, why); };
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    std::vector<std::string> out;
    size_t i = 0;
    while (true) {
        // One token: shlex's read_token with whitespace_split, posix and no commenters.
        std::string token;
        bool quoted = false, any = false;
        char state = ' ', escaped_state = 'a';
        for (;; ++i) {
            if (i >= s.size()) {
                if (state == '\'' || state == '"') bad("No closing quotation");
                if (state == '\\') bad("No escaped character");
                break;
            }
            const char c = s[i];
            if (state == ' ') {
                if (space(c)) continue;
                any = true;
                if (c == '\\') { escaped_state = 'a'; state = '\\'; }
                else if (c == '\'' || c == '"') state = c;
                else { token += c; state = 'a'; }
            } else if (state == '\'' || state == '"') {
                quoted = true;
                if (c == state) state = 'a';
                else if (c == '\\' && state == '"') { escaped_state = state; state = '\\'; }
                else token += c;
            } else if (state == '\\') {
                // Inside double quotes a backslash escapes only a quote or itself.
                if (escaped_state == '"' && c != '\\' && c != '"') token += '\\';
                token += c;
                state = escaped_state;
            } else {  // 'a': inside a word
                if (space(c)) { ++i; break; }
                if (c == '\'' || c == '"') state = c;
                else if (c == '\\') { escaped_state = 'a'; state = '\\'; }
                else token += c;
            }
        }
        if (!any) break;
        if (token.empty() && !quoted) continue;
        out.push_back(token);
        if (i >= s.size()) break;
    }
    return out;
}

namespace {

// Python's int(str) and float(str) for the values a line gives; false where Python raises.
bool digits_with_underscores(const std::string& s, size_t b, size_t e) {
    if (b >= e || !std::isdigit(static_cast<unsigned char>(s[b])) || !std::isdigit(static_cast<unsigned char>(s[e - 1]))) return false;
    for (size_t k = b; k < e; ++k) {
        const char c = s[k];
        if (c == '_') {
            if (!std::isdigit(static_cast<unsigned char>(s[k + 1]))) return false;
        } else if (!std::isdigit(static_cast<unsigned char>(c))) {
            return false;
        }
    }
    return true;
}

std::string without_underscores(std::string s) {
    s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
    return s;
}

bool py_int(const std::string& raw, int64_t* out) {
    const std::string t = text::py_strip(raw);
    size_t b = 0;
    if (b < t.size() && (t[b] == '+' || t[b] == '-')) ++b;
    if (!digits_with_underscores(t, b, t.size())) return false;
    const std::string d = without_underscores(t);
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(d.c_str(), &end, 10);
    if (errno == ERANGE || *end) return false;  // beyond 64 bits: no field takes it
    *out = v;
    return true;
}

bool py_float(const std::string& raw, double* out) {
    std::string t = text::py_strip(raw);
    size_t b = 0;
    const bool neg = b < t.size() && t[b] == '-';
    if (b < t.size() && (t[b] == '+' || t[b] == '-')) ++b;
    std::string rest = t.substr(b);
    std::string lower = rest;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "inf" || lower == "infinity" || lower == "nan") {
        *out = lower == "nan" ? std::nan("") : (neg ? -HUGE_VAL : HUGE_VAL);
        return true;
    }
    // digits [. digits] [e [sign] digits], each run of digits possibly with single underscores.
    size_t k = 0;
    auto run = [&](bool required) {
        const size_t start = k;
        while (k < rest.size() && (std::isdigit(static_cast<unsigned char>(rest[k])) || rest[k] == '_')) ++k;
        if (start == k) return !required;
        return digits_with_underscores(rest, start, k);
    };
    const size_t int_start = k;
    if (!run(false)) return false;
    const bool int_digits = k > int_start;
    bool frac_digits = false;
    if (k < rest.size() && rest[k] == '.') {
        ++k;
        const size_t f = k;
        if (!run(false)) return false;
        frac_digits = k > f;
    }
    if (!int_digits && !frac_digits) return false;
    if (k < rest.size() && (rest[k] == 'e' || rest[k] == 'E')) {
        ++k;
        if (k < rest.size() && (rest[k] == '+' || rest[k] == '-')) ++k;
        if (!run(true)) return false;
    }
    if (k != rest.size()) return false;
    *out = std::strtod(without_underscores(t).c_str(), nullptr);
    return true;
}

enum class TagKind { kString, kInt, kFloat, kBool, kModel };

// A1111's prompt_tags.
const std::vector<std::pair<std::string, TagKind>>& tag_kinds() {
    static const std::vector<std::pair<std::string, TagKind>> t = {
        {"sd_model", TagKind::kModel}, {"outpath_samples", TagKind::kString}, {"outpath_grids", TagKind::kString},
        {"prompt_for_display", TagKind::kString}, {"prompt", TagKind::kString}, {"negative_prompt", TagKind::kString},
        {"styles", TagKind::kString}, {"seed", TagKind::kInt}, {"subseed_strength", TagKind::kFloat}, {"subseed", TagKind::kInt},
        {"seed_resize_from_h", TagKind::kInt}, {"seed_resize_from_w", TagKind::kInt}, {"sampler_index", TagKind::kInt},
        {"sampler_name", TagKind::kString}, {"batch_size", TagKind::kInt}, {"n_iter", TagKind::kInt}, {"steps", TagKind::kInt},
        {"cfg_scale", TagKind::kFloat}, {"width", TagKind::kInt}, {"height", TagKind::kInt}, {"restore_faces", TagKind::kBool},
        {"tiling", TagKind::kBool}, {"do_not_save_samples", TagKind::kBool}, {"do_not_save_grid", TagKind::kBool}};
    return t;
}

// A1111's cmdargs; throws sdgimp::Error where it fails an assertion or a conversion.
std::vector<std::pair<std::string, std::string>> cmdargs(const std::string& line, const std::function<bool(const std::string&)>& known_checkpoint) {
    auto bad = [](const std::string& why) { throw Error(ErrorCode::kInvalidRequest, why); };
    const std::vector<std::string> args = shlex_split(line);
    std::vector<std::pair<std::string, std::string>> res;
    auto set = [&](const std::string& tag, const std::string& v) {
        // A later tag of the same name replaces the earlier value in its place (a dict).
        for (auto& kv : res)
            if (kv.first == tag) { kv.second = v; return; }
        res.emplace_back(tag, v);
    };
    size_t pos = 0;
    while (pos < args.size()) {
        const std::string& arg = args[pos];
        if (arg.compare(0, 2, "--") != 0) bad("must start with \"--\": " + arg);
        if (pos + 1 >= args.size()) bad("missing argument for command line option " + arg);
        const std::string tag = arg.substr(2);
        if (tag == "prompt" || tag == "negative_prompt") {
            std::string prompt = args[++pos];
            ++pos;
            while (pos < args.size() && args[pos].compare(0, 2, "--") != 0) prompt += " " + args[pos++];
            set(tag, prompt);
            continue;
        }
        const auto it = std::find_if(tag_kinds().begin(), tag_kinds().end(), [&](const auto& k) { return k.first == tag; });
        if (it == tag_kinds().end()) bad("unknown commandline option: " + arg);
        const std::string& val = args[pos + 1];
        int64_t iv = 0;
        double fv = 0;
        if (it->second == TagKind::kInt && !py_int(val, &iv)) bad("invalid literal for int() with base 10: '" + val + "'");
        if (it->second == TagKind::kFloat && !py_float(val, &fv)) bad("could not convert string to float: '" + val + "'");
        if (it->second == TagKind::kModel && !(known_checkpoint && known_checkpoint(val))) bad("Unknown checkpoint: " + val);
        set(tag, val);
        pos += 2;
    }
    return res;
}

}  // namespace

std::vector<PromptLine> prompt_lines(const std::string& text, const std::function<bool(const std::string&)>& known_checkpoint) {
    std::vector<PromptLine> out;
    // str.splitlines(): \n, \r\n, \r and the other line boundaries Python knows in ASCII.
    std::vector<std::string> lines;
    std::string cur;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '\x1c' || c == '\x1d' || c == '\x1e') {
            lines.push_back(cur);
            cur.clear();
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) lines.push_back(cur);
    for (const auto& raw : lines) {
        PromptLine l;
        l.text = text::py_strip(raw);
        if (l.text.empty()) continue;
        if (l.text.find("--") != std::string::npos) {
            try {
                l.tags = cmdargs(l.text, known_checkpoint);
                l.whole_prompt = false;
            } catch (const Error& e) {
                l.why_whole = e.what();
            }
        }
        if (l.whole_prompt) l.tags = {{"prompt", l.text}};
        out.push_back(std::move(l));
    }
    return out;
}

GenerateRequest prompt_line_request(const GenerateRequest& base, const PromptLine& line, const std::string& position,
                                    std::string* checkpoint, std::vector<std::string>* unused) {
    if (position != "start" && position != "end")
        throw Error(ErrorCode::kInvalidRequest, "Prompts from a list go at the \"start\" or the \"end\" of the prompt, not \"" + position + "\".");
    GenerateRequest r = base;
    auto int_of = [](const std::string& v) {
        int64_t i = 0;
        py_int(v, &i);
        return i;
    };
    auto float_of = [](const std::string& v) {
        double d = 0;
        py_float(v, &d);
        return d;
    };
    auto clamp_int = [](int64_t v) { return static_cast<int>(std::clamp<int64_t>(v, -2147483647, 2147483647)); };
    for (const auto& [tag, v] : line.tags) {
        if (tag == "prompt") r.prompt = v;
        else if (tag == "negative_prompt") r.negative_prompt = v;
        else if (tag == "seed") r.seed = int_of(v);
        else if (tag == "subseed") r.subseed = int_of(v);
        else if (tag == "subseed_strength") r.subseed_strength = float_of(v);
        else if (tag == "seed_resize_from_h") r.seed_resize_from_h = clamp_int(int_of(v));
        else if (tag == "seed_resize_from_w") r.seed_resize_from_w = clamp_int(int_of(v));
        else if (tag == "batch_size") r.batch_size = clamp_int(int_of(v));
        else if (tag == "n_iter") r.batch_count = clamp_int(int_of(v));
        else if (tag == "steps") r.steps = clamp_int(int_of(v));
        else if (tag == "cfg_scale") r.cfg_scale = float_of(v);
        else if (tag == "width") r.width = clamp_int(int_of(v));
        else if (tag == "height") r.height = clamp_int(int_of(v));
        else if (tag == "tiling") r.tiling = v == "true";
        else if (tag == "sd_model") { if (checkpoint) *checkpoint = v; }
        else if (tag == "sampler_name") {
            // samplers_map: a name or alias without regard to case. An unknown one (an old
            // "DPM++ 2M Karras" too) leaves None, for which A1111 runs its first sampler.
            const std::string name = sampler_from_map(v);
            r.sampler = name.empty() ? sampler_names().front() : name;
            if (name.empty() && unused) unused->push_back(tag);
        } else if (tag == "restore_faces") {
            // A1111's process_boolean_tag; the restorer is the run's, else A1111's default CodeFormer.
            r.face_restoration = v == "true" ? (base.face_restoration.empty() ? "CodeFormer" : base.face_restoration) : "";
        } else if (unused) {
            unused->push_back(tag);
        }
    }
    auto join = [&](const std::string& own, const std::string& base_text) {
        return position == "start" ? own + " " + base_text : base_text + " " + own;
    };
    const auto has = [&](const char* tag) {
        for (const auto& kv : line.tags)
            if (kv.first == tag && !kv.second.empty()) return true;
        return false;
    };
    if (has("prompt") && !base.prompt.empty()) r.prompt = join(r.prompt, base.prompt);
    if (has("negative_prompt") && !base.negative_prompt.empty()) r.negative_prompt = join(r.negative_prompt, base.negative_prompt);
    return r;
}

}  // namespace sdgimp
