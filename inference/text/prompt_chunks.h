// A1111's prompt → 77-token chunks: emphasis fragments tokenized separately, 75-token chunks closed
// by BREAK or when full, comma back-tracking, per-token multipliers, and the pad rule per family.
#pragma once

#include <string>
#include <vector>

#include "clip_tokenizer.h"

namespace sdgimp::text {

enum class EmphasisMode { kOriginal, kNoNorm, kIgnore, kNone };

struct PromptChunk {
    std::vector<int> tokens;                // 77: start, 75 slots (filler = end token), end
    std::vector<double> multipliers;        // 77, 1.0 for start/end/filler
    std::vector<int> transformer_tokens;    // what the text transformer is fed
    // Textual-inversion embeddings: (slot among the 75, embedding index); its vectors replace the
    // token vectors from that slot on (the slots hold token 0).
    std::vector<std::pair<int, int>> fixes;
};

// A textual-inversion embedding as the chunker sees it: the tokens of its name, its vector count.
struct EmbeddingWord {
    std::vector<int> ids;
    int vectors = 1;
    int index = 0;  // the caller's
};

struct ChunkedPrompt {
    std::vector<PromptChunk> chunks;
    int token_count = 0;  // A1111's counter: 75 per closed chunk + tokens of the last one
};

struct ChunkSettings {
    TokenizerFlavor flavor = TokenizerFlavor::kOpenCLIP;  // OpenCLIP = SD 2.x: pad 0 after the first end
    EmphasisMode emphasis = EmphasisMode::kOriginal;
    int comma_padding_backtrack = 20;
    const std::vector<EmbeddingWord>* embeddings = nullptr;  // matched in the tokens, longest name first
};

// Throws sdgimp::Error for prompts the emphasis parser rejects.
ChunkedPrompt chunk_prompt(const ClipTokenizer& tok, const std::string& prompt, const ChunkSettings& s);

// The filler chunk used when texts of one batch need different chunk counts.
PromptChunk empty_chunk(TokenizerFlavor flavor);

EmphasisMode parse_emphasis_mode(const std::string& name);  // "Original", "No norm", "Ignore", "None"

}  // namespace sdgimp::text
