// Textual-inversion embeddings as A1111 loads them from its embeddings folder: every .pt, .bin or
// .safetensors file holding one term's vectors of the text encoder's width, named after the file;
// the prompt's words that spell a name become those vectors (text/prompt_chunks.h matches them).
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "../text/clip_tokenizer.h"
#include "../text/prompt_chunks.h"

namespace sdgimp::pipeline {

struct TextualInversion {
    std::string name, path;
    std::string hash;       // A1111's "TI hashes" value: the file's SHA-256, first 12 digits
    torch::Tensor vectors;  // (n, width) float32
};

class TextualInversions {
public:
    // Reads the folders (and their subfolders) again when their files changed since the last call;
    // returns whether it did. Files of another width (another model family) or layout are left out,
    // as A1111 leaves them out; a damaged one is too, not failing every generation.
    bool refresh(const std::vector<std::string>& dirs, int width, const text::ClipTokenizer& tok, text::TokenizerFlavor flavor);
    const std::vector<TextualInversion>& items() const { return items_; }
    const std::vector<text::EmbeddingWord>& words() const { return words_; }
    // The embeddings these texts name, as A1111 lists them under "TI hashes" ("name: hash, ...").
    std::string hashes_for(const std::vector<std::string>& texts, const text::ClipTokenizer& tok, text::TokenizerFlavor flavor) const;

private:
    std::string signature_;  // the files read: path, size and time of each, and the width
    std::vector<TextualInversion> items_;
    std::vector<text::EmbeddingWord> words_;
};

}  // namespace sdgimp::pipeline
