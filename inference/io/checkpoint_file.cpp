#include "checkpoint_file.h"

#include <algorithm>

#include "../status.h"
#include "safetensors_reader.h"
#include "torch_pickle_checkpoint.h"
#include "zip_reader.h"

namespace sdgimp::io {

CheckpointFile read_checkpoint(std::shared_ptr<const MappedFile> file) {
    CheckpointFile out;
    out.path = file->path();
    out.file = file;
    if (looks_like_safetensors(*file)) {
        SafetensorsFile st = read_safetensors(file);
        out.format = "safetensors";
        out.tensors = std::move(st.tensors);
        out.metadata = std::move(st.metadata);
    } else if (ZipReader::looks_like_zip(*file)) {
        PickleCheckpoint pc = read_torch_zip(file);
        out.format = "torch-zip";
        out.wrapper = pc.wrapper;
        out.tensors = std::move(pc.tensors);
    } else if (looks_like_torch_legacy(*file)) {
        PickleCheckpoint pc = read_torch_legacy(file);
        out.format = "torch-legacy";
        out.wrapper = pc.wrapper;
        out.tensors = std::move(pc.tensors);
    } else if (file->size() >= 8) {
        // Let the safetensors reader explain what is wrong with a damaged header.
        (void)read_safetensors(file);
        throw_bad_file(file->path(), "is not a .safetensors, .ckpt or .pth model file.");
    } else {
        throw_bad_file(file->path(), "is too short to be a model file (truncated download?).");
    }
    // DataParallel training saves every key under "module.".
    if (!out.tensors.empty() && std::all_of(out.tensors.begin(), out.tensors.end(),
                                            [](const auto& kv) { return kv.first.rfind("module.", 0) == 0; })) {
        TensorMap stripped;
        for (auto& kv : out.tensors) stripped[kv.first.substr(7)] = std::move(kv.second);
        out.tensors = std::move(stripped);
    }
    return out;
}

CheckpointFile open_checkpoint(const std::string& path) { return read_checkpoint(MappedFile::open(path)); }

}  // namespace sdgimp::io
