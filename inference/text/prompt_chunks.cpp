#include "prompt_chunks.h"

#include "prompt_attention.h"
#include "status.h"

namespace sdgimp::text {
namespace {

constexpr int kChunkLength = 75;
constexpr int kComma = 267;

PromptChunk finish(std::vector<int> tokens, std::vector<double> mults, TokenizerFlavor flavor) {
    PromptChunk c;
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

}  // namespace

PromptChunk empty_chunk(TokenizerFlavor flavor) { return finish({}, {}, flavor); }

ChunkedPrompt chunk_prompt(const ClipTokenizer& tok, const std::string& prompt, const ChunkSettings& s) {
    std::vector<Fragment> parsed;
    if (s.emphasis == EmphasisMode::kNone) parsed.push_back({prompt, 1.0});
    else parsed = parse_prompt_attention(prompt);

    ChunkedPrompt out;
    std::vector<int> tokens;
    std::vector<double> mults;
    int last_comma = -1;

    auto next_chunk = [&](bool is_last) {
        out.token_count += is_last ? static_cast<int>(tokens.size()) : kChunkLength;
        out.chunks.push_back(finish(std::move(tokens), std::move(mults), s.flavor));
        tokens.clear();
        mults.clear();
        last_comma = -1;
    };

    for (const Fragment& f : parsed) {
        if (f.text == "BREAK" && f.weight == -1) {
            next_chunk(false);
            continue;
        }
        for (int token : tok.encode(f.text, s.flavor)) {
            const int len = static_cast<int>(tokens.size());
            if (token == kComma) {
                last_comma = len;
            } else if (s.comma_padding_backtrack != 0 && len == kChunkLength && last_comma != -1 &&
                       len - last_comma <= s.comma_padding_backtrack) {
                // Keep the words after the last comma together: move them to the next chunk.
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
            tokens.push_back(token);
            mults.push_back(f.weight);
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
