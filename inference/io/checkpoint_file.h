// Opens any supported checkpoint (.safetensors, torch.save zip, legacy torch.save) by content,
// not by extension, and returns its tensors by key.
#pragma once

#include <map>
#include <string>

#include "raw_tensor.h"

namespace sdgimp::io {

struct CheckpointFile {
    std::string path;
    std::string format;   // "safetensors", "torch-zip", "torch-legacy"
    std::string wrapper;  // state_dict / params_ema / params, or ""
    TensorMap tensors;
    std::map<std::string, std::string> metadata;
    std::shared_ptr<const MappedFile> file;
};

CheckpointFile open_checkpoint(const std::string& path);
// Same, over bytes already mapped (fuzzers and tests).
CheckpointFile read_checkpoint(std::shared_ptr<const MappedFile> file);

}  // namespace sdgimp::io
