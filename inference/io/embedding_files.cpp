#include "embedding_files.h"

#include <set>

#include "../status.h"
#include "folder_files.h"

namespace sdgimp::io {

const std::vector<std::string>& embedding_endings() {
    static const std::vector<std::string> e = {".pt", ".bin", ".safetensors"};
    return e;
}

const RawTensor* embedding_tensor(const CheckpointFile& ck) {
    if (ck.tensors.size() != 1) return nullptr;
    const RawTensor& t = ck.tensors.begin()->second;
    if (t.shape.size() == 1) return t.shape[0] > 0 ? &t : nullptr;
    return t.shape.size() == 2 && t.shape[0] >= 1 && t.shape[0] <= 75 && t.shape[1] > 0 ? &t : nullptr;
}

std::vector<EmbeddingFile> list_embeddings(const std::vector<std::string>& dirs) {
    std::vector<EmbeddingFile> out;
    std::set<std::string> names;
    for (const auto& dir : dirs)
        for (const auto& path : files_under(dir, embedding_endings())) {
            EmbeddingFile e;
            e.name = name_without(path, embedding_endings());
            if (names.count(e.name)) continue;
            try {
                const CheckpointFile ck = open_checkpoint(path);
                const RawTensor* t = embedding_tensor(ck);
                if (!t) continue;
                e.vectors = t->shape.size() == 1 ? 1 : t->shape[0];
                e.width = t->shape.back();
            } catch (const Error&) {
                continue;
            }
            e.path = path;
            names.insert(e.name);
            out.push_back(std::move(e));
        }
    return out;
}

}  // namespace sdgimp::io
