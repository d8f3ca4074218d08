// CLIP byte-level BPE with the vocabulary file the user points at (bpe_simple_vocab_16e6.txt.gz);
// no vocabulary is compiled in. Two conventions: OpenCLIP (SD 2.x) and HF CLIPTokenizer (SD 1.x).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace sdgimp::text {

enum class TokenizerFlavor { kOpenCLIP, kHF };

class ClipTokenizer {
public:
    // Reads the gzip'd merges file; throws sdgimp::Error naming the path when it is unusable.
    explicit ClipTokenizer(const std::string& vocab_path);

    static constexpr int kStart = 49406, kEnd = 49407;

    // Token ids without start/end/padding.
    std::vector<int> encode(const std::string& text, TokenizerFlavor flavor) const;
    std::string clean(const std::string& text, TokenizerFlavor flavor) const;

private:
    std::vector<int> encode_cleaned(const std::u32string& text, bool openclip_specials) const;
    void bpe(const std::u32string& word, std::vector<int>* out) const;

    std::unordered_map<std::u32string, int> encoder_;
    std::map<std::pair<std::u32string, std::u32string>, int> ranks_;
    char32_t byte_to_unicode_[256];
    mutable std::unordered_map<std::u32string, std::vector<int>> cache_;
};

// Where the vocabulary is looked for when the user names none: $GIMP_DIFFUSION_VOCAB, next to the
// model, a diffusers tokenizer/ folder beside it, then the user's data folder.
std::string find_vocab(const std::string& model_path);

std::u32string utf8_to_u32(const std::string& s);
std::string u32_to_utf8(const std::u32string& s);

}  // namespace sdgimp::text
