#include "textual_inversion.h"

#include <algorithm>
#include <set>

#include "../io/checkpoint_file.h"
#include "../io/embedding_files.h"
#include "../io/folder_files.h"
#include "../io/mapped_file.h"
#include "../io/sha256.h"
#include "../models/state_loader.h"
#include "../status.h"

namespace sdgimp::pipeline {
namespace {

// The vectors of a file of A1111's layout; undefined for any other.
torch::Tensor vectors_of(const io::CheckpointFile& ck) {
    const io::RawTensor* raw = io::embedding_tensor(ck);
    if (!raw) return {};
    torch::Tensor v = models::to_torch(*raw).to(torch::kFloat);
    return v.dim() == 1 ? v.unsqueeze(0) : v;
}

}  // namespace

bool TextualInversions::refresh(const std::vector<std::string>& dirs, int width, const text::ClipTokenizer& tok,
                                text::TokenizerFlavor flavor) {
    std::vector<std::string> files;
    for (const auto& d : dirs)
        for (auto& f : io::files_under(d, io::embedding_endings())) files.push_back(std::move(f));
    std::string signature = std::to_string(width);
    for (const auto& f : files) signature += "\n" + f + "\t" + io::file_stamp(f);
    if (signature == signature_) return false;
    signature_ = signature;
    items_.clear();
    words_.clear();
    std::set<std::string> names;
    for (const auto& f : files) {
        TextualInversion ti;
        ti.name = io::name_without(f, io::embedding_endings());
        if (!names.insert(ti.name).second) continue;  // the first folder's file of a name wins
        try {
            const io::CheckpointFile ck = io::open_checkpoint(f);
            ti.vectors = vectors_of(ck);
            if (!ti.vectors.defined() || ti.vectors.size(1) != width) continue;
            ti.hash = io::sha256_hex(ck.file->data(), ck.file->size()).substr(0, 12);
        } catch (const Error&) {
            continue;
        }
        ti.path = f;
        text::EmbeddingWord w;
        w.ids = tok.encode(ti.name, flavor);
        w.vectors = static_cast<int>(ti.vectors.size(0));
        w.index = static_cast<int>(items_.size());
        if (w.ids.empty()) continue;
        items_.push_back(std::move(ti));
        words_.push_back(std::move(w));
    }
    return true;
}

std::string TextualInversions::hashes_for(const std::vector<std::string>& texts, const text::ClipTokenizer& tok,
                                          text::TokenizerFlavor flavor) const {
    if (words_.empty()) return "";
    std::set<int> used;
    text::ChunkSettings cs;
    cs.flavor = flavor;
    cs.emphasis = text::EmphasisMode::kNone;  // only which words are there matters
    cs.embeddings = &words_;
    for (const auto& t : texts)
        for (const auto& chunk : text::chunk_prompt(tok, t, cs).chunks)
            for (const auto& fix : chunk.fixes) used.insert(fix.second);
    std::string out;
    for (int i : used) {
        std::string n = items_[static_cast<size_t>(i)].name;
        n.erase(std::remove_if(n.begin(), n.end(), [](char c) { return c == ':' || c == ','; }), n.end());
        out += (out.empty() ? "" : ", ") + n + ": " + items_[static_cast<size_t>(i)].hash;
    }
    return out;
}

}  // namespace sdgimp::pipeline
