#include "clip_tokenizer.h"

#include "ftfy_lite.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cwctype>
#include <fstream>
#include <sstream>

#include "../io/utf8.h"
#include "../status.h"

namespace sdgimp::text {

std::u32string utf8_to_u32(const std::string& s) {
    std::u32string out;
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        char32_t cp;
        int len;
        if (c < 0x80) { cp = c; len = 1; }
        else if ((c >> 5) == 6) { cp = c & 0x1f; len = 2; }
        else if ((c >> 4) == 14) { cp = c & 0x0f; len = 3; }
        else if ((c >> 3) == 30) { cp = c & 0x07; len = 4; }
        else { out.push_back(0xFFFD); ++i; continue; }
        if (i + len > s.size()) { out.push_back(0xFFFD); break; }
        for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
        out.push_back(cp);
        i += len;
    }
    return out;
}

std::string u32_to_utf8(const std::u32string& s) {
    std::string out;
    for (char32_t cp : s) io::append_utf8(&out, cp);
    return out;
}

namespace {

std::string read_gz(const std::string& path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) throw Error(ErrorCode::kModelNotFound, path + ": cannot open the CLIP vocabulary; point the engine at bpe_simple_vocab_16e6.txt.gz.");
    std::string out;
    char buf[1 << 16];
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0) {
        out.append(buf, static_cast<size_t>(n));
        if (out.size() > (64u << 20)) break;
    }
    gzclose(f);
    if (n < 0) throw_bad_file(path, "is not a valid gzip file; use the original bpe_simple_vocab_16e6.txt.gz.");
    return out;
}

bool is_space(char32_t c) {
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
           c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

bool is_letter(char32_t c) { return is_unicode_letter(c); }
bool is_number(char32_t c) { return is_unicode_number(c); }

std::u32string collapse_whitespace(const std::u32string& s) {
    std::u32string out;
    bool pending = false;
    for (char32_t c : s) {
        if (is_space(c)) { pending = !out.empty(); continue; }
        if (pending) out.push_back(U' ');
        pending = false;
        out.push_back(c);
    }
    return out;
}

// Python's html.unescape for the named and numeric entities prompts contain.
std::u32string html_unescape(const std::u32string& s, bool need_semicolon = false) {
    static const std::map<std::u32string, char32_t> kNamed = {
        {U"amp", U'&'}, {U"lt", U'<'}, {U"gt", U'>'}, {U"quot", U'"'}, {U"apos", U'\''}, {U"nbsp", 0xa0},
        {U"copy", 0xa9}, {U"reg", 0xae}, {U"trade", 0x2122}, {U"eacute", 0xe9}, {U"egrave", 0xe8},
        {U"aacute", 0xe1}, {U"agrave", 0xe0}, {U"ntilde", 0xf1}, {U"uuml", 0xfc}, {U"ouml", 0xf6},
        {U"auml", 0xe4}, {U"szlig", 0xdf}, {U"hellip", 0x2026}, {U"mdash", 0x2014}, {U"ndash", 0x2013},
        {U"laquo", 0xab}, {U"raquo", 0xbb}, {U"deg", 0xb0}, {U"times", 0xd7}, {U"euro", 0x20ac}};
    std::u32string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != U'&') { out.push_back(s[i]); continue; }
        size_t j = i + 1;
        if (j < s.size() && s[j] == U'#') {
            ++j;
            bool hex = j < s.size() && (s[j] == U'x' || s[j] == U'X');
            if (hex) ++j;
            size_t k = j;
            uint32_t v = 0;
            while (k < s.size() && (hex ? std::iswxdigit(s[k]) : (s[k] >= U'0' && s[k] <= U'9')) && k - j < 8) {
                v = v * (hex ? 16 : 10) + (s[k] <= U'9' ? s[k] - U'0' : (std::towlower(s[k]) - U'a' + 10));
                ++k;
            }
            if (k > j && (!need_semicolon || (k < s.size() && s[k] == U';'))) {
                out.push_back(v == 0 || v > 0x10FFFF ? 0xFFFD : v);
                i = (k < s.size() && s[k] == U';') ? k : k - 1;
                continue;
            }
        } else {
            for (const auto& kv : kNamed) {
                const size_t end = j + kv.first.size();
                if (s.compare(j, kv.first.size(), kv.first) == 0 && (!need_semicolon || (end < s.size() && s[end] == U';'))) {
                    out.push_back(kv.second);
                    i = (end < s.size() && s[end] == U';') ? end : end - 1;
                    goto next;
                }
            }
        }
        out.push_back(s[i]);
    next:;
    }
    return out;
}

}  // namespace

ClipTokenizer::ClipTokenizer(const std::string& vocab_path) {
    const std::string text = read_gz(vocab_path);
    std::vector<char32_t> bs;
    for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
    for (int b = 0xa1; b <= 0xac; ++b) bs.push_back(b);
    for (int b = 0xae; b <= 0xff; ++b) bs.push_back(b);
    std::vector<char32_t> cs = bs;
    int n = 0;
    for (int b = 0; b < 256; ++b) {
        if (std::find(bs.begin(), bs.end(), static_cast<char32_t>(b)) == bs.end()) {
            bs.push_back(b);
            cs.push_back(256 + n++);
        }
    }
    for (size_t i = 0; i < bs.size(); ++i) byte_to_unicode_[bs[i]] = cs[i];
    std::vector<std::u32string> vocab;
    for (int b = 0; b < 256; ++b) vocab.push_back(std::u32string(1, byte_to_unicode_[bs[b]]));
    for (int b = 0; b < 256; ++b) vocab.push_back(std::u32string(1, byte_to_unicode_[bs[b]]) + U"</w>");
    std::istringstream in(text);
    std::string line;
    std::getline(in, line);  // version header
    const int kMerges = 49152 - 256 - 2;
    int rank = 0;
    while (rank < kMerges && std::getline(in, line)) {
        size_t sp = line.find(' ');
        if (sp == std::string::npos) continue;
        auto a = utf8_to_u32(line.substr(0, sp)), b = utf8_to_u32(line.substr(sp + 1));
        ranks_[{a, b}] = rank++;
        vocab.push_back(a + b);
    }
    if (rank < kMerges) throw_bad_file(vocab_path, "holds too few merges to be the CLIP vocabulary; use bpe_simple_vocab_16e6.txt.gz.");
    vocab.push_back(U"<|startoftext|>");
    vocab.push_back(U"<|endoftext|>");
    for (size_t i = 0; i < vocab.size(); ++i) encoder_[vocab[i]] = static_cast<int>(i);
}

void ClipTokenizer::bpe(const std::u32string& token, std::vector<int>* out) const {
    auto cached = cache_.find(token);
    if (cached != cache_.end()) { out->insert(out->end(), cached->second.begin(), cached->second.end()); return; }
    std::vector<std::u32string> word;
    for (char32_t c : token) word.push_back(std::u32string(1, c));
    word.back() += U"</w>";
    while (word.size() > 1) {
        int best = INT_MAX;
        size_t best_i = 0;
        for (size_t i = 0; i + 1 < word.size(); ++i) {
            auto it = ranks_.find({word[i], word[i + 1]});
            if (it != ranks_.end() && it->second < best) { best = it->second; best_i = i; }
        }
        if (best == INT_MAX) break;
        const std::u32string first = word[best_i], second = word[best_i + 1];
        std::vector<std::u32string> merged;
        for (size_t i = 0; i < word.size();) {
            if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) { merged.push_back(first + second); i += 2; }
            else merged.push_back(word[i++]);
        }
        word.swap(merged);
    }
    std::vector<int> ids;
    for (const auto& w : word) {
        auto it = encoder_.find(w);
        if (it != encoder_.end()) ids.push_back(it->second);
    }
    if (cache_.size() < 100000) cache_[token] = ids;
    out->insert(out->end(), ids.begin(), ids.end());
}

std::vector<int> ClipTokenizer::encode_cleaned(const std::u32string& s, bool specials) const {
    std::vector<int> ids;
    for (size_t i = 0; i < s.size();) {
        // Literal special-token spellings map straight to their ids (OpenCLIP pattern).
        static const std::u32string kSot = U"<start_of_text>", kEot = U"<end_of_text>";
        if (specials && s.compare(i, kSot.size(), kSot) == 0) { ids.push_back(kStart); i += kSot.size(); continue; }
        if (specials && s.compare(i, kEot.size(), kEot) == 0) { ids.push_back(kEnd); i += kEot.size(); continue; }
        char32_t c = s[i];
        size_t j = i + 1;
        if (c == U'\'' && i + 1 < s.size()) {
            static const std::u32string kContractions[] = {U"'s", U"'t", U"'re", U"'ve", U"'m", U"'ll", U"'d"};
            bool hit = false;
            for (const auto& k : kContractions)
                if (s.compare(i, k.size(), k) == 0) { j = i + k.size(); hit = true; break; }
            if (!hit) while (j < s.size() && !is_space(s[j]) && !is_letter(s[j]) && !is_number(s[j])) ++j;
        } else if (is_letter(c)) {
            while (j < s.size() && is_letter(s[j])) ++j;
        } else if (is_number(c)) {
            // each digit is its own piece
        } else if (is_space(c)) {
            ++i;
            continue;
        } else {
            while (j < s.size() && !is_space(s[j]) && !is_letter(s[j]) && !is_number(s[j])) ++j;
        }
        std::u32string piece;
        for (unsigned char b : u32_to_utf8(s.substr(i, j - i))) piece.push_back(byte_to_unicode_[b]);
        bpe(piece, &ids);
        i = j;
    }
    return ids;
}

std::string ClipTokenizer::clean(const std::string& text, TokenizerFlavor flavor) const {
    std::u32string s = utf8_to_u32(text);
    // ftfy.fix_text unescapes HTML only when the text holds no '<' (both paths run it).
    if (s.find(U'<') == std::u32string::npos) {
        for (int i = 0; i < 8; ++i) {  // ftfy: strict entities, until nothing changes
            std::u32string u = html_unescape(s, true);
            if (u == s) break;
            s.swap(u);
        }
    }
    s = ftfy_fix(s);
    if (flavor == TokenizerFlavor::kOpenCLIP) s = html_unescape(html_unescape(s));
    s = collapse_whitespace(s);
    return u32_to_utf8(unicode_lower(s));
}

std::vector<int> ClipTokenizer::encode(const std::string& text, TokenizerFlavor flavor) const {
    if (flavor == TokenizerFlavor::kOpenCLIP) return encode_cleaned(utf8_to_u32(clean(text, flavor)), true);
    // HF cuts out its own special-token spellings first and tokenizes the pieces separately.
    std::vector<int> ids;
    static const std::string kSot = "<|startoftext|>", kEot = "<|endoftext|>";
    size_t i = 0;
    while (i <= text.size()) {
        size_t a = text.find(kSot, i), b = text.find(kEot, i);
        size_t cut = std::min(a, b);
        std::string seg = text.substr(i, cut == std::string::npos ? std::string::npos : cut - i);
        std::u32string cleaned = utf8_to_u32(clean(seg, TokenizerFlavor::kHF));
        // OpenCLIP's spellings are ordinary text for HF.
        std::vector<int> part = encode_cleaned(cleaned, false);
        ids.insert(ids.end(), part.begin(), part.end());
        if (cut == std::string::npos) break;
        ids.push_back(cut == a ? kStart : kEnd);
        i = cut + (cut == a ? kSot.size() : kEot.size());
    }
    return ids;
}

std::string find_vocab(const std::string& model_path) {
    auto exists = [](const std::string& p) { return std::ifstream(p).good(); };
    if (const char* e = std::getenv("GIMP_DIFFUSION_VOCAB"); e && *e && exists(e)) return e;
    const std::string dir = model_path.find('/') == std::string::npos ? "." : model_path.substr(0, model_path.find_last_of('/'));
    for (const std::string& p : {dir + "/bpe_simple_vocab_16e6.txt.gz", dir + "/tokenizer/bpe_simple_vocab_16e6.txt.gz"})
        if (exists(p)) return p;
    const char* home = std::getenv("HOME");
    const std::string user = std::string(home ? home : ".") + "/.local/share/gimp-diffusion/bpe_simple_vocab_16e6.txt.gz";
    if (exists(user)) return user;
    throw Error(ErrorCode::kModelNotFound,
                "The CLIP vocabulary bpe_simple_vocab_16e6.txt.gz was not found; put it next to the model or set GIMP_DIFFUSION_VOCAB to its path.");
}

}  // namespace sdgimp::text
