#include "prompt_chunks.h"

#include <algorithm>

#include "prompt_attention.h"
#include "status.h"

namespace sdgimp::text {
namespace {

constexpr int kChunkLength = 75;
constexpr int kComma = 267;

PromptChunk finish(std::vector<int> tokens, std::vector<double> mults, TokenizerFlavor flavor,
                   std::vector<std::pair<int, int>> fixes = {}) {
    PromptChunk c;
    c.fixes = std::move(fixes);
    const size_t fill = kChunkLength - tokens.size();
    tokens.insert(tokens.end(), fill, ClipTokenizer::kEnd);
    mults.insert(mults.end(), fill, 1.0);
    c.tokens.reserve(kChunkLength + 2);
    c.tokens.push_back(ClipTokenizer::kStart);
    c.tokens.insert(c.tokens.end(), tokens.begin(), tokens.end());
    c.tokens.push_back(ClipTokenizer::kEnd);
    c.multipliers.push_back(1.0);
    c.multipliers.insert(c.multipliers.end(), mults.begin(), mults.end());
    c.multipliers.push_back(1.0);
    c.transformer_tokens = c.tokens;
    if (flavor == TokenizerFlavor::kOpenCLIP) {
        // OpenCLIP pads with 0: everything after the first end token, even a literal one mid-prompt.
        bool after_end = false;
        for (int& t : c.transformer_tokens) {
            if (after_end) t = 0;
            else if (t == ClipTokenizer::kEnd) after_end = true;
        }
    }
    return c;
}

// A1111's find_embedding_at_position: the longest embedding name whose tokens start here.
const EmbeddingWord* embedding_at(const std::vector<int>& toks, size_t at, const std::vector<EmbeddingWord>* words) {
    if (!words) return nullptr;
    const EmbeddingWord* best = nullptr;
    for (const EmbeddingWord& w : *words) {
        if (w.ids.empty() || w.ids.size() > toks.size() - at || (best && w.ids.size() <= best->ids.size())) continue;
        if (std::equal(w.ids.begin(), w.ids.end(), toks.begin() + static_cast<std::ptrdiff_t>(at))) best = &w;
    }
    return best;
}

}  // namespace

PromptChunk empty_chunk(TokenizerFlavor flavor) { return finish({}, {}, flavor); }

ChunkedPrompt chunk_prompt(const ClipTokenizer& tok, const std::string& prompt, const ChunkSettings& s) {
    std::vector<Fragment> parsed;
    if (s.emphasis == EmphasisMode::kNone) parsed.push_back({prompt, 1.0});
    else parsed = parse_prompt_attention(prompt);

    ChunkedPrompt out;
    std::vector<int> tokens;
    std::vector<double> mults;
    std::vector<std::pair<int, int>> fixes;
    int last_comma = -1;

    auto next_chunk = [&](bool is_last) {
        out.token_count += is_last ? static_cast<int>(tokens.size()) : kChunkLength;
        out.chunks.push_back(finish(std::move(tokens), std::move(mults), s.flavor, std::move(fixes)));
        tokens.clear();
        mults.clear();
        fixes.clear();
        last_comma = -1;
    };

    for (const Fragment& f : parsed) {
        if (f.text == "BREAK" && f.weight == -1) {
            next_chunk(false);
            continue;
        }
        const std::vector<int> toks = tok.encode(f.text, s.flavor);
        for (size_t position = 0; position < toks.size();) {
            const int token = toks[position];
            const int len = static_cast<int>(tokens.size());
            if (token == kComma) {
                last_comma = len;
            } else if (s.comma_padding_backtrack != 0 && len == kChunkLength && last_comma != -1 &&
                       len - last_comma <= s.comma_padding_backtrack) {
                // Keep the words after the last comma together: move them to the next chunk (as
                // A1111 does, an embedding's slots move and its fix stays behind).
                const size_t cut = static_cast<size_t>(last_comma + 1);
                std::vector<int> moved_t(tokens.begin() + cut, tokens.end());
                std::vector<double> moved_m(mults.begin() + cut, mults.end());
                tokens.resize(cut);
                mults.resize(cut);
                next_chunk(false);
                tokens = std::move(moved_t);
                mults = std::move(moved_m);
            }
            if (static_cast<int>(tokens.size()) == kChunkLength) next_chunk(false);
            const EmbeddingWord* e = embedding_at(toks, position, s.embeddings);
            if (!e) {
                tokens.push_back(token);
                mults.push_back(f.weight);
                ++position;
                continue;
            }
            if (static_cast<int>(tokens.size()) + e->vectors > kChunkLength) next_chunk(false);
            fixes.emplace_back(static_cast<int>(tokens.size()), e->index);
            tokens.insert(tokens.end(), static_cast<size_t>(e->vectors), 0);
            mults.insert(mults.end(), static_cast<size_t>(e->vectors), f.weight);
            position += e->ids.size();
        }
    }
    if (!tokens.empty() || out.chunks.empty()) next_chunk(true);
    return out;
}

EmphasisMode parse_emphasis_mode(const std::string& name) {
    if (name == "Original") return EmphasisMode::kOriginal;
    if (name == "No norm") return EmphasisMode::kNoNorm;
    if (name == "Ignore") return EmphasisMode::kIgnore;
    if (name == "None") return EmphasisMode::kNone;
    throw Error(ErrorCode::kInvalidRequest,
                "Unknown emphasis mode \"" + name + "\"; use Original, No norm, Ignore or None.");
}

}  // namespace sdgimp::text
