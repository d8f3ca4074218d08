// Tensors from files written by torch.save: the zip archive (torch >= 1.6) and the legacy
// stream of consecutive pickles. Both go through the restricted unpickler.
#pragma once

#include <string>

#include "raw_tensor.h"

namespace sdgimp::io {

struct PickleCheckpoint {
    TensorMap tensors;        // after unwrapping state_dict / params_ema / params
    std::string wrapper;      // which wrapper key held them ("" = top level)
    std::string container;    // "zip" or "legacy"
};

PickleCheckpoint read_torch_zip(std::shared_ptr<const MappedFile> file);
PickleCheckpoint read_torch_legacy(std::shared_ptr<const MappedFile> file);

// True when the file starts with the legacy magic-number pickle.
bool looks_like_torch_legacy(const MappedFile& file);

}  // namespace sdgimp::io
