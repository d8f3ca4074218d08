#include "infotext.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "clip_tokenizer.h"
#include "prompt_attention.h"
#include "unicode_classes.h"

namespace sdgimp::text {

std::string python_float_repr(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
    // Shortest round-trip digits, then Python's layout: exponent form below 1e-4 and from 1e16.
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    std::string sci(buf, r.ptr);
    const size_t e = sci.find('e');
    std::string mant = sci.substr(0, e);
    const int exp = std::atoi(sci.c_str() + e + 1);
    const bool neg = mant[0] == '-';
    if (neg) mant.erase(0, 1);
    std::string digits;
    for (char c : mant)
        if (c != '.') digits.push_back(c);
    std::string out;
    if (exp < -4 || exp >= 16) {
        out = digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        char eb[16];
        std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
        out += eb;
    } else if (exp < 0) {
        out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    } else {
        const size_t int_len = static_cast<size_t>(exp) + 1;
        if (digits.size() <= int_len) out = digits + std::string(int_len - digits.size(), '0') + ".0";
        else out = digits.substr(0, int_len) + "." + digits.substr(int_len);
    }
    return neg ? "-" + out : out;
}

std::string InfoValue::to_string() const {
    switch (kind) {
        case Kind::kString: return s;
        case Kind::kInt: return std::to_string(i);
        case Kind::kFloat: return python_float_repr(f);
        case Kind::kBool: return b ? "True" : "False";
    }
    return s;
}

bool InfoValue::operator==(const InfoValue& o) const {
    if (kind != o.kind) return false;
    switch (kind) {
        case Kind::kString: return s == o.s;
        case Kind::kInt: return i == o.i;
        case Kind::kFloat: return f == o.f;
        case Kind::kBool: return b == o.b;
    }
    return false;
}

std::string json_quote(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20) {
                    char b[8];
                    std::snprintf(b, sizeof b, "\\u%04x", c);
                    out += b;
                } else {
                    out.push_back(static_cast<char>(c));
                }
        }
    }
    return out + "\"";
}

std::optional<std::string> json_unquote(const std::string& s) {
    if (s.size() < 2 || s.front() != '"' || s.back() != '"') return std::nullopt;
    std::u32string out;
    const std::u32string u = utf8_to_u32(s);
    size_t i = 1;
    auto hex4 = [&](size_t at, char32_t* v) {
        if (at + 4 > u.size()) return false;
        *v = 0;
        for (size_t k = at; k < at + 4; ++k) {
            const char32_t c = u[k];
            int d = (c >= '0' && c <= '9') ? int(c - '0') : (c >= 'a' && c <= 'f') ? int(c - 'a' + 10)
                    : (c >= 'A' && c <= 'F') ? int(c - 'A' + 10) : -1;
            if (d < 0) return false;
            *v = *v * 16 + static_cast<char32_t>(d);
        }
        return true;
    };
    while (i < u.size()) {
        const char32_t c = u[i];
        if (c == '"') return i + 1 == u.size() ? std::optional<std::string>(u32_to_utf8(out)) : std::nullopt;
        if (c < 0x20) return std::nullopt;  // json.loads is strict about raw control characters
        if (c != '\\') {
            out.push_back(c);
            ++i;
            continue;
        }
        if (i + 1 >= u.size()) return std::nullopt;
        const char32_t e = u[i + 1];
        i += 2;
        switch (e) {
            case '"': out.push_back('"'); break;
            case '\\': out.push_back('\\'); break;
            case '/': out.push_back('/'); break;
            case 'b': out.push_back('\b'); break;
            case 'f': out.push_back('\f'); break;
            case 'n': out.push_back('\n'); break;
            case 'r': out.push_back('\r'); break;
            case 't': out.push_back('\t'); break;
            case 'u': {
                char32_t v;
                if (!hex4(i, &v)) return std::nullopt;
                i += 4;
                char32_t lo;
                if (v >= 0xD800 && v < 0xDC00 && i + 1 < u.size() && u[i] == '\\' && u[i + 1] == 'u' &&
                    hex4(i + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                    v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
                out.push_back(v);
                break;
            }
            default: return std::nullopt;
        }
    }
    return std::nullopt;
}

namespace {

std::string quote_value(const std::string& v) {
    if (v.find_first_of(",\n:") == std::string::npos) return v;
    return json_quote(v);
}

void put(InfoParams* p, const std::string& key, std::optional<InfoValue> v) {
    for (auto& kv : *p) {
        if (kv.first == key) {
            kv.second = std::move(v);
            return;
        }
    }
    p->emplace_back(key, std::move(v));
}

std::optional<InfoValue> opt_str(const std::optional<std::string>& s) {
    if (!s) return std::nullopt;
    return InfoValue::str(*s);
}

bool contains(const std::vector<std::string>& v, const std::string& k) {
    for (const auto& x : v)
        if (x == k) return true;
    return false;
}

std::u32string py_strip(const std::u32string& s) {
    size_t a = 0, b = s.size();
    while (a < b && is_py_space(s[a])) ++a;
    while (b > a && is_py_space(s[b - 1])) --b;
    return s.substr(a, b - a);
}

// re_param: \s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$), applied as re.findall.
std::vector<std::pair<std::u32string, std::u32string>> find_params(const std::u32string& s) {
    std::vector<std::pair<std::u32string, std::u32string>> out;
    auto key_char = [](char32_t c) { return is_word_char(c) || c == ' ' || c == '-' || c == '/'; };
    size_t p = 0;
    while (p < s.size()) {
        size_t k = p;
        while (k < s.size() && is_py_space(s[k])) ++k;
        size_t key_end = k;
        bool ok = k < s.size() && is_word_char(s[k]);
        if (ok) {
            key_end = k + 1;
            while (key_end < s.size() && key_char(s[key_end])) ++key_end;
            ok = key_end >= k + 2 && key_end < s.size() && s[key_end] == ':';
        }
        if (!ok) {
            // Every later start inside the same key run ends at the same place and fails too.
            p = std::max(p + 1, key_end);
            continue;
        }
        size_t v = key_end + 1;
        while (v < s.size() && is_py_space(s[v])) ++v;
        size_t v_end = std::u32string::npos;
        if (v < s.size() && s[v] == '"') {
            size_t q = v + 1;
            size_t body = 0;
            while (q < s.size() && s[q] != '"') {
                if (s[q] == '\\') {
                    if (q + 1 >= s.size() || s[q + 1] == '\n') break;
                    q += 2;
                } else {
                    ++q;
                }
                ++body;
            }
            if (q < s.size() && s[q] == '"' && body > 0 && (q + 1 == s.size() || s[q + 1] == ','))
                v_end = q + 1;
        }
        if (v_end == std::u32string::npos) {
            v_end = v;
            while (v_end < s.size() && s[v_end] != ',') ++v_end;
        }
        out.emplace_back(s.substr(k, key_end - k), s.substr(v, v_end - v));
        p = v_end < s.size() ? v_end + 1 : v_end;
    }
    return out;
}

bool parse_size(const std::string& v, std::string* a, std::string* b) {
    const size_t x = v.find('x');
    if (x == std::string::npos || x == 0 || x + 1 >= v.size()) return false;
    for (size_t i = 0; i < v.size(); ++i)
        if (i != x && !(v[i] >= '0' && v[i] <= '9')) return false;
    *a = v.substr(0, x);
    *b = v.substr(x + 1);
    return true;
}

const InfoValue* find(const InfoParams& p, const std::string& key) {
    for (const auto& kv : p)
        if (kv.first == key && kv.second) return &*kv.second;
    return nullptr;
}

bool has(const InfoParams& p, const std::string& key) { return find(p, key) != nullptr; }

std::optional<int64_t> as_int(const InfoValue* v) {
    if (!v) return std::nullopt;
    if (v->kind == InfoValue::Kind::kInt) return v->i;
    if (v->kind != InfoValue::Kind::kString || v->s.empty()) return std::nullopt;
    char* end = nullptr;
    const long long r = std::strtoll(v->s.c_str(), &end, 10);
    if (*end != '\0') return std::nullopt;
    return r;
}

// packaging.version for the forms A1111 writes: v1.10.1, 1.7.0-225 (post release), 1.6.0-RC (pre).
struct Version {
    std::vector<int> release;
    int post = 0;      // -1: pre-release
};

std::optional<Version> parse_version(std::string text) {
    // A1111 keeps the first two dash-separated parts ("v1.10.1-7-gabc" -> "v1.10.1-7").
    const size_t d1 = text.find('-');
    if (d1 != std::string::npos) {
        const size_t d2 = text.find('-', d1 + 1);
        if (d2 != std::string::npos && d2 > d1 + 1) text = text.substr(0, d2);
    }
    size_t i = 0;
    if (i < text.size() && (text[i] == 'v' || text[i] == 'V')) ++i;
    Version v;
    while (true) {
        if (i >= text.size() || !(text[i] >= '0' && text[i] <= '9')) return std::nullopt;
        int n = 0;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') n = n * 10 + (text[i++] - '0');
        v.release.push_back(n);
        if (i < text.size() && text[i] == '.') {
            ++i;
            continue;
        }
        break;
    }
    if (i == text.size()) return v;
    if (text[i] != '-') return std::nullopt;
    const std::string rest = text.substr(i + 1);
    if (!rest.empty() && rest.find_first_not_of("0123456789") == std::string::npos) {
        v.post = std::atoi(rest.c_str());
        return v;
    }
    std::string low;
    for (char c : rest) low.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    for (const char* pre : {"rc", "alpha", "beta", "a", "b", "c", "pre", "preview"}) {
        const std::string p = pre;
        if (low.compare(0, p.size(), p) == 0 &&
            low.find_first_not_of("0123456789", p.size()) == std::string::npos) {
            v.post = -1;
            return v;
        }
    }
    return std::nullopt;
}

bool version_less(const Version& a, const std::vector<int>& release, int post) {
    const size_t n = std::max(a.release.size(), release.size());
    for (size_t k = 0; k < n; ++k) {
        const int x = k < a.release.size() ? a.release[k] : 0;
        const int y = k < release.size() ? release[k] : 0;
        if (x != y) return x < y;
    }
    return a.post < post;
}

bool uses_emphasis(const std::string& prompt) {
    try {
        for (const auto& f : parse_prompt_attention(prompt))
            if (!(f.weight == 1.0 || f.text == "BREAK")) return true;
    } catch (...) {
        // A prompt the parser rejects is reported when it is used, not when it is pasted.
    }
    return false;
}

}  // namespace

std::string create_infotext(const GenerationInfo& g) {
    const int64_t index = g.position_in_batch + static_cast<int64_t>(g.iteration) * g.batch_size;
    const bool variation = g.subseed_strength != 0;
    InfoParams p;
    p.emplace_back("Steps", InfoValue::integer(g.steps));
    p.emplace_back("Sampler", InfoValue::str(g.sampler_name));
    p.emplace_back("Schedule type", InfoValue::str(g.scheduler));
    p.emplace_back("CFG scale", InfoValue::real(g.cfg_scale));
    p.emplace_back("Image CFG scale", g.image_cfg_scale ? std::optional(InfoValue::real(*g.image_cfg_scale)) : std::nullopt);
    p.emplace_back("Seed", InfoValue::integer(variation ? g.seed : g.seed + index));
    p.emplace_back("Face restoration", opt_str(g.face_restoration));
    p.emplace_back("Size", InfoValue::str(std::to_string(g.width) + "x" + std::to_string(g.height)));
    p.emplace_back("Model hash", opt_str(g.model_hash));
    p.emplace_back("Model", opt_str(g.model_name));
    p.emplace_back("FP8 weight", std::nullopt);
    p.emplace_back("Cache FP16 weight for LoRA", std::nullopt);
    p.emplace_back("VAE hash", opt_str(g.vae_hash));
    p.emplace_back("VAE", opt_str(g.vae_name));
    p.emplace_back("Variation seed", variation ? std::optional(InfoValue::integer(g.subseed + index)) : std::nullopt);
    p.emplace_back("Variation seed strength", variation ? std::optional(InfoValue::real(g.subseed_strength)) : std::nullopt);
    p.emplace_back("Seed resize from",
                   g.seed_resize_from_w > 0 && g.seed_resize_from_h > 0
                       ? std::optional(InfoValue::str(std::to_string(g.seed_resize_from_w) + "x" +
                                                      std::to_string(g.seed_resize_from_h)))
                       : std::nullopt);
    std::optional<InfoValue> denoise;
    for (const auto& kv : g.extra)
        if (kv.first == "Denoising strength") denoise = kv.second;
    p.emplace_back("Denoising strength", denoise);
    p.emplace_back("Conditional mask weight",
                   g.inpainting_conditioning ? std::optional(InfoValue::real(g.inpainting_mask_weight)) : std::nullopt);
    p.emplace_back("Clip skip", g.clip_skip <= 1 ? std::nullopt : std::optional(InfoValue::integer(g.clip_skip)));
    p.emplace_back("ENSD", g.eta_noise_seed_delta != 0 && g.sampler_uses_ensd
                               ? std::optional(InfoValue::integer(g.eta_noise_seed_delta)) : std::nullopt);
    p.emplace_back("Token merging ratio",
                   g.token_merging_ratio == 0 ? std::nullopt : std::optional(InfoValue::real(g.token_merging_ratio)));
    p.emplace_back("Token merging ratio hr", !g.enable_hr || g.token_merging_ratio_hr == 0
                                                 ? std::nullopt : std::optional(InfoValue::real(g.token_merging_ratio_hr)));
    p.emplace_back("Init image hash", opt_str(g.init_image_hash));
    p.emplace_back("RNG", g.randn_source != "GPU" ? std::optional(InfoValue::str(g.randn_source)) : std::nullopt);
    p.emplace_back("Tiling", g.tiling ? std::optional(InfoValue::str("True")) : std::nullopt);
    for (const auto& kv : g.extra) {
        std::optional<InfoValue> v = kv.second;
        if (contains(g.hires_prompt_keys, kv.first))
            v = g.hr_prompt != g.prompt ? std::optional(InfoValue::str(g.hr_prompt)) : std::nullopt;
        else if (contains(g.hires_negative_prompt_keys, kv.first))
            v = g.hr_negative_prompt != g.negative_prompt ? std::optional(InfoValue::str(g.hr_negative_prompt))
                                                          : std::nullopt;
        put(&p, kv.first, v);
    }
    put(&p, "Version", g.add_version ? std::optional(InfoValue::str(g.version)) : std::nullopt);
    put(&p, "User", g.add_user ? std::optional(InfoValue::str(g.user)) : std::nullopt);

    std::string params;
    for (const auto& kv : p) {
        if (!kv.second) continue;
        const std::string v = kv.second->to_string();
        if (!params.empty()) params += ", ";
        params += v == kv.first ? kv.first : kv.first + ": " + quote_value(v);
    }
    std::string text = g.prompt;
    if (!g.negative_prompt.empty()) text += "\nNegative prompt: " + g.negative_prompt;
    text += "\n" + params;
    return u32_to_utf8(py_strip(utf8_to_u32(text)));
}

InfoParams parse_infotext(const std::string& x) {
    const std::u32string all = py_strip(utf8_to_u32(x));
    std::vector<std::u32string> lines(1);
    for (char32_t c : all) {
        if (c == '\n') lines.emplace_back();
        else lines.back().push_back(c);
    }
    std::u32string last = lines.back();
    lines.pop_back();
    auto params = find_params(last);
    if (params.size() < 3) {
        lines.push_back(last);
        params.clear();
    }
    std::u32string prompt, negative;
    bool in_negative = false;
    static const std::u32string kNeg = U"Negative prompt:";
    for (auto line : lines) {
        line = py_strip(line);
        if (line.compare(0, kNeg.size(), kNeg) == 0) {
            in_negative = true;
            line = py_strip(line.substr(kNeg.size()));
        }
        std::u32string& target = in_negative ? negative : prompt;
        if (!target.empty()) target += U"\n";
        target += line;
    }

    InfoParams res;
    put(&res, "Prompt", InfoValue::str(u32_to_utf8(prompt)));
    put(&res, "Negative prompt", InfoValue::str(u32_to_utf8(negative)));
    for (const auto& [k32, v32] : params) {
        const std::string k = u32_to_utf8(k32);
        std::string v = u32_to_utf8(v32);
        if (!v.empty() && v.front() == '"' && v.back() == '"') {
            if (auto u = json_unquote(v)) v = *u;
        }
        std::string a, b;
        if (parse_size(v, &a, &b)) {
            put(&res, k + "-1", InfoValue::str(a));
            put(&res, k + "-2", InfoValue::str(b));
        } else {
            put(&res, k, InfoValue::str(v));
        }
    }
    auto set_default = [&](const std::string& k, InfoValue v) {
        if (!has(res, k)) put(&res, k, std::move(v));
    };
    set_default("Clip skip", InfoValue::str("1"));
    if (const InfoValue* hn = find(res, "Hypernet")) {
        const InfoValue* st = find(res, "Hypernet strength");
        const std::string add = "<hypernet:" + hn->to_string() + ":" + (st ? st->to_string() : "1.0") + ">";
        put(&res, "Prompt", InfoValue::str(find(res, "Prompt")->s + add));
    }
    if (!has(res, "Hires resize-1")) {
        put(&res, "Hires resize-1", InfoValue::integer(0));
        put(&res, "Hires resize-2", InfoValue::integer(0));
    }
    set_default("Hires sampler", InfoValue::str("Use same sampler"));
    set_default("Hires schedule type", InfoValue::str("Use same scheduler"));
    set_default("Hires checkpoint", InfoValue::str("Use same checkpoint"));
    set_default("Hires prompt", InfoValue::str(""));
    set_default("Hires negative prompt", InfoValue::str(""));
    set_default("Mask mode", InfoValue::str("Inpaint masked"));
    set_default("Masked content", InfoValue::str("original"));
    set_default("Inpaint area", InfoValue::str("Whole picture"));
    set_default("Masked area padding", InfoValue::integer(32));

    // Old "First pass size" hires infotexts become the new first-pass size + hires resize.
    const auto fw = as_int(find(res, "First pass size-1")), fh = as_int(find(res, "First pass size-2"));
    if (has(res, "First pass size-1") && has(res, "First pass size-2") && fw && fh) {
        const int64_t width = has(res, "Size-1") ? as_int(find(res, "Size-1")).value_or(512) : 512;
        const int64_t height = has(res, "Size-2") ? as_int(find(res, "Size-2")).value_or(512) : 512;
        int64_t w0 = *fw, h0 = *fh;
        if (w0 == 0 || h0 == 0) {
            const double scale = std::sqrt(512.0 * 512.0 / static_cast<double>(width * height));
            w0 = static_cast<int64_t>(std::ceil(scale * static_cast<double>(width) / 64)) * 64;
            h0 = static_cast<int64_t>(std::ceil(scale * static_cast<double>(height) / 64)) * 64;
        }
        put(&res, "Size-1", InfoValue::integer(w0));
        put(&res, "Size-2", InfoValue::integer(h0));
        put(&res, "Hires resize-1", InfoValue::integer(width));
        put(&res, "Hires resize-2", InfoValue::integer(height));
    }

    set_default("RNG", InfoValue::str("GPU"));
    set_default("Schedule type", InfoValue::str("Automatic"));
    set_default("Schedule max sigma", InfoValue::integer(0));
    set_default("Schedule min sigma", InfoValue::integer(0));
    set_default("Schedule rho", InfoValue::integer(0));
    set_default("VAE Encoder", InfoValue::str("Full"));
    set_default("VAE Decoder", InfoValue::str("Full"));
    set_default("FP8 weight", InfoValue::str("Disable"));
    if (!(find(res, "FP8 weight")->kind == InfoValue::Kind::kString && find(res, "FP8 weight")->s == "Disable"))
        set_default("Cache FP16 weight for LoRA", InfoValue::boolean(false));
    if (!has(res, "Emphasis") && (uses_emphasis(find(res, "Prompt")->s) || uses_emphasis(find(res, "Negative prompt")->s)))
        put(&res, "Emphasis", InfoValue::str("Original"));
    set_default("Refiner switch by sampling steps", InfoValue::boolean(false));

    if (const InfoValue* ver = find(res, "Version")) {
        if (auto v = parse_version(ver->to_string())) {
            const std::string prompt_text = find(res, "Prompt")->s;
            const InfoValue* sampler = find(res, "Sampler");
            const std::string sampler_name = sampler ? sampler->to_string() : "";
            if (version_less(*v, {1, 6, 0}, 0) && prompt_text.find('[') != std::string::npos)
                put(&res, "Old prompt editing timelines", InfoValue::boolean(true));
            if (version_less(*v, {1, 6, 0}, 0) && (sampler_name == "DDIM" || sampler_name == "PLMS"))
                put(&res, "Pad conds v0", InfoValue::boolean(true));
            if (version_less(*v, {1, 7, 0}, 225)) put(&res, "Downcast alphas_cumprod", InfoValue::boolean(true));
            const InfoValue* refiner = find(res, "Refiner");
            if (version_less(*v, {1, 8, 0}, 0) && refiner && !refiner->to_string().empty())
                put(&res, "Refiner switch by sampling steps", InfoValue::boolean(true));
        }
    }
    return res;
}

}  // namespace sdgimp::text
