#include "prompt_schedule.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <set>

#include "clip_tokenizer.h"
#include "unicode_classes.h"

namespace sdgimp::text {
namespace {

// The grammar (A1111's lark grammar, read as a recursive descent that prefers structure):
//   start     := (prompt | stray)*            stray = one of [ ] ( ) :
//   prompt    := (emphasized | scheduled | alternate | plain | whitespace)*
//   emphasized:= "(" prompt ")" | "(" prompt ":" prompt ")" | "[" prompt "]"
//   scheduled := "[" [prompt ":"] prompt ":" ws? NUMBER ws? "]"
//   alternate := "[" prompt ("|" prompt?)+ "]"
//   plain     := ([^\\[]():|] | \\.)+
struct Node;
using Seq = std::vector<std::shared_ptr<Node>>;

struct Node {
    enum class Kind { kText, kScheduled, kAlternate } kind = Kind::kText;
    std::u32string text;
    std::optional<Seq> before;  // scheduled
    Seq after;                  // scheduled
    std::u32string when_text;
    int when = 0;
    std::vector<std::optional<Seq>> options;  // alternate
};

struct ParseFailure {};  // the whole prompt is outside the grammar (stray '|', lone backslash)

class Parser {
public:
    explicit Parser(const std::u32string& s) : s_(s) {}

    Seq parse_start() {
        Seq out;
        while (pos_ < s_.size()) {
            const size_t before = pos_;
            Seq p = parse_prompt();
            out.insert(out.end(), p.begin(), p.end());
            if (pos_ < s_.size()) {
                const char32_t c = s_[pos_];
                if (c == '[' || c == ']' || c == '(' || c == ')' || c == ':') {
                    out.push_back(text(std::u32string(1, c)));
                    ++pos_;
                } else {
                    throw ParseFailure{};  // '|' outside an alternation, or a lone backslash
                }
            }
            if (pos_ == before) throw ParseFailure{};
        }
        return out;
    }

private:
    static std::shared_ptr<Node> text(std::u32string t) {
        auto n = std::make_shared<Node>();
        n->text = std::move(t);
        return n;
    }

    // A prompt stops at a character it cannot hold; a bracket that opens no valid construct also
    // stops it (the caller then fails or, at the top level, takes the bracket as stray text).
    Seq parse_prompt() {
        Seq out;
        while (pos_ < s_.size()) {
            const char32_t c = s_[pos_];
            if (c == '(' || c == '[') {
                const size_t save = pos_;
                std::optional<Seq> got = c == '(' ? parse_paren() : parse_bracket();
                if (!got) {
                    pos_ = save;
                    return out;
                }
                out.insert(out.end(), got->begin(), got->end());
                continue;
            }
            if (c == ']' || c == ')' || c == ':' || c == '|') return out;
            std::u32string t;
            while (pos_ < s_.size()) {
                const char32_t d = s_[pos_];
                if (d == '\\') {
                    if (pos_ + 1 >= s_.size() || s_[pos_ + 1] == '\n') throw ParseFailure{};
                    t.push_back(d);
                    t.push_back(s_[pos_ + 1]);
                    pos_ += 2;
                    continue;
                }
                if (d == '[' || d == ']' || d == '(' || d == ')' || d == ':' || d == '|') break;
                t.push_back(d);
                ++pos_;
            }
            out.push_back(text(std::move(t)));
        }
        return out;
    }

    bool eat(char32_t c) {
        if (pos_ < s_.size() && s_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }

    // Deeper nesting than any real prompt is refused instead of exhausting the stack.
    static constexpr int kMaxDepth = 256;
    struct DepthGuard {
        explicit DepthGuard(int* d) : d_(d) {
            if (++*d_ > kMaxDepth) throw ParseFailure{};
        }
        ~DepthGuard() { --*d_; }
        int* d_;
    };

    std::optional<Seq> parse_paren() {
        DepthGuard guard(&depth_);
        Seq out{text(U"(")};
        ++pos_;
        Seq a = parse_prompt();
        out.insert(out.end(), a.begin(), a.end());
        if (eat(')')) {
            out.push_back(text(U")"));
            return out;
        }
        if (!eat(':')) return std::nullopt;
        out.push_back(text(U":"));
        Seq b = parse_prompt();
        out.insert(out.end(), b.begin(), b.end());
        if (!eat(')')) return std::nullopt;
        out.push_back(text(U")"));
        return out;
    }

    // SIGNED_NUMBER followed by optional whitespace and ']'; returns the number text.
    std::optional<std::u32string> number_then_close() {
        size_t k = pos_;
        while (k < s_.size() && is_py_space(s_[k])) ++k;
        const size_t start = k;
        if (k < s_.size() && (s_[k] == '+' || s_[k] == '-')) ++k;
        size_t int_digits = 0, frac_digits = 0;
        while (k < s_.size() && is_ascii_digit(s_[k])) ++k, ++int_digits;
        bool dot = false;
        if (k < s_.size() && s_[k] == '.') {
            size_t m = k + 1;
            while (m < s_.size() && is_ascii_digit(s_[m])) ++m, ++frac_digits;
            if (int_digits > 0 || frac_digits > 0) {
                dot = true;
                k = m;
            }
        }
        if (int_digits == 0 && !(dot && frac_digits > 0)) return std::nullopt;
        if (k < s_.size() && (s_[k] == 'e' || s_[k] == 'E')) {
            size_t m = k + 1;
            if (m < s_.size() && (s_[m] == '+' || s_[m] == '-')) ++m;
            size_t exp_digits = 0;
            while (m < s_.size() && is_ascii_digit(s_[m])) ++m, ++exp_digits;
            if (exp_digits > 0) k = m;
        }
        const size_t end = k;
        while (k < s_.size() && is_py_space(s_[k])) ++k;
        if (k >= s_.size() || s_[k] != ']') return std::nullopt;
        pos_ = k + 1;
        return s_.substr(start, end - start);
    }

    std::optional<Seq> parse_bracket() {
        DepthGuard guard(&depth_);
        ++pos_;
        Seq first = parse_prompt();
        if (eat(']')) {  // emphasized [x]
            Seq out{text(U"[")};
            out.insert(out.end(), first.begin(), first.end());
            out.push_back(text(U"]"));
            return out;
        }
        if (pos_ < s_.size() && s_[pos_] == '|') {
            auto n = std::make_shared<Node>();
            n->kind = Node::Kind::kAlternate;
            n->options.push_back(first);
            while (eat('|')) {
                Seq opt = parse_prompt();
                if (opt.empty()) n->options.push_back(std::nullopt);
                else n->options.push_back(opt);
            }
            if (!eat(']')) return std::nullopt;
            return Seq{n};
        }
        if (!eat(':')) return std::nullopt;
        // [to:when] ?
        const size_t after_colon = pos_;
        if (auto num = number_then_close()) {
            auto n = std::make_shared<Node>();
            n->kind = Node::Kind::kScheduled;
            n->after = first;
            n->when_text = *num;
            return Seq{n};
        }
        pos_ = after_colon;
        Seq second = parse_prompt();
        if (!eat(':')) return std::nullopt;
        if (auto num = number_then_close()) {
            auto n = std::make_shared<Node>();
            n->kind = Node::Kind::kScheduled;
            n->before = first;
            n->after = second;
            n->when_text = *num;
            return Seq{n};
        }
        return std::nullopt;
    }

    const std::u32string& s_;
    size_t pos_ = 0;
    int depth_ = 0;
};

void collect(const Seq& seq, int steps, const ScheduleOptions& opt, std::set<int>* res) {
    for (const auto& n : seq) {
        if (n->kind == Node::Kind::kScheduled) {
            const std::string w = u32_to_utf8(n->when_text);
            double v = std::strtod(w.c_str(), nullptr);
            if (opt.use_old_scheduling) {
                if (v < 1) v *= steps;
            } else if (w.find('.') != std::string::npos) {
                v = (v - (opt.hires_steps ? 1.0 : 0.0)) * steps;
            } else {
                v = v - (opt.hires_steps ? opt.steps : 0);
            }
            v = std::trunc(v);
            n->when = v >= steps ? steps : (v < -1e9 ? -1000000000 : static_cast<int>(v));
            if (n->when >= 1) res->insert(n->when);
            if (n->before) collect(*n->before, steps, opt, res);
            collect(n->after, steps, opt, res);
        } else if (n->kind == Node::Kind::kAlternate) {
            for (int t = 1; t <= steps; ++t) res->insert(t);
            for (const auto& o : n->options)
                if (o) collect(*o, steps, opt, res);
        }
    }
}

void render(const Seq& seq, int step, std::u32string* out) {
    for (const auto& n : seq) {
        switch (n->kind) {
            case Node::Kind::kText: *out += n->text; break;
            case Node::Kind::kScheduled:
                if (step <= n->when) {
                    if (n->before) render(*n->before, step, out);
                } else {
                    render(n->after, step, out);
                }
                break;
            case Node::Kind::kAlternate: {
                const auto& o = n->options[static_cast<size_t>(step - 1) % n->options.size()];
                if (o) render(*o, step, out);
                break;
            }
        }
    }
}

}  // namespace

PromptSchedule prompt_schedule(const std::string& prompt, const ScheduleOptions& opt) {
    const int steps = (opt.hires_steps && !opt.use_old_scheduling) ? *opt.hires_steps : opt.steps;
    const std::u32string s = utf8_to_u32(prompt);
    Seq tree;
    try {
        tree = Parser(s).parse_start();
    } catch (const ParseFailure&) {
        return {{steps, prompt}};
    }
    std::set<int> points{steps};
    collect(tree, steps, opt, &points);
    PromptSchedule out;
    for (int t : points) {
        std::u32string text;
        render(tree, t, &text);
        out.emplace_back(t, u32_to_utf8(text));
    }
    return out;
}

const std::string& schedule_text_at(const PromptSchedule& s, int call) {
    for (const auto& e : s)
        if (e.first >= call) return e.second;
    return s.back().second;
}

}  // namespace sdgimp::text
