// Textual-inversion files as A1111's embeddings folder reads them, without torch: which tensor of a
// file holds the term's vectors, and the files of a set of folders with their vector counts (the
// engine loads them; the dialogs count prompt tokens with them).
#pragma once

#include <string>
#include <vector>

#include "checkpoint_file.h"

namespace sdgimp::io {

const std::vector<std::string>& embedding_endings();  // .pt, .bin, .safetensors

// A1111's create_embedding_from_data: the file's one tensor ("*" of string_to_param, a diffusers
// learned_embeds.bin, a safetensors emb_params), 1-D (one vector) or (n, width) with n in 1..75;
// nullptr for any other layout.
const RawTensor* embedding_tensor(const CheckpointFile& ck);

struct EmbeddingFile {
    std::string name, path;
    int64_t vectors = 0, width = 0;
};

// Every file of that layout under `dirs` (subfolders included); a name's first file wins, as in
// the engine. Damaged files and other layouts are left out.
std::vector<EmbeddingFile> list_embeddings(const std::vector<std::string>& dirs);

}  // namespace sdgimp::io
