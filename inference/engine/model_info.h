// What `gimp-diffusion-cli info` and the model picker show about a checkpoint file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "../model_config.h"

namespace sdgimp {

struct ModelInfo {
    std::string path, format;
    ModelConfig config;
    std::vector<std::string> missing_keys, unexpected_keys, mismatched_keys;
    int tensors = 0;
    std::string hash_old, hash_new, sha256;
};

// Opens the file, works out its config and builds the module tree to check every key.
ModelInfo inspect_model(const std::string& path, std::optional<Prediction> prediction = std::nullopt,
                        bool with_hashes = true);

std::string model_info_json(const ModelInfo& info);

// Sets LibTorch's intra-op threads to the machine's cores (Debian's build defaults to 1) and, when
// asked to, keeps freed tensor memory in the process (host_memory.h).
void init_torch_threads();

}  // namespace sdgimp
